"""The default voice and the OpenAI aliases are the engine's data: the embedded engine gives its
catalogue's (voice_001, OpenAI's names onto its voices), an engine with built-in voices and no
catalogue its first voice; model.default_voice, when set, wins; /api/v1/info says which is in effect."""

from __future__ import annotations

from pathlib import Path

from megatts3_server.engines.kokoro import catalogue
from megatts3_server.engines.kokoro.engine import KokoroEngine
from tests.support.standins import ToneEngine, tone_app, tone_settings


def test_the_embedded_engine_gives_its_catalogues_default_voice_and_aliases(tmp_path: Path) -> None:
    engine = KokoroEngine(tmp_path, threads=1, warm_cloning=False)  # the PyPI packs: not loaded, nothing read
    ids = {voice.id for voice in engine.builtin_voices()}
    assert engine.default_voice() == catalogue.DEFAULT_VOICE == "voice_001"
    aliases = engine.voice_aliases()
    assert set(aliases) == set(catalogue.OPENAI_ALIASES)
    assert set(aliases.values()) <= ids, "every alias names a voice the engine has"


def test_an_engine_without_a_catalogue_defaults_to_its_first_builtin_voice() -> None:
    engine = ToneEngine()
    assert (engine.default_voice(), engine.voice_aliases()) == ("tone_low", {})


def test_info_reports_the_default_voice_in_effect(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path / "engine", default_voice=None)) as (http, _):
        assert http.get("/api/v1/info").json()["default_voice"] == "tone_low"
        spoken = http.post("/api/v1/tts/synthesize", json={"text": "你好。"})
        assert (spoken.status_code, spoken.headers["X-Voice-Id"]) == (200, "tone_low")
    with tone_app(tone_settings(tmp_path / "configured", default_voice="tone_high")) as (http, _):
        assert http.get("/api/v1/info").json()["default_voice"] == "tone_high"
        assert http.post("/api/v1/tts/synthesize", json={"text": "你好。"}).headers["X-Voice-Id"] == "tone_high"
