"""A whole response that could not be made within api.timeout is refused before any work: from the
speech its reading makes (not its characters) and the engine speed measured on this machine."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from megatts3_server.app import create_app
from megatts3_server.engines.base import CancelToken, EngineCapabilities, VoiceContext
from tests.support.standins import RATE, ToneEngine, served_in_thread, tone_app, tone_settings

# At most this many seconds of (tone) audio per second: the engine sleeps for its output's length / 20.
_MAX_SPEED = 20.0
# 915 characters: ten numbers of 90 digits, each read digit by digit: minutes of speech.
PHONE_NUMBER = "我的电话是" + "，".join(["1" * 90] * 10)


class PacedEngine(ToneEngine):
    """A stand-in that takes time in proportion to the audio it makes, and can be held; it takes
    readings (marks reach it whole), as the embedded engine does."""

    @property
    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities("tone", RATE, ("zh", "en"), frozenset({"neutral"}), readings=True)

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.go.set()
        self.waiting = 0

    def synthesize(
        self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None
    ) -> np.ndarray:
        audio = super().synthesize(text, voice, speed=speed, cancel=cancel)
        self.waiting += 1
        self.go.wait(60)
        self.waiting -= 1
        time.sleep(len(audio) / self.capabilities.sample_rate / _MAX_SPEED)
        return audio


@pytest.fixture
def paced(tmp_path: Path):
    settings = tone_settings(tmp_path, api={"timeout": 5, "scheduler": {"workers": 1}}, cache={"enabled": False})
    with tone_app(settings, PacedEngine()) as pair:
        yield pair


def test_a_text_whose_reading_cannot_be_made_in_time_is_413_before_any_work(paced) -> None:
    http, engine = paced
    before = engine.syntheses
    refused = http.post("/api/v1/tts/synthesize", json={"text": PHONE_NUMBER})
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "speech_too_long" and "stream" in error["message"]
    assert error["details"]["estimated_synthesis_seconds"] > error["details"]["timeout_seconds"] == 5
    assert error["details"]["estimated_speech_seconds"] > 150
    assert engine.syntheses == before
    assert http.post("/api/v1/tts/synthesize", json={"text": "你好，这句很短。"}).status_code == 200


def test_the_same_text_streams(paced) -> None:
    http, _ = paced
    body = {"text": "我的电话是" + "1" * 90, "stream": True, "format": "pcm"}
    answer = http.post("/api/v1/tts/synthesize", json=body)
    assert answer.status_code == 200 and len(answer.content) > 0


def test_a_stream_whose_one_sentence_cannot_be_made_in_time_is_413_before_any_work(paced) -> None:
    """Ten words read as 60 syllables each, in one sentence: over two minutes of speech for one engine
    call, which the stream's progress deadline (api.timeout) would cut off."""
    http, engine = paced
    before = engine.syntheses
    body = {"text": "the " * 10, "stream": True, "lexicon": {"the": " ".join(["ma1"] * 60)}}
    refused = http.post("/api/v1/tts/synthesize", json=body)
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "speech_too_long" and error["details"]["longest_piece_seconds"] > 100
    assert engine.syntheses == before
    assert http.post("/api/v1/tts/synthesize", json={**body, "text": "the cat"}).status_code == 200


def test_the_character_limit_alone_would_have_let_it_in(paced) -> None:
    http, _ = paced
    info = http.get("/api/v1/info").json()
    assert len(PHONE_NUMBER) <= info["limits"]["max_text_length"]


def test_a_text_that_fits_when_idle_but_not_behind_the_running_work_is_503_too_busy(tmp_path: Path) -> None:
    engine = PacedEngine()
    settings = tone_settings(tmp_path, api={"timeout": 5, "scheduler": {"workers": 1}}, cache={"enabled": False})
    medium = "这是一段中等长度的文字，用来估计合成需要的时间。" * 6  # ~40 s of speech: ~2 s alone
    with served_in_thread(create_app(settings, engine=engine)) as url, httpx.Client(base_url=url, timeout=120) as http:
        while http.get("/health").status_code != 200:
            time.sleep(0.05)
        assert http.post("/api/v1/tts/synthesize", json={"text": medium}).status_code == 200  # fits alone
        engine.go.clear()
        with ThreadPoolExecutor(3) as pool:
            held = [pool.submit(http.post, "/api/v1/tts/synthesize", json={"text": f"占着队列{n}。"}) for n in range(3)]
            while http.get("/health").json()["queue"]["depth"] < 3:
                time.sleep(0.02)
            busy = http.post("/api/v1/tts/synthesize", json={"text": medium + "再来。"})
            engine.go.set()
            assert all(future.result().status_code == 200 for future in held)
    assert busy.status_code == 503, busy.text
    assert busy.json()["error"]["code"] == "too_busy" and int(busy.headers["Retry-After"]) >= 1
