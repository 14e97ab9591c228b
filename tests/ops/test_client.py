"""The Python client against a real server: every method, typed errors, retries, streaming, async."""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import psutil
import pytest

from megatts3_server.client import (
    AsyncMegaTTS3Client,
    AuthenticationError,
    InvalidRequestError,
    MegaTTS3Client,
    MegaTTS3ConnectionError,
    MegaTTS3Error,
    MegaTTS3TimeoutError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
    VoiceEnrollmentError,
)
from tests.support.audio import decode
from tests.support.server import ServerProcess, free_port, running_server

KEYS = ["key-auth", "key-429-ok", "key-429-bound", "key-busy", "key-503-bound", "key-503-ok", "key-async"]
# Never spoken to the end: the stream holding the slot is closed after the first checks.
BUSY_TEXT = "这是一个很长的句子，用来让合成花上好几秒钟的时间，这样排队才能被测到。" * 10


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    """API keys, 2 syntheses at once per key (then one every 3 s: the third within 6 s is refused
    with a Retry-After of a few seconds), one synthesis at a time and no queue."""
    api = {
        "auth": {"api_keys": KEYS},
        "rate_limit": {"enabled": True, "requests_per_minute": 20, "burst_size": 2},
        "scheduler": {"workers": 1, "max_queue": 1},
    }
    with running_server(tmp_path_factory.mktemp("limited"), model_cache, api=api) as server:
        yield server


def _open_files_under(folder: Path) -> list[str]:
    return [item.path for item in psutil.Process().open_files() if item.path.startswith(str(folder))]


def _retries_logged(caplog: pytest.LogCaptureFixture, status_and_code: str) -> int:
    return sum(1 for r in caplog.records if r.name == "megatts3_server.client" and status_and_code in r.getMessage())


def test_health_check(server: ServerProcess) -> None:
    with MegaTTS3Client(server.base_url) as client:
        health = client.health_check()
        gate = client.wait_until_healthy(timeout=60)
    assert health["status"] == gate["status"] == "healthy"
    assert health["model_loaded"] is True
    assert {"version", "memory_usage", "queue"} <= set(health)


def test_synthesize_text_sends_format_and_parameters(server: ServerProcess) -> None:
    text = "The client sends every parameter."
    with MegaTTS3Client(server.base_url) as client:
        wav = client.synthesize_text(text, "voice_005")
        slow = client.synthesize_text(text, "voice_005", speed=0.6, emotion="neutral")
        mp3 = client.synthesize_text(text, "voice_005", format="mp3", pitch=1.2)
    assert wav[:4] == b"RIFF"
    normal_samples, rate = decode(wav)
    slow_samples, _ = decode(slow)
    assert len(slow_samples) > 1.4 * len(normal_samples)
    assert mp3[:3] == b"ID3" or mp3[:2] in (b"\xff\xfb", b"\xff\xf3")
    mp3_samples, mp3_rate = decode(mp3)
    assert abs(len(mp3_samples) / mp3_rate - len(normal_samples) / rate) < 0.3


def test_unknown_speech_parameter_is_refused_before_sending(server: ServerProcess) -> None:
    with MegaTTS3Client(server.base_url) as client, pytest.raises(TypeError, match="volume"):
        client.synthesize_text("Hello.", "voice_001", volume=2.0)  # type: ignore[call-arg]


def test_synthesize_with_voice_file_closes_its_files(server: ServerProcess, megatts3_fixtures: Path, tmp_path: Path):
    wav, latent = tmp_path / "reference.wav", tmp_path / "reference.npy"
    shutil.copy(megatts3_fixtures / "English_prompt.wav", wav)
    shutil.copy(megatts3_fixtures / "English_prompt.npy", latent)
    with MegaTTS3Client(server.base_url) as client:
        audio = client.synthesize_with_voice_file("One shot cloning from a file.", wav, latent, speed=1.1)
        assert _open_files_under(tmp_path) == []
        samples, rate = decode(audio)
        assert len(samples) / rate > 1.0
        with pytest.raises(InvalidRequestError) as refused:
            client.synthesize_with_voice_file("   ", str(wav))
        assert refused.value.code == "empty_text"
        assert _open_files_under(tmp_path) == []


