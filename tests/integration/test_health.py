"""GET /health reports the integration guide's fields with real figures."""

import re

import httpx
import psutil

from megatts3_server.gpu import gpu_stats


def test_health_reports_loaded_model_and_real_memory(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == "1.0.0"
    assert body["model_loaded"] is True
    # What NVML sees on this machine (none on CI; a GPU host reports its first GPU's memory).
    gpus = gpu_stats()
    assert body["gpu_available"] is bool(gpus)
    assert ("gpu_memory" in body) is bool(gpus)
    memory = body["memory_usage"]
    for key in ("total", "used", "free"):
        assert re.fullmatch(r"\d+\.\dGB|\d+\.\dMB", memory[key]), memory
    total_gb = float(memory["total"].removesuffix("GB"))
    assert abs(total_gb - psutil.virtual_memory().total / 1e9) < 0.2
    assert body["engine"]["sample_rate"] == 24000


def test_info_names_the_model_the_engine_runs(client: httpx.Client) -> None:
    info = client.get("/api/v1/info").json()
    assert info["engine"]["name"] == "kokoro-82m-int8"
    assert info["model"] == {"name": "Kokoro-82M", "type": "styletts2", "version": "1.0"}
    # The integration guide's model keys, as configured, under their own name.
    assert info["configured_model"] == {"name": "MegaTTS3-DIT", "type": "diffusion_transformer", "version": "1.0.0"}


def test_unknown_path_is_a_json_404(client: httpx.Client) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_a_json_405(client: httpx.Client) -> None:
    response = client.get("/api/v1/tts/synthesize")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
