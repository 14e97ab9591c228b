"""The error contract at the edges: input no encoder takes, loose types, ids that differ by case,
HEAD, and what a client sees of a bug (a JSON 500 on a connection that stays usable) or of a stream
that cannot be finished (a cut-off body, never a clean end)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from megatts3_server.app import create_app
from megatts3_server.engines.base import CancelToken, VoiceContext
from megatts3_server.voices import VoiceStore
from tests.support.reference_clips import real_speech_wav
from tests.support.standins import ToneEngine, served_in_thread, tone_app, tone_settings
from tests.support.voices import silent_reference, stored_voice

SURROGATE_BODY = '{"text": "hello \\ud800 world", "voice_id": "tone_low"}'


@pytest.fixture
def app(tmp_path: Path):
    with tone_app(tone_settings(tmp_path)) as pair:
        yield pair


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.mark.parametrize("field", ["text", "voice_id", "format", "emotion"])
def test_a_lone_surrogate_is_a_422_naming_the_field(app, field: str) -> None:
    http, engine = app
    body = {"text": "hello", "voice_id": "tone_low", "format": "wav", "parameters": {"emotion": "neutral"}}
    if field == "emotion":
        raw = json.dumps(body).replace('"neutral"', '"sad \\udfff"')
    else:
        raw = json.dumps(body).replace(f'"{field}": "', f'"{field}": "\\ud800', 1)
    answer = http.post("/api/v1/tts/synthesize", content=raw, headers={"Content-Type": "application/json"})
    # The text to speak is checked by the request it becomes (SpeechRequest), the other fields by the schema.
    error = _error(answer, 422, "invalid_text" if field == "text" else "invalid_request")
    assert field in error["message"]
    assert engine.syntheses == 0


def test_a_lone_surrogate_in_an_openai_request_is_a_422(app) -> None:
    http, _ = app
    raw = '{"model": "tts-1", "input": "hi \\ud83d", "voice": "alloy"}'
    _error(http.post("/v1/audio/speech", content=raw, headers={"Content-Type": "application/json"}), 422)


@pytest.mark.parametrize(
    "parameters",
    [{"speed": "1.5"}, {"speed": True}, {"pitch": "1"}, {"time_step": 20.5}, {"seed": "7"}, {"time_step": False}],
)
def test_json_numbers_are_strict(app, parameters: dict[str, Any]) -> None:
    http, engine = app
    answer = http.post("/api/v1/tts/synthesize", json={"text": "你好。", "parameters": parameters})
    field = next(iter(parameters))
    assert field in _error(answer, 422, "invalid_request")["message"]
    assert engine.syntheses == 0


def test_an_integer_is_a_number(app) -> None:
    http, _ = app
    assert http.post("/api/v1/tts/synthesize", json={"text": "你好。", "parameters": {"speed": 1}}).status_code == 200


@pytest.mark.parametrize("body", [{"text": "你好。", "stream": "yes"}, {"text": 5}, {"text": "hi", "voice_id": 1}])
def test_other_json_types_are_strict(app, body: dict[str, Any]) -> None:
    http, _ = app
    _error(http.post("/api/v1/tts/synthesize", json=body), 422, "invalid_request")


def test_an_empty_voice_id_is_refused_not_taken_for_the_default(app) -> None:
    http, engine = app
    answer = http.post("/api/v1/tts/synthesize", json={"text": "你好。", "voice_id": ""})
    assert "voice_id" in _error(answer, 422)["message"]
    _error(http.post("/v1/audio/speech", json={"model": "tts-1", "input": "hi", "voice": ""}), 422)
    assert engine.syntheses == 0


def test_voice_ids_are_case_insensitive(app) -> None:
    http, _ = app
    reference = {"voice_file": ("a.wav", real_speech_wav(), "audio/wav")}
    clash = http.post("/api/v1/voices/upload", data={"voice_id": "TONE_LOW"}, files=reference)
    _error(clash, 409, "voice_exists")
    created = http.post("/api/v1/voices/upload", data={"voice_id": "Narrator"}, files=reference)
    assert created.status_code == 201, created.text
    assert created.json()["id"] == "narrator" and created.json()["status_url"].endswith("/narrator")
    _error(http.post("/api/v1/voices/upload", data={"voice_id": "NARRATOR"}, files=reference), 409, "voice_exists")
    assert http.get("/api/v1/voices/NaRrAtOr").json()["id"] == "narrator"
    spoken = http.post("/api/v1/tts/synthesize", json={"text": "你好。", "voice_id": "NARRATOR"})
    assert spoken.status_code == 200 and spoken.headers["X-Voice-ID"] == "narrator"
    assert http.delete("/api/v1/voices/Narrator").status_code == 200
    assert [v["id"] for v in http.get("/api/v1/voices").json()["voices"]] == ["tone_low", "tone_high"]


@pytest.mark.parametrize("path", ["/health", "/ready", "/api/v1/info", "/api/v1/voices", "/v1/models"])
def test_head_answers_what_get_would_without_a_body(tmp_path: Path, path: str) -> None:
    app = create_app(tone_settings(tmp_path), engine=ToneEngine())
    with served_in_thread(app) as url, httpx.Client(base_url=url) as http:
        while http.get("/health").status_code != 200:
            threading.Event().wait(0.05)
        get, head = http.get(path), http.head(path)
        assert head.status_code == get.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
        assert int(head.headers["content-length"]) == len(get.content)


class _BrokenEngine(ToneEngine):
    """Fails in a way no handler knows (a bug): the client must still get the JSON 500."""

    def synthesize(
        self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None
    ) -> np.ndarray:
        if "boom" in text:
            raise RuntimeError("a bug")
        return super().synthesize(text, voice, speed=speed, cancel=cancel)


def _raw_exchange(url: str, requests: list[bytes]) -> list[bytes]:
    """Send ``requests`` one after the other on ONE connection; each answer's head and body."""
    host, port = url.removeprefix("http://").split(":")
    answers = []
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        stream = sock.makefile("rb")
        for request in requests:
            sock.sendall(request)
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                byte = stream.read(1)
                assert byte, f"the server closed the connection; answers so far: {answers}"
                head += byte
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            answers.append(head + stream.read(length))
    return answers


