"""Every voice speaks every language in that language's prosody (engines/kokoro/prosody.py).

A run of text in a language that is not the voice's own is spoken with the voice's timbre half and
a native donor's prosody half; a run in the voice's own language with its own table. Runs switch
inside one sentence, for stock packs, blends and cloned voices alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from megatts3_server.engines.base import VoiceContext
from megatts3_server.engines.kokoro import KokoroEngine
from megatts3_server.engines.kokoro.prosody import DONORS, transplant

CHINESE = "她推开门，轻声问道：“你终于回来了？”"
ENGLISH = "She opened the door and asked softly whether he had come home at last."
MIXED_PARTS = ("我们明天用", "Python", "写一个小程序。")


@pytest.fixture(scope="module")
def engine(model_cache: Path) -> KokoroEngine:
    engine = KokoroEngine(model_cache, threads=2, warm_cloning=False)
    engine.load()
    return engine


def _plain(table: np.ndarray) -> VoiceContext:
    """A style with no language of its own: every run is spoken with the table as it is."""
    return VoiceContext(voice_id="plain", arrays={"style": table}, version="test")


def _donor(engine: KokoroEngine, language: str, gender: str) -> np.ndarray:
    packs = engine.packs  # the loaded packs: the full set is installed for the tests
    return packs[next(name for name in DONORS[(language, gender)] if name in packs)]


def test_a_japanese_voice_speaks_chinese_with_a_mandarin_prosody_and_english_with_an_english_one(
    engine: KokoroEngine,
) -> None:
    own = engine.packs["jf_alpha"]
    voice = engine.builtin_context("jf_alpha")
    chinese = engine.synthesize(CHINESE, voice)
    assert np.array_equal(chinese, engine.synthesize(CHINESE, _plain(transplant(own, _donor(engine, "zh", "female")))))
    assert not np.array_equal(chinese, engine.synthesize(CHINESE, _plain(own)))
    english = engine.synthesize(ENGLISH, voice)
    assert np.array_equal(english, engine.synthesize(ENGLISH, _plain(transplant(own, _donor(engine, "en", "female")))))


def test_a_native_voice_speaks_its_own_language_with_its_own_table(engine: KokoroEngine) -> None:
    for pack, text in (("zm_yunxi", CHINESE), ("am_michael", ENGLISH), ("voice_001", CHINESE)):
        voice = engine.builtin_context(pack)
        own = engine.packs[voice.meta["pack"]]
        assert np.array_equal(engine.synthesize(text, voice), engine.synthesize(text, _plain(own))), pack


def test_the_language_switches_inside_one_sentence(engine: KokoroEngine) -> None:
    voice = engine.builtin_context("zm_yunxi")
    runs = engine.styled_runs(voice, "".join(MIXED_PARTS))
    english_donor = next(name for name in DONORS[("en", "male")] if name in engine.packs)
    assert [donor for donor, _ in runs] == [None, english_donor, None]
    assert [phonemes for _, phonemes in runs] == [engine.phonemes(part) for part in MIXED_PARTS]


def test_a_cloned_voice_keeps_its_searched_timbre_and_takes_the_prosody_of_the_run(engine: KokoroEngine) -> None:
    searched = engine.packs["jf_nezumi"] + np.float32(0.01)  # as a search leaves it: its start, moved
    meta = {"start": "jf_nezumi", "language": "ja", "gender": "female"}
    clone = VoiceContext("clone", meta=meta, arrays={"style": searched}, version="test")
    donor = _donor(engine, "zh", "female")
    assert np.array_equal(
        engine.synthesize(CHINESE, clone), engine.synthesize(CHINESE, _plain(transplant(searched, donor)))
    )
    # A clone enrolled before voices had a language names its start pack only: the same holds.
    legacy = VoiceContext("legacy", meta={"start": "0.7*jf_nezumi+0.3*jf_alpha"}, arrays={"style": searched})
    assert np.array_equal(engine.synthesize(CHINESE, legacy), engine.synthesize(CHINESE, clone))
