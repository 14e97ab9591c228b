"""docker/megatts3/nginx.conf in front of the real service: streaming passes unbuffered, uploads go
through, the body limit matches the service's, the client's request id travels on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from megatts3_server.app import create_app
from tests.support.nginx import running_nginx
from tests.support.server import ServerProcess
from tests.support.standins import ToneEngine, served_in_thread, tone_settings

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "docker" / "megatts3" / "nginx.conf"
REPLICAS_CONFIG = REPO / "docker" / "megatts3" / "nginx-replicas.conf"


@pytest.fixture(scope="module")
def proxy(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The shipped file, with only the addresses and the writable paths of a container swapped for ours.
    with running_nginx(CONFIG, tmp_path_factory.mktemp("nginx"), [server.port]) as nginx:
        yield nginx.base_url


def test_streamed_synthesis_arrives_in_pieces_through_the_proxy(proxy: str) -> None:
    text = "通过代理的流式合成。第一句话说完了。第二句话也说完了。第三句话是最后一句。" * 2
    body = {"text": text, "voice_id": "voice_001", "format": "pcm", "stream": True}
    arrivals = []
    started = time.perf_counter()
    with httpx.stream("POST", f"{proxy}/api/v1/tts/synthesize", json=body, timeout=120) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            arrivals.append((time.perf_counter() - started, len(chunk)))
    total = time.perf_counter() - started
    assert len(arrivals) > 2
    # Unbuffered: the first audio reaches the client well before the last.
    assert arrivals[0][0] < 0.5 * total, arrivals


def test_upload_and_request_id_go_through(proxy: str, reference_wav: bytes) -> None:
    files = {"voice_file": ("ref.wav", reference_wav, "audio/wav")}
    headers = {"X-Request-ID": "via-nginx-1"}
    with httpx.Client(base_url=proxy, timeout=120) as client:
        response = client.post("/api/v1/voices/upload", files=files, data={"voice_id": "via_nginx"}, headers=headers)
        assert response.status_code == 201, response.text
        assert response.headers["X-Request-ID"] == "via-nginx-1"
        assert client.delete("/api/v1/voices/via_nginx").status_code == 200


def test_body_over_the_limit_is_refused_by_the_proxy(proxy: str) -> None:
    too_big = b"\0" * (61 * 1024 * 1024)
    response = httpx.post(f"{proxy}/api/v1/voices/upload", content=too_big, timeout=60)
    assert response.status_code == 413


@pytest.mark.parametrize("config", [CONFIG, REPLICAS_CONFIG], ids=lambda path: path.name)
def test_a_client_cannot_name_its_address_through_the_proxy(config: Path, tmp_path: Path) -> None:
    """The service trusts nginx's X-Forwarded-For (as the compose files configure it) and a trusted
    network; nginx replaces what the client sent, so a claim to come from that network buys nothing."""
    api = {"auth": {"api_keys": ["k"]}, "trusted_networks": ["10.0.0.0/8"], "forwarded_allow_ips": "127.0.0.1"}
    app = create_app(tone_settings(tmp_path / "service", api=api), engine=ToneEngine())
    claim = {"X-Forwarded-For": "10.1.2.3", "X-Real-IP": "10.1.2.3"}
    with served_in_thread(app) as base_url:
        upstream = [int(base_url.rsplit(":", 1)[1])]
        with running_nginx(config, tmp_path / "nginx", upstream) as nginx:
            voices = f"{nginx.base_url}/api/v1/voices"
            refused = httpx.get(voices, headers=claim, timeout=30)
            assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthorized")
            assert httpx.get(voices, headers={**claim, "Authorization": "Bearer k"}, timeout=30).status_code == 200
