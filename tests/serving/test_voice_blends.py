"""Blend recipes on an engine without blends (the stand-in engine, as MegaTTS3): refused cleanly,
wherever a voice is named, and nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.standins import tone_app, tone_settings

RECIPE = "tone_low(2)+tone_high(1)"


@pytest.fixture
def http(tmp_path: Path):
    with tone_app(tone_settings(tmp_path)) as (client, _):
        yield client


def _refused(response) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "blends_unsupported" and "has no blends" in error["message"]


def test_an_engine_without_blends_refuses_a_recipe_wherever_a_voice_is_named(http) -> None:
    _refused(http.post("/api/v1/tts/synthesize", json={"text": "Hi.", "voice_id": RECIPE}))
    _refused(http.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hi.", "voice": RECIPE, "stream": False}))
    job = http.post("/api/v1/tts/jobs", json={"text": "Hi.", "voice_id": RECIPE})
    assert job.status_code == 422 and job.json()["error"]["code"] == "invalid_voices"
    assert "has no blends" in job.json()["error"]["details"]["voices"][RECIPE]


def test_an_engine_without_blends_stores_none(http) -> None:
    _refused(http.post("/api/v1/voices", json={"voice_id": "narrator", "blend": RECIPE}))
    assert http.get("/api/v1/voices/narrator").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"voice_id": "narrator"},
        {"blend": RECIPE},
        {"voice_id": "narrator", "blend": ""},
        {"voice_id": "narrator", "blend": RECIPE, "extra": 1},
        {"voice_id": "narrator", "blend": 3},
        {"voice_id": "narrator", "blend": "x" * 301},
    ],
)
def test_a_malformed_blend_request_is_a_422(http, body: dict) -> None:
    answer = http.post("/api/v1/voices", json=body)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"


def test_an_unsafe_blend_id_is_refused(http) -> None:
    answer = http.post("/api/v1/voices", json={"voice_id": "../x", "blend": RECIPE})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_voice_id"
