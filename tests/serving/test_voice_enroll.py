"""POST /api/v1/voices/{id}/enroll: a voice stored without a search (uploaded before the cloning extra
was installed, or with no budget) or whose enrollment failed is enrolled anew from its stored
reference, by the engine and budget in force now, through the real app over a tone engine."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from megatts3_server.engines.base import PreparedVoice
from megatts3_server.errors import InvalidRequestError
from megatts3_server.tenancy import Caller
from tests.support.reference_clips import real_speech_wav
from tests.support.standins import RATE, ToneEngine, tone_app, tone_settings

SEARCH = {"budget_seconds": 30, "one_shot_budget_seconds": 0}


class SearchingToneEngine(ToneEngine):
    """Without a budget a reference becomes a 250 Hz tone at once; with one, a search (held until
    ``proceed`` is set) makes it a 400 Hz tone, or fails while ``fail`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.proceed = threading.Event()
        self.fail = False

    def enrolls_in_background(self, budget_seconds: float) -> bool:
        return budget_seconds > 0

    def enroll_voice(self, reference: Any, latent: Any, *, budget_seconds: float = 0.0, **kwargs: Any) -> PreparedVoice:
        if budget_seconds <= 0:
            return self.prepare_voice(reference, latent)
        self.proceed.wait(60)
        if self.fail:
            raise InvalidRequestError("the search found no speaker in the reference")
        return PreparedVoice(meta={"pitch": 400.0}, summary="searched towards the reference", similarity=0.9)


def _pitch(http: TestClient, voice_id: str) -> float:
    spoken = http.post("/api/v1/tts/synthesize", json={"text": "你好。", "voice_id": voice_id})
    assert spoken.status_code == 200, spoken.text
    samples, rate = soundfile.read(io.BytesIO(spoken.content), dtype="float32")
    assert rate == RATE
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(samples.size, 1 / RATE)[int(np.argmax(spectrum))])


def _settled(http: TestClient, voice_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        voice = http.get(f"/api/v1/voices/{voice_id}").json()
        if voice["status"] in ("ready", "failed"):
            return voice
        assert time.monotonic() < deadline, voice
        time.sleep(0.05)


def test_a_voice_stored_without_a_search_is_enrolled_anew(tmp_path: Path) -> None:
    engine = SearchingToneEngine()
    with tone_app(tone_settings(tmp_path), engine) as (http, _):  # no search budget: prepared at once
        stored = http.post("/api/v1/voices/upload", data={"voice_id": "lin"}, files={"voice_file": real_speech_wav()})
        assert stored.status_code == 201 and stored.json()["summary"] == "a tone at 250 Hz", stored.text

    with tone_app(tone_settings(tmp_path, cloning=SEARCH), engine) as (http, _):  # a budget now
        assert _pitch(http, "lin") == pytest.approx(250, abs=10)  # and cached
        voices = http.app.state.services.voices
        first_version = voices.context("lin", Caller()).version
        queued = http.post("/api/v1/voices/Lin/enroll")
        assert queued.status_code == 202, queued.text
        body = queued.json()
        assert (body["id"], body["status"], body["status_url"]) == ("lin", "pending", "/api/v1/voices/lin")
        again = http.post("/api/v1/voices/lin/enroll")
        assert again.status_code == 409 and again.json()["error"]["code"] == "voice_enrolling"
        assert http.post("/api/v1/tts/synthesize", json={"text": "你好。", "voice_id": "lin"}).status_code == 409

        engine.proceed.set()
        voice = _settled(http, "lin")
        assert (voice["status"], voice["summary"], voice["similarity"]) == (
            "ready",
            "searched towards the reference",
            0.9,
        )
        assert _pitch(http, "lin") == pytest.approx(400, abs=10)  # the new voice, not the cached audio of the old one
        # Another replica's caches (audio, arrays, the engine's own) are keyed by the voice's version.
        assert voices.context("lin", Caller()).version != first_version


def test_a_failed_enrollment_is_tried_again(tmp_path: Path) -> None:
    engine = SearchingToneEngine()
    engine.fail = True
    engine.proceed.set()
    with tone_app(tone_settings(tmp_path, cloning=SEARCH), engine) as (http, _):
        stored = http.post("/api/v1/voices/upload", data={"voice_id": "wu"}, files={"voice_file": real_speech_wav()})
        assert stored.status_code == 202, stored.text
        assert _settled(http, "wu")["status"] == "failed"
        engine.fail = False
        assert http.post("/api/v1/voices/wu/enroll").status_code == 202
        voice = _settled(http, "wu")
        assert (voice["status"], voice["error"], voice["progress"]) == ("ready", None, 100.0)


def test_only_stored_voices_are_enrolled(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path, cloning=SEARCH), SearchingToneEngine()) as (http, _):
        unknown = http.post("/api/v1/voices/nobody/enroll")
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "voice_not_found"
        builtin = http.post("/api/v1/voices/tone_low/enroll")
        assert builtin.status_code == 403 and builtin.json()["error"]["code"] == "voice_read_only"
