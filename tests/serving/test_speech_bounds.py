"""The speech a request may make is bounded after its readings and numbers are expanded, in every
mode (whole, stream, OpenAI streamed and not, jobs), through the real app over the tone engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from megatts3_server.engines.base import EngineCapabilities
from tests.support.standins import RATE, ToneEngine, tone_app, tone_settings

# A reading of 60 syllables (239 characters): "the" read so lasts about 14 s wherever it occurs.
LONG_READING = " ".join(["ma1"] * 60)
MANY_THE = "the " * 250  # 1,000 characters: about an hour of speech once each "the" is read as above


class ReadingToneEngine(ToneEngine):
    """The tone engine, taking readings (as the embedded engine does): marks reach it whole."""

    @property
    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities("tone", RATE, ("zh", "en"), frozenset({"neutral"}), readings=True)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, ToneEngine]]:
    with tone_app(tone_settings(tmp_path, cache={"enabled": False}), ReadingToneEngine()) as pair:
        yield pair


def _sends(text: str, lexicon: dict[str, str] | None = None) -> dict[str, tuple[str, dict[str, Any]]]:
    """One request of ``text`` in every mode (route, body)."""
    extra = {"lexicon": lexicon} if lexicon else {}
    openai = {"model": "tts-1", "input": text, "voice": "tone_low", "response_format": "pcm", **extra}
    return {
        "whole": ("/api/v1/tts/synthesize", {"text": text, "format": "pcm", **extra}),
        "stream": ("/api/v1/tts/synthesize", {"text": text, "format": "pcm", "stream": True, **extra}),
        "openai streamed": ("/v1/audio/speech", openai),
        "openai whole": ("/v1/audio/speech", {**openai, "stream": False}),
        "openai sse": ("/v1/audio/speech", {**openai, "stream_format": "sse"}),
        "job": ("/api/v1/tts/jobs", {"text": text, "voice_id": "tone_low", **extra}),
    }


def _refused_everywhere(http: TestClient, engine: ToneEngine, sends: dict, status: int, code: str) -> None:
    before = engine.syntheses
    for mode, (route, body) in sends.items():
        answer = http.post(route, json=body)
        assert answer.status_code == status, (mode, answer.text)
        assert answer.json()["error"]["code"] == code, (mode, answer.text)
    assert http.get("/api/v1/tts/jobs").json()["jobs"] == []
    assert engine.syntheses == before


def test_a_request_lexicon_that_multiplies_the_speech_is_refused_in_every_mode(app) -> None:
    http, engine = app
    _refused_everywhere(http, engine, _sends(MANY_THE, {"the": LONG_READING}), 413, "speech_too_long")
    body = {"text": MANY_THE, "stream": True, "lexicon": {"the": LONG_READING}}
    details = http.post("/api/v1/tts/synthesize", json=body).json()["error"]["details"]
    assert details["estimated_speech_seconds"] > details["max_speech_seconds"] == 600


def test_a_stored_entry_that_multiplies_the_speech_is_refused_in_every_mode(app) -> None:
    http, engine = app
    http.put("/api/v1/lexicon/the", json={"reading": LONG_READING}).raise_for_status()
    _refused_everywhere(http, engine, _sends(MANY_THE), 413, "speech_too_long")
    assert http.post("/api/v1/tts/synthesize", json={"text": "The cat.", "format": "pcm"}).status_code == 200


def test_a_number_longer_than_the_digit_limit_is_refused_in_every_mode(app) -> None:
    http, engine = app
    _refused_everywhere(http, engine, _sends("The number is " + "9" * 321 + "."), 422, "number_too_long")
    error = http.post("/api/v1/tts/synthesize", json={"text": "No. " + "1" * 101}).json()["error"]
    assert error["details"] == {"digits": 101, "max_digits": 100}
    assert http.post("/api/v1/tts/synthesize", json={"text": "No. " + "1" * 100, "format": "pcm"}).status_code == 200


def test_a_marked_number_is_as_long_as_its_reading(app) -> None:
    http, _ = app
    text = "[" + "9" * 900 + "]{jiu3}"
    for mode, (route, body) in _sends(text).items():
        if mode != "job":
            answer = http.post(route, json=body)
            assert answer.status_code == 200, (mode, answer.text)
    job = http.post("/api/v1/tts/jobs", json=_sends(text)["job"][1])
    assert job.status_code == 202, job.text


def test_a_job_whose_lines_are_only_punctuation_is_refused_at_intake(app) -> None:
    http, _ = app
    refused = http.post("/api/v1/tts/jobs", json={"text": "你好。\n……！！\n再见。\n。。。", "voice_id": "tone_low"})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "empty_text" and error["details"] == {"segments": [1, 3]}
    script = [{"voice_id": "tone_low", "text": "？！"}, {"voice_id": "tone_high", "text": "好。"}]
    assert http.post("/api/v1/tts/jobs", json={"script": script}).json()["error"]["code"] == "empty_text"
    same_text = http.post("/api/v1/tts/synthesize", json={"text": "……！！"})
    assert same_text.status_code == 422 and same_text.json()["error"]["code"] == "empty_text"
    assert http.get("/api/v1/tts/jobs").json()["jobs"] == []


def test_screenplay_limits_are_refused_before_parsing(tmp_path: Path) -> None:
    jobs = {"max_screenplay_lines": 10, "max_line_chars": 50}
    with tone_app(tone_settings(tmp_path, api={"jobs": jobs}), ReadingToneEngine()) as (http, _):
        voices = {"A": "tone_low"}
        lines = http.post("/api/v1/tts/jobs", json={"screenplay": "A：好。\n" * 11, "voices": voices})
        assert lines.status_code == 413 and lines.json()["error"]["code"] == "too_many_lines"
        long = http.post("/api/v1/tts/jobs", json={"screenplay": "A：好。\nA：" + "好" * 60, "voices": voices})
        assert long.status_code == 413 and long.json()["error"]["details"] == {"lines": [2]}
        spaces = http.post("/api/v1/tts/jobs", json={"screenplay": " " * 40 + "x", "voices": voices})
        assert spaces.status_code == 422 and spaces.json()["error"]["code"] == "invalid_screenplay"
