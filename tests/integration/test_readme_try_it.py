"""The README's "Try it" runs as written: every command exits 0 and every file it writes is real audio.

Its bash blocks run in bash, in an empty folder standing for a fresh clone's, against the real service
(``localhost:9000`` becomes the test server's address, and ``.venv/bin/megatts3-server`` is this
checkout's command line); its python blocks run in this interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import srt

from tests.support.audio import decode
from tests.support.server import REPO_ROOT, ServerProcess

README = REPO_ROOT / "README.md"
SECTION = "## Try it"
README_URL = "http://localhost:9000"
AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg", ".opus", ".aac"}
# What a written file is named by: curl's -o, the CLI's -o and --srt, the SDK's write_to_file.
_OUTPUT = re.compile(r"""(?:-o |--srt |write_to_file\(["'])([\w.-]+)""")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# A safety bound for a loaded machine, not a speed test.
_RUN_LIMIT_SECONDS = 1800


def try_it_blocks(language: str) -> list[str]:
    """The fenced ``language`` blocks of the README's "Try it" section, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end >= 0 else len(text)]
    return [body for lang, body in _FENCE.findall(section) if lang == language]


def _pointed_at(block: str, server: ServerProcess) -> str:
    assert README_URL in block, f"the Try-it block no longer calls {README_URL}: update this test"
    return block.replace(README_URL, server.base_url)


def _assert_real_audio(path: Path) -> None:
    samples, rate = decode(path.read_bytes())
    seconds = len(samples) / rate
    assert seconds > 0.5, f"{path.name}: only {seconds:.2f} s of audio"
    assert float(np.sqrt(np.mean(samples**2))) > 0.01, f"{path.name} is silent"


def _written_files(block: str, folder: Path) -> list[Path]:
    names = _OUTPUT.findall(block)
    assert names, "the block writes no file"
    return [folder / name for name in names]


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    """An empty folder with the command line where `make serve` puts it."""
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    command = bin_dir / "megatts3-server"
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m megatts3_server "$@"\n')
    command.chmod(0o755)
    return tmp_path


@pytest.fixture
def forgets_the_voice(client: httpx.Client):
    """The session's server is shared: the voice the block uploads is gone after it, even if it fails."""
    yield
    client.delete("/api/v1/voices/narrator")


@pytest.mark.slow
@pytest.mark.usefixtures("forgets_the_voice")
def test_try_it_shell_commands_run_as_written(server: ServerProcess, fresh_clone: Path) -> None:
    blocks = try_it_blocks("bash")
    assert blocks, f"{README.name} has no bash block under {SECTION!r}"
    for block in blocks:
        script = _pointed_at(block, server)
        # curl exits 0 on an HTTP error; --fail-with-body makes a refused request fail the run (and
        # still shows the error's JSON) without changing what a successful command does.
        strict = 'set -euo pipefail\ncurl() { command curl --fail-with-body --silent --show-error "$@"; }\n'
        ran = subprocess.run(
            ["bash", "-x", "-c", strict + script],
            cwd=fresh_clone,
            # The CLI finds the service as it does from a clone's folder beside `make serve`.
            env={**os.environ, "MEGATTS3_URL": server.base_url},
            capture_output=True,
            text=True,
            timeout=_RUN_LIMIT_SECONDS,
        )
        assert ran.returncode == 0, f"exit {ran.returncode}\n{ran.stderr[-4000:]}\n{ran.stdout[-2000:]}"
        for path in _written_files(block, fresh_clone):
            assert path.is_file(), f"{path.name} was not written"
            if path.suffix in AUDIO_SUFFIXES:
                _assert_real_audio(path)
            elif path.suffix == ".srt":
                assert list(srt.parse(path.read_text(encoding="utf-8"))), f"{path.name} has no cues"


@pytest.mark.slow
def test_try_it_python_runs_as_written(server: ServerProcess, tmp_path: Path) -> None:
    pytest.importorskip("openai")
    blocks = try_it_blocks("python")
    assert blocks, f"{README.name} has no python block under {SECTION!r}"
    for block in blocks:
        ran = subprocess.run(
            [sys.executable, "-c", _pointed_at(block, server)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=_RUN_LIMIT_SECONDS,
        )
        assert ran.returncode == 0, ran.stderr[-4000:]
        for path in _written_files(block, tmp_path):
            _assert_real_audio(path)
