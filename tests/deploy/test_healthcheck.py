"""scripts/healthcheck.sh against a running and a stopped service."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.server import ServerProcess, free_port

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
