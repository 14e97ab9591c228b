"""The command line: say (through a server and in process), voices, healthcheck, --help."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from megatts3_server.cli import app
from tests.support.audio import decode
from tests.support.server import ServerProcess, free_port, running_server, write_configs

runner = CliRunner()


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), input=input, env={"MEGATTS3_API_KEY": None, **(env or {})})


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("keyed"), model_cache, api={"auth": {"api_keys": ["cli-key"]}}
    ) as server:
        yield server


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command under ``command`` (typer's own click objects), by its path of names."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_help_explains_every_command_and_option() -> None:
    commands = dict(_commands(typer.main.get_command(app)))
    assert {("say",), ("healthcheck",), ("voices", "upload"), ("voices", "delete"), ("serve",)} <= set(commands)
    for path, command in commands.items():
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert command.help or command.short_help, path
        for param in command.params:
            assert getattr(param, "help", None), (path, param.name)
            if param.param_type_name == "option":
                assert param.opts[0] in result.stdout, (path, param.opts[0])


def test_say_through_the_server(server: ServerProcess, tmp_path: Path) -> None:
    wav = tmp_path / "hello.wav"
    result = invoke(
        "say",
        "Hello from the command line. A second sentence.",
        "-o",
        str(wav),
        "--voice",
        "voice_005",
        "--speed",
        "1.2",
        "--url",
        server.base_url,
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {wav}" in result.stdout and "voice_005" in result.stdout
    samples, rate = decode(wav.read_bytes())
    assert len(samples) / rate > 1.0

    mp3 = tmp_path / "from_stdin.mp3"  # the format comes from the suffix, the text from stdin
    result = invoke("say", "-", "-o", str(mp3), "--url", server.base_url, input="读自标准输入的文字。")
    assert result.exit_code == 0, result.output
    assert ", mp3," in result.stdout
    assert mp3.read_bytes()[:3] == b"ID3" or mp3.read_bytes()[:2] in (b"\xff\xfb", b"\xff\xf3")
    assert decode(mp3.read_bytes())[0].size > 0

    raw = tmp_path / "speech.bin"
    result = invoke("say", "Raw PCM.", "-o", str(raw), "--format", "pcm", "--url", server.base_url)
    assert result.exit_code == 0, result.output
    assert len(raw.read_bytes()) > 24000  # over half a second of 24 kHz s16le


def test_say_reports_errors_without_leaving_files(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    missing = invoke("say", "Hello.", "-o", str(out), "--voice", "no_such_voice", "--url", server.base_url)
    assert missing.exit_code == 1
    assert "404 voice_not_found" in missing.stderr
    dead = invoke("say", "Hello.", "-o", str(out), "--url", f"http://127.0.0.1:{free_port()}")
    assert dead.exit_code == 1 and "connection_error" in dead.stderr
    assert list(tmp_path.iterdir()) == []

    too_fast = invoke("say", "Hello.", "-o", str(out), "--speed", "5", "--url", server.base_url)
    assert too_fast.exit_code == 2 and "--speed" in too_fast.output
    both = invoke("say", "Hello.", "-o", str(out), "--in-process", "--url", server.base_url)
    assert both.exit_code == 2 and "--url" in both.output


def test_say_in_process(tmp_path: Path, model_cache: Path) -> None:
    model_config, api_config = write_configs(tmp_path / "config", storage=tmp_path / "storage", cache=model_cache)
    out = tmp_path / "local.wav"
    command = [
        sys.executable,
        "-m",
        "megatts3_server",
        "say",
        "-",
        "-o",
        str(out),
        "--voice",
        "voice_002",
        "--in-process",
        "--config",
        str(api_config),
        "--model-config",
        str(model_config),
    ]
    done = subprocess.run(
        command, input="进程内合成，不需要服务。", capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout and "voice_002" in done.stdout
    samples, rate = decode(out.read_bytes())
    assert rate == 24000 and len(samples) / rate > 1.0


def test_voices_commands(server: ServerProcess, reference_wav: bytes, tmp_path: Path) -> None:
    url = ("--url", server.base_url)
    recording = tmp_path / "narrator.wav"
    recording.write_bytes(reference_wav)

    uploaded = invoke("voices", "upload", "ops_cli_voice", str(recording), "-d", "CLI narrator", *url)
    assert uploaded.exit_code == 0, uploaded.output
    assert "stored voice ops_cli_voice (ready)" in uploaded.stdout

    table = invoke("voices", "list", *url)
    assert table.exit_code == 0 and "ops_cli_voice" in table.stdout and "voice_001" in table.stdout
    listed = json.loads(invoke("voices", "list", "--json", *url).stdout)
    assert {"ops_cli_voice", "voice_005"} <= {voice["id"] for voice in listed}

    shown = invoke("voices", "show", "ops_cli_voice", *url)
    assert shown.exit_code == 0
    assert "id: ops_cli_voice" in shown.stdout and "description: CLI narrator" in shown.stdout
    assert json.loads(invoke("voices", "show", "ops_cli_voice", "--json", *url).stdout)["type"] == "uploaded"

    kept = invoke("voices", "delete", "ops_cli_voice", *url, input="n\n")
    assert kept.exit_code == 1 and invoke("voices", "show", "ops_cli_voice", *url).exit_code == 0
    deleted = invoke("voices", "delete", "ops_cli_voice", "--yes", *url)
    assert deleted.exit_code == 0 and "deleted voice ops_cli_voice" in deleted.stdout

    gone = invoke("voices", "show", "ops_cli_voice", *url)
    assert gone.exit_code == 1 and "404 voice_not_found" in gone.stderr
    builtin = invoke("voices", "delete", "voice_001", "--yes", *url)
    assert builtin.exit_code == 1 and "voice_read_only" in builtin.stderr


def test_healthcheck(server: ServerProcess) -> None:
    up = invoke("healthcheck", "--url", server.base_url)
    assert up.exit_code == 0, up.output
    assert "status: healthy" in up.stdout and "model_loaded: true" in up.stdout and "queue.depth:" in up.stdout
    figures = json.loads(invoke("healthcheck", "--json", "--url", server.base_url).stdout)
    assert figures["model_loaded"] is True

    down = invoke("healthcheck", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert down.exit_code == 1
    assert "status: down" in down.stdout and "connection_error" in down.stdout


def test_api_key_from_option_or_environment(keyed: ServerProcess) -> None:
    url = ("--url", keyed.base_url)
    refused = invoke("voices", "list", *url)
    assert refused.exit_code == 1 and "401 unauthorized" in refused.stderr
    assert invoke("voices", "list", "--api-key", "cli-key", *url).exit_code == 0
    assert invoke("voices", "list", *url, env={"MEGATTS3_API_KEY": "cli-key"}).exit_code == 0
    assert invoke("healthcheck", *url).exit_code == 0  # /health needs no key


def test_client_commands_find_the_service_from_the_environment(server: ServerProcess) -> None:
    """--url, else MEGATTS3_URL, else the port the service is configured with (MEGATTS3_PORT here)."""
    by_port = invoke("healthcheck", env={"MEGATTS3_PORT": str(server.port)})
    assert by_port.exit_code == 0, by_port.output
    by_url = invoke("voices", "list", "--json", env={"MEGATTS3_URL": server.base_url})
    assert by_url.exit_code == 0, by_url.output
    assert "voice_001" in by_url.stdout
    nowhere = f"http://127.0.0.1:{free_port()}"
    assert invoke("healthcheck", "--url", server.base_url, env={"MEGATTS3_URL": nowhere}).exit_code == 0
    down = invoke("healthcheck", "--timeout", "2", env={"MEGATTS3_URL": nowhere})
    assert down.exit_code == 1 and "status: down" in down.stdout
