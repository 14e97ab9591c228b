"""A full disk under the voice store (and the job store: the same fault mapping): writes get 507 and
store nothing, reads go on, /health says so.

Two ways: in process, a write layer that raises ENOSPC (every machine); and the real service with
its storage on a tmpfs of its own (a private mount namespace, filled to the last byte with dd).
"""

from __future__ import annotations

import errno
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from megatts3_server.jobs import store as job_store_module
from megatts3_server.voices import store as store_module
from tests.support.reference_clips import real_speech_wav
from tests.support.server import ServerProcess, write_configs
from tests.support.standins import tone_app, tone_settings


def _reference() -> dict[str, tuple[str, bytes, str]]:
    return {"voice_file": ("ref.wav", real_speech_wav(), "audio/wav")}


def _no_space(*_: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_an_upload_onto_a_full_disk_is_507_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    with tone_app(tone_settings(tmp_path)) as (http, _):
        assert http.post("/api/v1/voices/upload", data={"voice_id": "kept"}, files=_reference()).status_code == 201
        listed = http.get("/api/v1/voices").json()
        monkeypatch.setattr(store_module, "fsync_write", _no_space)
        refused = http.post("/api/v1/voices/upload", data={"voice_id": "lost"}, files=_reference())
        assert refused.status_code == 507, refused.text
        assert refused.json()["error"]["code"] == "insufficient_storage"
        assert "full" in refused.json()["error"]["message"]
        assert http.get("/api/v1/voices").json() == listed
        assert http.get("/api/v1/voices/lost").status_code == 404
        leftovers = [entry.name for entry in (tmp_path / "voices").iterdir() if entry.is_dir()]
        assert leftovers == ["kept"]
        monkeypatch.undo()
        assert http.post("/api/v1/voices/upload", data={"voice_id": "lost"}, files=_reference()).status_code == 201


def test_a_job_onto_a_full_disk_is_507_and_stores_nothing(tmp_path: Path, monkeypatch) -> None:
    with tone_app(tone_settings(tmp_path)) as (http, _):
        monkeypatch.setattr(job_store_module, "write_transaction", _no_space)
        refused = http.post("/api/v1/tts/jobs", json={"text": "一。", "voice_id": "tone_low"})
        assert refused.status_code == 507, refused.text
        assert refused.json()["error"]["code"] == "insufficient_storage"
        monkeypatch.undo()
        assert http.get("/api/v1/tts/jobs").json()["jobs"] == []


def _tmpfs_wrapper(folder: Path, size: str) -> list[str]:
    """Run the server in a mount namespace of its own, ``folder`` a tmpfs of ``size`` in it."""
    script = 'mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", size, str(folder)]


def _in_namespace(server: ServerProcess, *command: str) -> None:
    assert server.process is not None
    subprocess.run(["nsenter", "-t", str(server.process.pid), "-m", *command], check=False, capture_output=True)


@pytest.fixture(scope="module")
def on_tmpfs(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[tuple[ServerProcess, Path]]:
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.fail("util-linux's unshare and nsenter are needed (Debian: util-linux)")
    folder = tmp_path_factory.mktemp("full-disk")
    storage = folder / "storage"
    storage.mkdir()
    model_config, api_config = write_configs(folder / "config", storage=storage, cache=model_cache)
    server = ServerProcess(model_config, api_config, wrapper=_tmpfs_wrapper(storage, "64m"))
    try:
        server.start()
    except RuntimeError as exc:
        if "mount" in str(exc) or "unshare" in str(exc):
            pytest.fail(f"a private tmpfs could not be mounted (needs root or user namespaces): {exc}")
        raise
    try:
        yield server, storage
    finally:
        server.stop()


def test_a_full_disk_answers_507_reads_go_on_and_health_says_so(on_tmpfs: tuple[ServerProcess, Path]) -> None:
    server, storage = on_tmpfs
    with httpx.Client(base_url=server.base_url, timeout=120) as http:
        assert http.post("/api/v1/voices/upload", data={"voice_id": "before"}, files=_reference()).status_code == 201
        assert http.get("/health").json()["status"] == "healthy"
        listed = http.get("/api/v1/voices").json()
        _in_namespace(server, "dd", "if=/dev/zero", f"of={storage}/filler", "bs=64k")
        _in_namespace(server, "dd", "if=/dev/zero", f"of={storage}/filler-tail", "bs=512")
        try:
            refused = http.post("/api/v1/voices/upload", data={"voice_id": "after"}, files=_reference())
            assert refused.status_code == 507 and refused.json()["error"]["code"] == "insufficient_storage"
            assert http.get("/api/v1/voices").json() == listed
            kept = http.delete("/api/v1/voices/before")
            assert kept.status_code in (200, 507), kept.text
            if kept.status_code == 507:  # the delete's transaction could not be written: all of it undone
                assert http.get("/api/v1/voices").json() == listed
                spoken = http.post("/api/v1/tts/synthesize", json={"text": "还在。", "voice_id": "before"})
                assert spoken.status_code == 200
            health = http.get("/health")
            assert health.status_code == 200
            body = health.json()
            assert body["status"] == "degraded"
            assert body["storage"]["free_bytes"] < 1_000_000
            assert any("storage disk" in problem for problem in body["problems"])
            assert http.post("/api/v1/tts/synthesize", json={"text": "内置声音照常说话。"}).status_code == 200
        finally:
            _in_namespace(server, "rm", "-f", f"{storage}/filler", f"{storage}/filler-tail")
        assert http.get("/health").json()["status"] == "healthy"
        again = http.post("/api/v1/voices/upload", data={"voice_id": "after"}, files=_reference())
        assert again.status_code == 201, again.text
