"""kill -9 of a real server in the middle of a long-form job: after the restart the job finishes, and
the segments finished before the kill are not synthesized again (the restarted server's counters)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.audio import decode
from tests.support.server import ServerProcess, job_segment_counts, write_configs

PARAGRAPHS = [f"This is paragraph number {n} of the chapter, read aloud." for n in range(1, 11)]


def _job(server: ServerProcess, job_id: str) -> dict[str, Any]:
    return httpx.get(f"{server.base_url}/api/v1/tts/jobs/{job_id}", timeout=30).json()


@pytest.mark.slow
def test_a_job_cut_by_kill_9_finishes_after_the_restart_without_redoing_its_finished_segments(
    tmp_path: Path, model_cache: Path
) -> None:
    model_config, api_config = write_configs(tmp_path, storage=tmp_path / "storage", cache=model_cache)
    first = ServerProcess(model_config, api_config).start()
    try:
        body = {"text": "\n".join(PARAGRAPHS), "voice_id": "voice_005", "format": "wav"}
        job_id = httpx.post(f"{first.base_url}/api/v1/tts/jobs", json=body, timeout=60).json()["id"]
        deadline = time.monotonic() + 300
        while _job(first, job_id)["segments_done"] < 3:
            assert time.monotonic() < deadline, _job(first, job_id)
            time.sleep(0.1)
        assert first.process is not None
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    finally:
        first.stop()
    second = ServerProcess(model_config, api_config).start()
    try:
        done_before = _job(second, job_id)["segments_done"]
        assert 3 <= done_before < len(PARAGRAPHS), "the kill came in the middle of the job"
        deadline = time.monotonic() + 300
        while (job := _job(second, job_id))["status"] not in ("done", "failed", "cancelled"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["status"] == "done" and job["segments_done"] == len(PARAGRAPHS)
        counted = job_segment_counts(second)
        # A segment stored in the instant before the kill, but not yet recorded, is found by its content.
        assert counted["synthesized"] + counted["reused"] == len(PARAGRAPHS) - done_before
        assert counted["reused"] <= 1 and counted["failed"] == 0
        stamps = httpx.get(f"{second.base_url}/api/v1/tts/jobs/{job_id}/timestamps", timeout=30).json()
        assert [segment["text"] for segment in stamps["segments"]] == PARAGRAPHS
        audio, rate = decode(httpx.get(f"{second.base_url}/api/v1/tts/jobs/{job_id}/audio", timeout=60).content)
        assert len(audio) / rate == pytest.approx(stamps["duration"], abs=0.01)
    finally:
        second.stop()