def test_voice_lifecycle(server: ServerProcess, reference_wav: bytes, tmp_path: Path) -> None:
    path = tmp_path / "narrator.wav"
    path.write_bytes(reference_wav)
    progress: list[dict] = []
    with MegaTTS3Client(server.base_url) as client:
        stored = client.upload_voice_sample("ops_client_narrator", path, "Chapter narrator")
        assert stored["id"] == "ops_client_narrator" and stored["description"] == "Chapter narrator"
        assert _open_files_under(tmp_path) == []
        with path.open("rb") as handle:  # a caller's handle is used, and left open for the caller
            client.upload_voice_sample("ops_client_handle", handle, name="Handle")
            assert not handle.closed
        client.upload_voice_sample("ops_client_bytes", reference_wav)

        ids = {voice["id"] for voice in client.list_voices()}
        assert {"voice_001", "ops_client_narrator", "ops_client_handle", "ops_client_bytes"} <= ids
        assert client.get_voice("ops_client_handle")["name"] == "Handle"
        ready = client.wait_for_voice("ops_client_narrator", timeout=30, poll_interval=0.1, on_progress=progress.append)
        assert ready["status"] == "ready" and progress[-1]["id"] == "ops_client_narrator"
        speech = client.synthesize_text("Spoken in the uploaded voice.", "ops_client_narrator")
        assert decode(speech)[0].size > 0

        for voice_id in ("ops_client_narrator", "ops_client_handle", "ops_client_bytes"):
            assert client.delete_voice(voice_id)["deleted"] is True
        with pytest.raises(NotFoundError):
            client.get_voice("ops_client_narrator")


def test_errors_carry_the_servers_status_and_code(server: ServerProcess, reference_wav: bytes) -> None:
    with MegaTTS3Client(server.base_url) as client:
        with pytest.raises(NotFoundError) as missing:
            client.synthesize_text("Hello.", "no_such_voice")
        assert (missing.value.status, missing.value.code) == (404, "voice_not_found")
        assert "no_such_voice" in missing.value.message and missing.value.request_id
        assert isinstance(missing.value, MegaTTS3Error)

        with pytest.raises(InvalidRequestError) as read_only:
            client.delete_voice("voice_001")
        assert (read_only.value.status, read_only.value.code) == (403, "voice_read_only")

        with pytest.raises(InvalidRequestError) as bad_speed:
            client.synthesize_text("Hello.", "voice_001", speed=9.0)
        assert (bad_speed.value.status, bad_speed.value.code) == (422, "invalid_request")
        assert bad_speed.value.details

        client.upload_voice_sample("ops_client_twice", reference_wav)
        with pytest.raises(InvalidRequestError) as twice:
            client.upload_voice_sample("ops_client_twice", reference_wav)
        assert (twice.value.status, twice.value.code) == (409, "voice_exists")
        client.delete_voice("ops_client_twice")


def test_unreachable_service_and_timeouts() -> None:
    with MegaTTS3Client(f"http://127.0.0.1:{free_port()}") as dead, pytest.raises(MegaTTS3ConnectionError) as down:
        dead.health_check()
    assert down.value.status is None and down.value.code == "connection_error"

    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with MegaTTS3Client(url, timeout=0.3) as impatient, pytest.raises(MegaTTS3TimeoutError) as late:
            impatient.synthesize_text("Hello.", "voice_001")
    assert late.value.code == "timeout"


def test_stream_to_file_writes_audio_as_it_arrives(server: ServerProcess, tmp_path: Path) -> None:
    text = "First, a short sentence. Then a second one, somewhat longer than the first. And a third to end."
    written: list[int] = []
    with MegaTTS3Client(server.base_url) as client:
        saved = client.stream_to_file(text, tmp_path / "speech.wav", voice_id="voice_005", on_progress=written.append)
        mp3 = client.stream_to_file(text, tmp_path / "speech.mp3", voice_id="voice_005", speed=1.2)
        with pytest.raises(NotFoundError):
            client.stream_to_file(text, tmp_path / "missing.wav", voice_id="no_such_voice")
    data = (tmp_path / "speech.wav").read_bytes()
    assert saved.size == len(data) == written[-1]
    assert len(written) > 1 and written == sorted(written)
    assert (saved.format, saved.voice_id, saved.sample_rate) == ("wav", "voice_005", 24000)
    samples, rate = decode(data)
    assert len(samples) / rate > 3.0
    assert mp3.format == "mp3" and decode((tmp_path / "speech.mp3").read_bytes())[0].size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.mp3", "speech.wav"]


