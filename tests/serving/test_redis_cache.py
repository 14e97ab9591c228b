"""The Redis cache and rate-limit backends against a real redis-server, including Redis going away."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, running_server


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


def _corrupt_count(server: ServerProcess) -> float:
    text = httpx.get(server.metrics_url, timeout=10).text
    found = re.search(r"^megatts3_cache_corrupt_entries_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("garbage", [b"not zlib at all", b"x\x9c\x03\x00\x00\x00\x00\x01"], ids=["framing", "zlib"])
def test_an_undecodable_entry_is_a_counted_miss_and_is_replaced(
    redis_backed: ServerProcess, redis_server: RedisServer, garbage: bytes
) -> None:
    body = {"text": f"坏掉的缓存条目{len(garbage)}。", "voice_id": "voice_003", "format": "wav"}
    with httpx.Client(base_url=redis_backed.base_url, timeout=60) as client:
        before = set(redis_server.keys("megatts3:*"))
        first = client.post("/api/v1/tts/synthesize", json=body)
        assert first.status_code == 200
        (key,) = [key for key in set(redis_server.keys("megatts3:*")) - before if ":tag:" not in key]
        subprocess.run(["redis-cli", "-p", str(redis_server.port), "-x", "set", key], input=garbage, check=True)
        counted = _corrupt_count(redis_backed)
        again = client.post("/api/v1/tts/synthesize", json=body)
        assert again.status_code == 200 and again.headers["X-Cache"] == "miss"
        assert again.content == first.content
        assert _corrupt_count(redis_backed) == counted + 1
        # The bad value was dropped and the fresh audio stored: the next one is a hit.
        assert client.post("/api/v1/tts/synthesize", json=body).headers["X-Cache"] == "hit"
        assert client.get("/health").json()["status"] == "healthy"


def test_health_probes_redis_instead_of_waiting_for_a_request_to_fail(
    redis_backed: ServerProcess, redis_server: RedisServer
) -> None:
    with httpx.Client(base_url=redis_backed.base_url, timeout=60) as client:
        assert client.get("/health").json()["status"] == "healthy"
        redis_server.stop()
        try:
            health = client.get("/health")  # no synthesis request in between
            assert health.status_code == 200, "speech is still served without the cache"
            body = health.json()
            assert body["status"] == "degraded" and body["cache"]["healthy"] is False
            assert any("cache" in problem for problem in body["problems"])
        finally:
            redis_server.start()
        assert client.get("/health").json()["status"] == "healthy"


def test_a_frozen_redis_does_not_hold_requests(redis_backed: ServerProcess, redis_server: RedisServer) -> None:
    """SIGSTOP: connections are accepted by the kernel, nothing answers. Every call has a timeout."""
    body = {"text": "冻住的缓存不该拖住请求。", "voice_id": "voice_004"}
    with httpx.Client(base_url=redis_backed.base_url, timeout=120) as client:
        redis_server.signal(signal.SIGSTOP)
        try:
            answer = client.post("/api/v1/tts/synthesize", json=body)
            assert answer.status_code == 200 and answer.content[:4] == b"RIFF"
            health = client.get("/health").json()
            assert health["status"] == "degraded" and health["cache"]["healthy"] is False
        finally:
            redis_server.signal(signal.SIGCONT)
        assert client.get("/health").json()["status"] == "healthy"
