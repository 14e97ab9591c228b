"""Three real replicas sharing PostgreSQL and Redis behind docker/megatts3/nginx-replicas.conf: a
voice uploaded through nginx is served by every replica, and kill -9 of one replica under load
loses no request (nginx retries those that got no answer) and no stored voice."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serving.test_redis_cache import RedisServer
from tests.support.audio import decode
from tests.support.postgres import PostgresServer
from tests.support.reference_clips import real_speech_wav
from tests.support.server import ServerProcess, free_port, write_configs

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "docker" / "megatts3" / "nginx-replicas.conf"
CLIENTS, REQUESTS_EACH = 6, 20


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("replicas-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, postgres_server: PostgresServer, redis: RedisServer
) -> Iterator[list[ServerProcess]]:
    database = postgres_server.create_database()
    folder = tmp_path_factory.mktemp("replicas")
    servers = []
    for number in range(3):
        model_config, api_config = write_configs(
            folder / f"replica-{number}",
            storage=folder / f"replica-{number}" / "storage",
            cache=model_cache,
            api={"scheduler": {"workers": 1}, "rate_limit": {"enabled": False}},
            model={"cache": {"enabled": True, "backend": "redis", "redis": {"url": redis.url}}},
            storage_extra={"backend": "postgres", "database_url": database},
        )
        servers.append(ServerProcess(model_config, api_config))
    started = []
    try:
        with ThreadPoolExecutor(3) as pool:
            started = list(pool.map(lambda server: server.start(), servers))
        yield started
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def balancer(replicas: list[ServerProcess], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.fail("nginx is not installed (apt-get install nginx-light; .ci/run does it)")
    folder = tmp_path_factory.mktemp("nginx-replicas")
    port = free_port()
    text = CONFIG.read_text()
    for number, server in enumerate(replicas, start=1):
        text = text.replace(f"server megatts3-{number}:9000", f"server 127.0.0.1:{server.port}")
    text = (
        text.replace("listen 80;", f"listen 127.0.0.1:{port};")
        .replace("/tmp/", f"{folder}/")
        .replace("access_log /dev/stdout", f"access_log {folder}/access.log")
        .replace("error_log /dev/stderr", f"error_log {folder}/error.log")
    )
    config = folder / "nginx.conf"
    config.write_text(text)
    process = subprocess.Popen([binary, "-c", str(config), "-p", str(folder), "-g", "daemon off;"])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base, folder / "access.log"
    process.terminate()
    process.wait(timeout=10)


def _voices(url: str) -> list[tuple[str, str]]:
    listed = httpx.get(f"{url}/api/v1/voices", timeout=30).json()["voices"]
    return sorted((voice["id"], voice["status"]) for voice in listed if voice["type"] == "uploaded")


def test_a_voice_uploaded_through_nginx_speaks_through_every_replica(
    balancer: tuple[str, Path], replicas: list[ServerProcess]
) -> None:
    base, _ = balancer
    files = {"voice_file": ("ref.wav", real_speech_wav(), "audio/wav")}
    upload = httpx.post(f"{base}/api/v1/voices/upload", data={"voice_id": "everywhere"}, files=files, timeout=120)
    assert upload.status_code == 201, upload.text
    for server in replicas:
        assert ("everywhere", "ready") in _voices(server.base_url)
        spoken = httpx.post(
            f"{server.base_url}/api/v1/tts/synthesize",
            json={"text": "每个副本都能说。", "voice_id": "everywhere"},
            timeout=120,
        )
        assert spoken.status_code == 200 and spoken.content[:4] == b"RIFF"


def test_kill_9_of_a_replica_under_load_loses_no_request_and_no_voice(
    balancer: tuple[str, Path], replicas: list[ServerProcess]
) -> None:
    base, access_log = balancer
    before = _voices(base)
    outcomes: list[tuple[int, float]] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(base_url=base, timeout=300) as http:
            for request in range(REQUESTS_EACH):
                # Unique text: never a cache hit, always real work.
                body = {"text": f"第{number}号客户的第{request}句话。", "voice_id": "voice_001"}
                answer = http.post("/api/v1/tts/synthesize", json=body)
                seconds = len(decode(answer.content)[0]) / 24_000 if answer.status_code == 200 else 0.0
                with lock:
                    outcomes.append((answer.status_code, seconds))

    victim = replicas[2]
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client, number) for number in range(CLIENTS)]
        while len(outcomes) < CLIENTS * REQUESTS_EACH // 4:  # a quarter done: the load is in full swing
            time.sleep(0.05)
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        for future in futures:
            future.result()
    statuses = [status for status, _ in outcomes]
    assert statuses == [200] * (CLIENTS * REQUESTS_EACH), {code: statuses.count(code) for code in set(statuses)}
    assert all(seconds > 0.3 for _, seconds in outcomes), "every answer is a complete WAV of speech"
    assert _voices(base) == before
    for server in replicas[:2]:
        assert _voices(server.base_url) == before
    log = access_log.read_text()
    retried = len(re.findall(r"upstream=\S+, ", log))
    print(f"\n{CLIENTS * REQUESTS_EACH} requests, 0 errors, {retried} retried on another replica by nginx")
