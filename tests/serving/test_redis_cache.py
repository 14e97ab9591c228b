"""The Redis cache and rate-limit backends against a real redis-server, including Redis going away."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, free_port, running_server


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ping = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True)
            if ping.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def keys(self, pattern: str) -> list[str]:
        out = subprocess.run(["redis-cli", "-p", str(self.port), "--scan", "--pattern", pattern], capture_output=True)
        return out.stdout.decode().split()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_backed(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, redis_server: RedisServer
) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("redis-backed"),
        model_cache,
        model={"cache": {"enabled": True, "backend": "redis", "ttl": 600, "redis": {"url": redis_server.url}}},
        api={
            "rate_limit": {"enabled": True, "requests_per_minute": 600, "burst_size": 100, "storage": redis_server.url}
        },
    ) as server:
        yield server


def test_hits_come_from_redis_with_identical_bytes(redis_backed: ServerProcess, redis_server: RedisServer) -> None:
    body = {"text": "Redis缓存测试。", "voice_id": "voice_001", "format": "flac"}
    with httpx.Client(base_url=redis_backed.base_url, timeout=60) as client:
        first = client.post("/api/v1/tts/synthesize", json=body)
        second = client.post("/api/v1/tts/synthesize", json=body)
        assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
        assert first.content == second.content
        assert client.get("/health").json()["cache"] == {"backend": "redis", "healthy": True}
    keys = redis_server.keys("megatts3:*")
    assert any(key.startswith("megatts3:tag:voice_001") for key in keys)
    assert len([key for key in keys if ":tag:" not in key]) >= 1


def test_service_keeps_serving_when_redis_stops(redis_backed: ServerProcess, redis_server: RedisServer) -> None:
    body = {"text": "Redis停了以后继续服务。", "voice_id": "voice_002"}
    with httpx.Client(base_url=redis_backed.base_url, timeout=60) as client:
        redis_server.stop()
        try:
            for _ in range(2):
                response = client.post("/api/v1/tts/synthesize", json=body)
                assert response.status_code == 200
                assert response.headers["X-Cache"] == "miss"
            cache = client.get("/health").json()["cache"]
            assert cache["healthy"] is False and "redis unreachable" in cache["error"]
        finally:
            redis_server.start()
        time.sleep(5.5)  # the back-off before Redis is tried again
        client.post("/api/v1/tts/synthesize", json=body)
        assert client.post("/api/v1/tts/synthesize", json=body).headers["X-Cache"] == "hit"
        assert client.get("/health").json()["cache"]["healthy"] is True
