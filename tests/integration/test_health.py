"""GET /health reports the seed's fields with real figures."""

import re

import httpx
import psutil


def test_health_reports_loaded_model_and_real_memory(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == "1.0.0"
    assert body["model_loaded"] is True
    assert body["gpu_available"] is False  # CI and dev machines have no GPU
    memory = body["memory_usage"]
    for key in ("total", "used", "free"):
        assert re.fullmatch(r"\d+\.\dGB|\d+\.\dMB", memory[key]), memory
    total_gb = float(memory["total"].removesuffix("GB"))
    assert abs(total_gb - psutil.virtual_memory().total / 1e9) < 0.2
    assert body["engine"]["sample_rate"] == 24000


def test_unknown_path_is_a_json_404(client: httpx.Client) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_a_json_405(client: httpx.Client) -> None:
    response = client.get("/api/v1/tts/synthesize")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