def _post(path: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data


def test_a_bug_is_a_json_500_and_the_connection_stays_usable(tmp_path: Path) -> None:
    app = create_app(tone_settings(tmp_path), engine=_BrokenEngine())
    with served_in_thread(app) as url:
        while httpx.get(f"{url}/health").status_code != 200:
            threading.Event().wait(0.05)
        failed, spoken = _raw_exchange(
            url,
            [_post("/api/v1/tts/synthesize", {"text": "boom"}), _post("/api/v1/tts/synthesize", {"text": "你好。"})],
        )
    assert failed.startswith(b"HTTP/1.1 500")
    body = json.loads(failed.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "internal_error" and "a bug" not in body["error"]["message"]
    assert spoken.startswith(b"HTTP/1.1 200") and b"RIFF" in spoken


class _StallingEngine(ToneEngine):
    """Speaks the first piece, then hangs (until released) on the next: a stream that stops making progress."""

    def __init__(self) -> None:
        super().__init__()
        self.unstick = threading.Event()
        self.calls = 0

    def synthesize(
        self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None
    ) -> np.ndarray:
        self.calls += 1
        if "卡住" in text:
            self.unstick.wait(60)
        return super().synthesize(text, voice, speed=speed, cancel=cancel)


_STALLING_TEXT = "第一句话先说完。这一句会卡住不动。第三句话。"


@pytest.fixture
def stalling(tmp_path: Path):
    engine = _StallingEngine()
    app = create_app(tone_settings(tmp_path, api={"timeout": 1.0}, cache={"enabled": False}), engine=engine)
    with served_in_thread(app) as url:
        while httpx.get(f"{url}/health").status_code != 200:
            threading.Event().wait(0.05)
        yield url, app, engine
        engine.unstick.set()


def test_a_stream_that_cannot_finish_is_cut_off_not_ended_cleanly(stalling) -> None:
    url, app, _ = stalling
    received = b""
    with httpx.Client(base_url=url, timeout=60) as http:
        body = {"text": _STALLING_TEXT, "format": "pcm", "stream": True}
        with pytest.raises(httpx.RemoteProtocolError), http.stream("POST", "/api/v1/tts/synthesize", json=body) as r:
            assert r.status_code == 200
            for chunk in r.iter_raw():
                received += chunk
    assert received, "the first sentence was sent before the stall"
    aborted = app.state.metrics.streams_aborted.labels(reason="synthesis_timeout")._value.get()
    assert aborted == 1


def test_an_sse_stream_that_cannot_finish_ends_with_an_error_event(stalling) -> None:
    url, _, _ = stalling
    events: list[dict[str, Any]] = []
    with httpx.Client(base_url=url, timeout=60) as http:
        body = {"model": "tts-1", "input": _STALLING_TEXT, "voice": "tone_low", "stream_format": "sse"}
        with pytest.raises(httpx.RemoteProtocolError), http.stream("POST", "/v1/audio/speech", json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
    assert events[0]["type"] == "speech.audio.delta"
    assert events[-1]["type"] == "error" and events[-1]["error"]["code"] == "synthesis_timeout"
    assert not any(event["type"] == "speech.audio.done" for event in events)


def test_a_voice_whose_enrollment_failed_is_replaced_by_uploading_again(app, tmp_path: Path) -> None:
    http, _ = app
    store = VoiceStore(tmp_path / "voices")
    store.save_atomic(stored_voice("retry", engine="tone", status="failed", error="no voice in it"), silent_reference())
    refused = http.post("/api/v1/tts/synthesize", json={"text": "你好。", "voice_id": "retry"})
    assert "upload a reference again under this id" in _error(refused, 409, "voice_not_ready")["message"]
    again = http.post("/api/v1/voices/upload", data={"voice_id": "retry"}, files={"voice_file": real_speech_wav()})
    assert again.status_code == 201, again.text
    assert http.get("/api/v1/voices/retry").json()["status"] == "ready"
    assert http.post("/api/v1/tts/synthesize", json={"text": "你好。", "voice_id": "retry"}).status_code == 200
    # A voice that did not fail is never replaced that way.
    _error(http.post("/api/v1/voices/upload", data={"voice_id": "retry"}, files={"voice_file": real_speech_wav()}), 409)


@pytest.mark.parametrize(
    ("text", "scripts"),
    [("สวัสดีครับ", ["Thai"]), ("你好，Привет мир", ["Cyrillic"]), ("مرحبا 안녕하세요", ["Arabic", "Hangul"])],
)
def test_text_in_a_script_the_engine_cannot_speak_is_422_naming_it(app, text: str, scripts: list[str]) -> None:
    http, engine = app
    for answer in (
        http.post("/api/v1/tts/synthesize", json={"text": text}),
        http.post("/v1/audio/speech", json={"model": "tts-1", "input": text, "voice": "alloy", "stream": False}),
    ):
        error = _error(answer, 422, "unsupported_language")
        assert error["details"]["scripts"] == scripts
        assert all(script in error["message"] for script in scripts)
    assert engine.syntheses == 0


def test_symbols_and_emoji_beside_speakable_text_are_no_language(app) -> None:
    http, _ = app
    assert http.post("/api/v1/tts/synthesize", json={"text": "你好 😀 café №5 ©"}).status_code == 200