def test_the_guides_usage_example_runs_as_written(
    server: ServerProcess, megatts3_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(megatts3_fixtures / "Chinese_prompt.wav", "reference.wav")
    shutil.copy(megatts3_fixtures / "Chinese_prompt.npy", "reference.npy")

    client = MegaTTS3Client(base_url=server.base_url)
    health = client.health_check()
    print(f"服务状态: {health['status']}")
    audio_data = client.synthesize_text(
        "你好，这是MegaTTS3语音合成测试。", "voice_001", speed=1.0, pitch=1.0, emotion="neutral"
    )
    with open("output.wav", "wb") as f:
        f.write(audio_data)
    audio_data = client.synthesize_with_voice_file("这是使用自定义语音的合成测试。", "reference.wav", "reference.npy")
    with open("clone_output.wav", "wb") as f:
        f.write(audio_data)
    result = client.upload_voice_sample("ops_example_voice", "reference.wav", "示例声音")
    voices = client.list_voices()

    assert health["status"] == "healthy"
    for name in ("output.wav", "clone_output.wav"):
        samples, rate = decode(Path(name).read_bytes())
        assert len(samples) / rate > 1.0
    assert result["id"] == "ops_example_voice" and "ops_example_voice" in {voice["id"] for voice in voices}
    client.delete_voice("ops_example_voice")
    client.close()


def test_async_client(server: ServerProcess, reference_wav: bytes, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with AsyncMegaTTS3Client(server.base_url) as client:
            assert (await client.health_check())["model_loaded"] is True
            audio = await client.synthesize_text("异步客户端的测试。", "voice_003", format="flac")
            assert decode(audio)[0].size > 0
            saved = await client.stream_to_file("Streamed by the async client. Two sentences.", tmp_path / "a.ogg")
            assert saved.format == "ogg" and decode(saved.path.read_bytes())[0].size > 0
            (tmp_path / "ref.wav").write_bytes(reference_wav)
            clone = await client.synthesize_with_voice_file("One shot, async.", tmp_path / "ref.wav")
            assert decode(clone)[0].size > 0 and _open_files_under(tmp_path) == []
            await client.upload_voice_sample("ops_async_voice", reference_wav, "async")
            assert "ops_async_voice" in {voice["id"] for voice in await client.list_voices()}
            assert (await client.wait_for_voice("ops_async_voice", timeout=10))["status"] == "ready"
            assert (await client.get_voice("ops_async_voice"))["description"] == "async"
            await client.delete_voice("ops_async_voice")
            with pytest.raises(NotFoundError) as gone:
                await client.get_voice("ops_async_voice")
            assert gone.value.code == "voice_not_found"

    anyio.run(scenario)


def test_api_key_is_sent_and_a_wrong_one_is_a_typed_error(limited: ServerProcess) -> None:
    with MegaTTS3Client(limited.base_url, api_key="key-auth") as client:
        assert len(client.list_voices()) >= 5
    with MegaTTS3Client(limited.base_url, api_key="wrong") as client, pytest.raises(AuthenticationError) as refused:
        client.list_voices()
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")


def test_429_is_retried_after_retry_after(limited: ServerProcess, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="megatts3_server.client")
    started = time.monotonic()
    with MegaTTS3Client(limited.base_url, api_key="key-429-ok", retries=3) as client:
        # Only work is charged: each line is new, so each one is; a burst of 2 is allowed.
        results = [client.synthesize_text(f"第{n}行。", "voice_001") for n in range(4)]
    assert all(decode(audio)[0].size > 0 for audio in results)
    assert _retries_logged(caplog, "429 rate_limited") >= 1
    assert time.monotonic() - started >= 1.0  # the Retry-After (at least 1 s) was waited for


def test_429_beyond_the_bound_raises_the_typed_error(limited: ServerProcess, caplog: pytest.LogCaptureFixture) -> None:
    with MegaTTS3Client(limited.base_url, api_key="key-429-bound", retries=0) as client:
        client.synthesize_text("甲。", "voice_001")
        client.synthesize_text("乙。", "voice_001")
        with pytest.raises(RateLimitedError) as limited_error:
            client.synthesize_text("丙。", "voice_001")
    assert (limited_error.value.status, limited_error.value.code) == (429, "rate_limited")
    assert limited_error.value.retry_after is not None and limited_error.value.retry_after >= 1
    # A Retry-After longer than the caller allows is not waited for: raised at once, no retry.
    caplog.set_level(logging.INFO, logger="megatts3_server.client")
    patient = MegaTTS3Client(limited.base_url, api_key="key-429-bound", retries=3, max_retry_wait=0.5)
    with patient, pytest.raises(RateLimitedError):
        patient.synthesize_text("丁。", "voice_001")
    assert _retries_logged(caplog, "429 rate_limited") == 0


class _RetryWatch(logging.Handler):
    """Sees the client's retry log lines as they happen, from any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.seen = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.seen.set()


def test_503_queue_full_is_retried_until_there_is_room(
    limited: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="megatts3_server.client")
    watch = _RetryWatch()
    logging.getLogger("megatts3_server.client").addHandler(watch)
    results: list[bytes | BaseException] = []

    def patient() -> None:
        try:
            with MegaTTS3Client(limited.base_url, api_key="key-503-ok", retries=5) as client:
                results.append(client.synthesize_text("排队以后。", "voice_001"))
        except MegaTTS3Error as exc:
            results.append(exc)

    body = {"text": BUSY_TEXT, "voice_id": "voice_001", "stream": True}
    headers = {"Authorization": "Bearer key-busy"}
    try:
        # A long stream takes the only synthesis slot until it is closed (which cancels its work).
        with httpx.stream("POST", f"{limited.base_url}/api/v1/tts/synthesize", json=body, headers=headers) as busy:
            assert busy.status_code == 200
            no_retry = MegaTTS3Client(limited.base_url, api_key="key-503-bound", retries=0)
            with no_retry, pytest.raises(ServiceUnavailableError) as full:
                no_retry.synthesize_text("排队。", "voice_001")
            assert (full.value.status, full.value.code) == (503, "queue_full")
            assert full.value.retry_after is not None and full.value.retry_after >= 1
            waiting = threading.Thread(target=patient)
            waiting.start()
            assert watch.seen.wait(timeout=60), "the second client was never refused"
        waiting.join(timeout=120)
    finally:
        logging.getLogger("megatts3_server.client").removeHandler(watch)
    assert "503 queue_full; retry 1 of 5" in watch.messages[0]
    assert len(results) == 1 and isinstance(results[0], bytes), results
    assert decode(results[0])[0].size > 0


def test_async_client_retries_too(limited: ServerProcess, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="megatts3_server.client")

    async def burst() -> list[list[dict]]:
        async with AsyncMegaTTS3Client(limited.base_url, api_key="key-async", retries=3) as client:
            return [await client.synthesize_text(f"异步第{n}行。", "voice_001") for n in range(3)]

    assert all(decode(audio)[0].size > 0 for audio in anyio.run(burst))
    assert _retries_logged(caplog, "429 rate_limited") >= 1


# The states below are not produced by today's server (its voices are ready once stored); a stub
# transport plays the service so that the client's handling of them is pinned down now.


def _voice_states(*states: dict) -> httpx.MockTransport:
    answers = iter(states)
    return httpx.MockTransport(lambda request: httpx.Response(200, json={"id": "v", **next(answers)}))


def test_wait_for_voice_follows_enrollment_progress() -> None:
    states = ({"status": "pending"}, {"status": "enrolling", "progress": 40}, {"status": "ready", "progress": 100})
    seen: list[tuple[str, int | None]] = []

    def record(voice: dict) -> None:
        seen.append((voice["status"], voice.get("progress")))

    with MegaTTS3Client(transport=_voice_states(*states)) as client:
        voice = client.wait_for_voice("v", timeout=5, poll_interval=0.01, on_progress=record)
    assert voice["status"] == "ready"
    assert seen == [("pending", None), ("enrolling", 40), ("ready", 100)]


def test_wait_for_voice_raises_on_failure_and_on_timeout() -> None:
    failed = _voice_states({"status": "enrolling", "progress": 10}, {"status": "failed", "error": "no speech found"})
    with MegaTTS3Client(transport=failed) as client, pytest.raises(VoiceEnrollmentError, match="no speech found"):
        client.wait_for_voice("v", timeout=5, poll_interval=0.01)
    pending = httpx.MockTransport(lambda request: httpx.Response(200, json={"id": "v", "status": "pending"}))
    with MegaTTS3Client(transport=pending) as client, pytest.raises(MegaTTS3TimeoutError, match="pending"):
        client.wait_for_voice("v", timeout=0.2, poll_interval=0.05)


def test_retries_are_bounded_and_read_http_date_retry_after() -> None:
    requests: list[httpx.Request] = []

    def always_busy(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        when = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: retry at once
        return httpx.Response(
            503, headers={"Retry-After": when}, json={"error": {"code": "queue_full", "message": "busy"}}
        )

    client = MegaTTS3Client(transport=httpx.MockTransport(always_busy), retries=2)
    with client, pytest.raises(ServiceUnavailableError) as busy:
        client.synthesize_text("Hello.", "voice_001")
    assert len(requests) == 3 and busy.value.code == "queue_full"
    assert all(request.url.path == "/api/v1/tts/synthesize" for request in requests)
