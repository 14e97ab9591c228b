"""The stock voices that render Mandarin tones poorly speak Chinese with their Mandarin style.

stock_voices.MANDARIN_BLEND moves such a pack part of the way toward the pack best understood in
Chinese (bench/intelligibility.py measured it); English and cloned styles are spoken as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from megatts3_server.engines.base import VoiceContext
from megatts3_server.engines.kokoro import KokoroEngine
from megatts3_server.engines.kokoro.model_files import load_voice_packs
from megatts3_server.engines.kokoro.stock_voices import MANDARIN_BLEND, mandarin_tables

CHINESE = "她推开门，轻声问道：“你终于回来了？”"
ENGLISH = "She opened the door and asked softly whether he had come home at last."


@pytest.fixture(scope="module")
def engine(model_cache: Path) -> KokoroEngine:
    engine = KokoroEngine(model_cache, threads=2, warm_cloning=False)
    engine.load()
    return engine


def _styled(table: np.ndarray) -> VoiceContext:
    return VoiceContext(voice_id="styled", arrays={"style": table}, version="test")


def test_a_blended_voice_speaks_chinese_with_its_mandarin_table_and_english_with_its_own(
    engine: KokoroEngine,
) -> None:
    packs = load_voice_packs()
    mandarin = mandarin_tables(packs)
    assert set(mandarin) == set(MANDARIN_BLEND) and "jf_alpha" in mandarin
    voice = engine.builtin_context("jf_alpha")
    chinese = engine.synthesize(CHINESE, voice)
    assert np.array_equal(chinese, engine.synthesize(CHINESE, _styled(mandarin["jf_alpha"])))
    assert not np.array_equal(chinese, engine.synthesize(CHINESE, _styled(packs["jf_alpha"])))
    assert np.array_equal(engine.synthesize(ENGLISH, voice), engine.synthesize(ENGLISH, _styled(packs["jf_alpha"])))


def test_a_voice_without_a_mandarin_blend_and_a_cloned_style_speak_chinese_as_they_are(engine: KokoroEngine) -> None:
    packs = load_voice_packs()
    assert "jm_kumo" not in MANDARIN_BLEND
    kumo = engine.builtin_context("jm_kumo")
    assert np.array_equal(engine.synthesize(CHINESE, kumo), engine.synthesize(CHINESE, _styled(packs["jm_kumo"])))
    # A cloning search's table is what the search chose: spoken as it is, even if it began at jf_alpha.
    cloned = _styled(packs["jf_alpha"])
    assert not np.array_equal(
        engine.synthesize(CHINESE, cloned), engine.synthesize(CHINESE, engine.builtin_context("jf_alpha"))
    )
