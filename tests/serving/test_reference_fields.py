"""synthesize_file and voices/upload take the reference under either vocabulary: the integration
guide's (voice_file, voice_latent) and the AI-Sound backend's (audio_file, latent_file)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tests.support.reference_clips import real_speech_wav
from tests.support.standins import ToneEngine, tone_app, tone_settings

REFERENCE = real_speech_wav()


def _latent() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((1, 40, 32), np.float32))
    return buffer.getvalue()


@pytest.fixture
def app(tmp_path: Path):
    with tone_app(tone_settings(tmp_path)) as pair:
        yield pair


@pytest.mark.parametrize(("audio_name", "latent_name"), [("voice_file", "voice_latent"), ("audio_file", "latent_file")])
def test_either_vocabulary_speaks(app, audio_name: str, latent_name: str) -> None:
    http, _ = app
    files = {audio_name: ("参考.wav", REFERENCE, "audio/wav"), latent_name: ("参考.npy", _latent(), "application/x")}
    answer = http.post("/api/v1/tts/synthesize_file", data={"text": "你好。", "time_step": "32"}, files=files)
    assert answer.status_code == 200, answer.text
    assert answer.content[:4] == b"RIFF"


def test_no_reference_is_one_422_that_names_both_fields(app) -> None:
    http, _ = app
    answer = http.post("/api/v1/tts/synthesize_file", data={"text": "你好。"})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "missing_file"
    assert "voice_file" in error["message"] and "audio_file" in error["message"]


@pytest.mark.parametrize(
    "fields", [("voice_file", "audio_file"), ("voice_latent", "latent_file")], ids=["recording", "latent"]
)
def test_both_names_at_once_are_refused(app, fields: tuple[str, str]) -> None:
    http, engine = app
    files = {"audio_file": ("a.wav", REFERENCE, "audio/wav")}
    files.update({name: ("x.bin", REFERENCE if "file" in name else _latent(), "audio/wav") for name in fields})
    answer = http.post("/api/v1/tts/synthesize_file", data={"text": "你好。"}, files=files)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "conflicting_fields"
    assert all(name in answer.json()["error"]["message"] for name in fields)
    assert engine.preparations == 0


def test_upload_takes_the_platforms_names_too(app) -> None:
    http, _ = app
    files = {"audio_file": ("林清雅.wav", REFERENCE, "audio/wav"), "latent_file": ("林清雅.npy", _latent(), "x/y")}
    answer = http.post("/api/v1/voices/upload", data={"voice_id": "lin"}, files=files)
    assert answer.status_code == 201, answer.text
    assert answer.json()["has_latent"] is True
    missing = http.post("/api/v1/voices/upload", data={"voice_id": "other"})
    assert missing.status_code == 422 and "audio_file" in missing.json()["error"]["message"]


def test_the_same_recording_with_and_without_its_latent_is_prepared_once(tmp_path: Path) -> None:
    """On an engine that does not use latents, the latent does not make it another voice."""
    engine = ToneEngine()
    with tone_app(tone_settings(tmp_path), engine) as (http, _):
        first = http.post(
            "/api/v1/tts/synthesize_file",
            data={"text": "第一句。"},
            files={"audio_file": ("a.wav", REFERENCE), "latent_file": ("a.npy", _latent())},
        )
        second = http.post(
            "/api/v1/tts/synthesize_file", data={"text": "第二句。"}, files={"audio_file": ("a.wav", REFERENCE)}
        )
        assert (first.headers["X-Voice-Prepared"], second.headers["X-Voice-Prepared"]) == ("new", "reused")
        assert first.headers["X-Voice-Id"] == second.headers["X-Voice-Id"]
        assert engine.preparations == 1


def test_info_lists_the_engine_limits_and_parameters(app) -> None:
    http, _ = app
    info = http.get("/api/v1/info").json()
    assert info["engine"]["name"] == "tone" and info["sample_rate"] == 8000
    assert info["limits"]["max_text_length"] == 1000
    assert info["parameters"]["time_step"] == {"default": 32, "min": 1, "max": 256, "honoured": False}
    assert {"wav", "mp3"} <= set(info["formats"]) and info["languages"] == ["zh", "en"]


def test_cors_exposes_every_header_the_routes_send(tmp_path: Path) -> None:
    from megatts3_server.api import headers

    origin = "http://localhost:3000"
    with tone_app(tone_settings(tmp_path)) as (http, _):
        answer = http.post(
            "/api/v1/tts/synthesize",
            json={"text": "你好。", "parameters": {"emotion": "happy"}},
            headers={"Origin": origin},
        )
        exposed = {name.strip().lower() for name in answer.headers["access-control-expose-headers"].split(",")}
        sent = {name.lower() for name in answer.headers if name.lower().startswith("x-")}
        assert {"x-emotion-requested", "x-emotion-warning"} <= sent
        assert sent <= exposed
        assert {name.lower() for name in headers.EXPOSED} == exposed


def test_a_browser_on_another_origin_may_use_every_method_the_routes_take(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path)) as (http, _):
        paths = http.get("/openapi.json").json()["paths"]
        methods = {method.upper() for operations in paths.values() for method in operations}
        assert {"GET", "POST", "PUT", "DELETE"} <= methods
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            answer = http.options(
                "/api/v1/lexicon/重庆",
                headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": method},
            )
            assert answer.status_code == 200, (method, answer.text)
            assert method in answer.headers["access-control-allow-methods"]
