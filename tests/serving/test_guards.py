"""Operational guards on a server configured like production: API keys, rate limits, body size,
request timeout, a bounded queue, metrics, request ids and the synthesis_time log line."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, running_server

# Rate limits count per API key: each test uses keys of its own so that they do not share a bucket.
KEYS = ["key-auth", "key-limit", "key-other", "key-timeout", "key-metrics", "key-awk"] + [f"key-q{n}" for n in range(4)]
LONG_TEXT = "这是一个很长的句子，用来让合成花上好几秒钟的时间，这样超时和排队才能被测到。" * 8


# 5 requests a minute and a burst of 5 share one 60-second window: the sixth charged request of a key
# within a minute is refused however fast or slow the machine runs the first five.
_GUARDS = {
    "max_request_size": "200KB",
    "auth": {"api_keys": KEYS},
    # Nothing here comes from 10/8: a request may only claim to (test_a_forged_forwarded_address_buys_nothing).
    "trusted_networks": ["10.0.0.0/8"],
    "rate_limit": {"enabled": True, "requests_per_minute": 5, "burst_size": 5},
    "scheduler": {"workers": 1, "max_queue": 2},
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("guarded"), model_cache, api=_GUARDS, model={"cache": {"enabled": False}}
    ) as server:
        yield server


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    """The same guards with a 2-second request timeout: LONG_TEXT takes far longer on any machine.

    The speech-time check is off here: it would refuse LONG_TEXT up front with 413 on a slow machine, and
    these tests are about the timeout and the queue behind it (tests/serving/test_speech_budget.py covers it).
    """
    with running_server(
        tmp_path_factory.mktemp("impatient"),
        model_cache,
        api={**_GUARDS, "timeout": 2, "check_speech_time": False},
        model={"cache": {"enabled": False}},
    ) as server:
        yield server


def _client(server: ServerProcess, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.base_url, timeout=60, headers=headers)


def test_api_key_is_required_except_for_health(guarded: ServerProcess) -> None:
    with _client(guarded) as anonymous:
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/ready").status_code == 200
        refused = anonymous.get("/api/v1/voices")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        assert anonymous.get("/api/v1/voices", headers={"Authorization": "Bearer wrong"}).status_code == 401
    with _client(guarded, "key-auth") as keyed:
        assert keyed.get("/api/v1/voices").status_code == 200


def test_a_forged_forwarded_address_buys_nothing(guarded: ServerProcess) -> None:
    """No proxy is configured (api.forwarded_allow_ips is empty by default): a local process that claims
    a trusted network's address in X-Forwarded-For still needs a key, and writes nothing."""
    claim = {"X-Forwarded-For": "10.1.2.3"}
    with _client(guarded) as anonymous:
        written = anonymous.put("/api/v1/lexicon/重庆", json={"reading": "zhong4 qing4"}, headers=claim)
        assert (written.status_code, written.json()["error"]["code"]) == (401, "unauthorized")
        assert anonymous.get("/api/v1/voices", headers={**claim, "X-Real-IP": "10.1.2.3"}).status_code == 401
    with _client(guarded, "key-auth") as keyed:
        assert keyed.get("/api/v1/lexicon").json()["entries"] == []


def test_request_id_is_echoed_or_made(guarded: ServerProcess) -> None:
    with _client(guarded) as client:
        assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
        made = client.get("/health").headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)


def test_oversize_body_is_413_before_it_is_read(guarded: ServerProcess) -> None:
    with _client(guarded, "key-auth") as client:
        big = b"\0" * 300_000
        response = client.post("/api/v1/voices/upload", files={"voice_file": ("a.wav", big)}, data={"voice_id": "x"})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

        def chunked() -> Iterator[bytes]:  # no Content-Length: the limit is counted as the body arrives
            for _ in range(30):
                yield b"x" * 10_000

        response = client.post(
            "/api/v1/tts/synthesize", content=chunked(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413


def test_timeout_answers_504_and_frees_the_slot(impatient: ServerProcess) -> None:
    with _client(impatient, "key-timeout") as client:
        response = client.post("/api/v1/tts/synthesize", json={"text": LONG_TEXT, "voice_id": "voice_001"})
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "synthesis_timeout"
        # The cancelled work gives its slot back (a safety bound only: it is freed within one engine call).
        deadline = time.perf_counter() + 120
        while client.get("/health").json()["queue"]["depth"] and time.perf_counter() < deadline:
            time.sleep(0.05)
        assert client.get("/health").json()["queue"]["depth"] == 0


def test_full_queue_is_503_with_retry_after(impatient: ServerProcess) -> None:
    statuses: list[int] = []
    retry_after: list[str] = []

    def send(number: int) -> None:
        with _client(impatient, f"key-q{number}") as client:
            response = client.post("/api/v1/tts/synthesize", json={"text": LONG_TEXT, "voice_id": "voice_001"})
            statuses.append(response.status_code)
            if response.status_code == 503:
                retry_after.append(response.headers.get("Retry-After", ""))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(503) >= 1, statuses
    assert all(value.isdigit() and int(value) >= 1 for value in retry_after)
    assert set(statuses) <= {503, 504}


def test_burst_then_429_with_retry_after(guarded: ServerProcess) -> None:
    def say(client: httpx.Client, **headers: str) -> httpx.Response:
        return client.post("/api/v1/tts/synthesize", json={"text": "一。", "voice_id": "voice_001"}, headers=headers)

    with _client(guarded, "key-limit") as client:
        statuses = [say(client).status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        refused = say(client)
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "rate_limited"
        # Listing voices is not work: it is never refused for the budget.
        assert client.get("/api/v1/voices").status_code == 200
        # Another client (another key) has its own bucket.
        assert say(client, Authorization="Bearer key-other").status_code == 200


def test_metrics_are_served_on_their_own_port(guarded: ServerProcess) -> None:
    with _client(guarded, "key-metrics") as client:
        client.post("/api/v1/tts/synthesize", json={"text": "指标。", "voice_id": "voice_001"}).raise_for_status()
    text = httpx.get(guarded.metrics_url, timeout=10).text
    for name in (
        "megatts3_synthesis_latency_seconds_bucket",
        "megatts3_requests_total",
        "megatts3_audio_seconds_total",
        "megatts3_real_time_factor_bucket",
        "megatts3_queue_depth",
        "megatts3_cache_hit_ratio",
        "megatts3_errors_total",
        "process_resident_memory_bytes",
    ):
        assert name in text, name
    assert re.search(r'megatts3_errors_total\{code="unauthorized"\} [1-9]', text)
    assert re.search(r"megatts3_syntheses_total\{mode=\"whole\"\} [1-9]", text)


def test_the_guides_awk_one_liner_prints_the_true_mean(guarded: ServerProcess) -> None:
    times = []
    with _client(guarded, "key-awk") as client:
        for text in ("第一句。", "第二句稍微长一点。", "Third one."):
            response = client.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": "voice_002"})
            times.append(float(response.headers["X-Synthesis-Time"]))
    log = guarded.log_file
    lines = [line for line in log.read_text().splitlines() if "synthesis_time" in line]
    logged = [float(line.split()[3]) for line in lines]
    command = f'grep "synthesis_time" {log} | awk \'{{sum+=$4; count++}} END {{print "mean:", sum/count}}\''
    printed = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout
    assert printed.startswith("mean:")
    assert float(printed.split()[1]) == pytest.approx(sum(logged) / len(logged), abs=1e-3)
    assert all(any(abs(t - value) < 0.05 for value in logged) for t in times)
    assert all("request_id=" in line for line in lines)
