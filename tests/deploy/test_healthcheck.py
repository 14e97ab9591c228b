"""scripts/healthcheck.sh against a running and a stopped service."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from megatts3_server.client import MegaTTS3Client, MegaTTS3Error, MegaTTS3TimeoutError
from tests.support.server import ServerProcess, free_port, write_configs

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "healthcheck.sh"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_running_service_is_healthy(server: ServerProcess, tmp_path: Path) -> None:
    result = _run("-u", server.base_url, "-s", str(tmp_path), "-t", "100")
    assert result.returncode == 0, result.stdout
    assert "OK   HTTP 200" in result.stdout
    assert '"model_loaded":true' in result.stdout
    assert "GPU" in result.stdout and ("no NVIDIA GPU" in result.stdout or "MiB" in result.stdout)
    assert "disk" in result.stdout


def test_stopped_service_fails(tmp_path: Path) -> None:
    result = _run("-u", f"http://127.0.0.1:{free_port()}", "-s", str(tmp_path))
    assert result.returncode == 1
    assert "FAIL the service does not answer" in result.stdout


def test_disk_over_the_threshold_warns(server: ServerProcess, tmp_path: Path) -> None:
    result = _run("-u", server.base_url, "-s", str(tmp_path), "-t", "0")
    assert result.returncode == 2
    assert "WARN disk" in result.stdout and "over 0%" in result.stdout


def test_a_service_whose_engine_failed_to_load_is_reported_unhealthy(tmp_path: Path, model_cache: Path) -> None:
    """/health answers 503 (with its JSON) when the engine cannot synthesize: the script fails and says why."""
    # Every file the start-up check looks for is there, but none holds weights: the load fails.
    root = tmp_path / "broken-checkpoints"
    for name in ("aligner_lm", "duration_lm", "diffusion_transformer", "wavvae"):
        (root / name).mkdir(parents=True)
        (root / name / "config.yaml").write_text("{}\n")
        (root / name / "model_only_last.ckpt").write_bytes(b"not a checkpoint")
    (root / "g2p").mkdir()
    (root / "g2p" / "config.json").write_text("{}")
    model = {
        "engine": "megatts3",
        "megatts3": {"checkpoint_dir": str(root)},
        "vocoder": {"checkpoint_path": str(root / "wavvae")},
        "inference": {"device": "cpu", "precision": "fp32"},
    }
    model_config, api_config = write_configs(
        tmp_path / "config", storage=tmp_path / "storage", cache=model_cache, model=model
    )
    server = ServerProcess(model_config, api_config).start(until_loaded=False)
    try:
        deadline = time.monotonic() + 120
        while httpx.get(f"{server.base_url}/health", timeout=5).json()["status"] == "starting":
            assert time.monotonic() < deadline, "the engine neither loaded nor failed"
            time.sleep(0.2)
        answer = httpx.get(f"{server.base_url}/health", timeout=5)
        assert answer.status_code == 503 and answer.json()["status"] == "failed"
        result = _run("-u", server.base_url, "-s", str(tmp_path), "-t", "100")
        assert result.returncode == 1, result.stdout
        assert "FAIL HTTP 503" in result.stdout and "status: failed" in result.stdout
        cli = subprocess.run(
            [sys.executable, "-m", "megatts3_server", "healthcheck", "--url", server.base_url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 1 and "failed" in cli.stdout
        with MegaTTS3Client(server.base_url) as client, pytest.raises(MegaTTS3Error) as gate:
            client.wait_until_healthy(timeout=60)
        assert gate.value.code == "engine_failed" and "engine failed to load" in gate.value.message
    finally:
        server.stop()


def test_waiting_for_a_service_that_never_comes_up_times_out() -> None:
    with MegaTTS3Client(f"http://127.0.0.1:{free_port()}") as client, pytest.raises(MegaTTS3TimeoutError) as late:
        client.wait_until_healthy(timeout=1, poll_interval=0.2)
    assert late.value.code == "not_ready" and "cannot reach" in late.value.message
