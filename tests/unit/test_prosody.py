"""Which style each language run of a voice is spoken with (engines/kokoro/prosody.py), and how text
is cut into language runs (phonemes.runs_by_language): without the model."""

from __future__ import annotations

import numpy as np
import pytest

from megatts3_server.engines.base import VoiceContext
from megatts3_server.engines.kokoro.catalogue import numbered_packs, pack_info
from megatts3_server.engines.kokoro.phonemes import EN, ZH, Segment, runs_by_language
from megatts3_server.engines.kokoro.prosody import PROSODY, TIMBRE, VoiceStyles, identity, transplant

PACKS = {
    name: np.full((510, 256), index, np.float32)
    for index, name in enumerate(
        ["zf_xiaoxiao", "zm_yunxia", "zm_yunjian", "af_heart", "am_michael", "bm_george", "jf_alpha", "ef_dora"]
    )
}


def _pack(name: str) -> VoiceContext:
    return VoiceContext(name, meta={"pack": name})


@pytest.mark.parametrize(
    ("voice", "language", "donor"),
    [
        ("jf_alpha", "zh", "zf_xiaoxiao"),  # a Japanese female voice: Mandarin prosody of a female speaker
        ("jf_alpha", "en", "af_heart"),
        ("ef_dora", "zh", "zf_xiaoxiao"),
        ("bm_george", "zh", "zm_yunxia"),  # a male voice: a male donor
        ("am_michael", "zh", "zm_yunjian"),  # the donor measured best for this voice (DONOR_FOR)
        ("am_michael", "en", None),  # its own language: its own table
        ("zf_xiaoxiao", "zh", None),
        ("zm_yunxia", "en", "am_michael"),
        ("jf_alpha", None, None),  # punctuation alone: no language, its own table
    ],
)
def test_a_run_in_another_language_takes_a_native_donor_of_the_voice_gender(
    voice: str, language: str | None, donor: str | None
) -> None:
    assert VoiceStyles(PACKS).donor(_pack(voice), language) == donor


def test_without_a_donor_installed_a_voice_keeps_its_own_table() -> None:
    only_pypi = {name: table for name, table in PACKS.items() if name.startswith("j")}
    assert VoiceStyles(only_pypi).donor(_pack("jf_alpha"), "zh") is None


def test_a_transplant_keeps_the_timbre_half_and_takes_the_prosody_half() -> None:
    table = transplant(PACKS["jf_alpha"], PACKS["zf_xiaoxiao"])
    assert np.array_equal(table[:, TIMBRE], PACKS["jf_alpha"][:, TIMBRE])
    assert np.array_equal(table[:, PROSODY], PACKS["zf_xiaoxiao"][:, PROSODY])
    styles, voice = VoiceStyles(PACKS), _pack("jf_alpha")
    first = styles.table(voice, PACKS["jf_alpha"], "zf_xiaoxiao")
    assert first is styles.table(voice, PACKS["jf_alpha"], "zf_xiaoxiao")  # a stock pack's is made once


@pytest.mark.parametrize(
    ("meta", "language", "gender"),
    [
        ({"pack": "zm_yunxia"}, "zh", "male"),
        ({"language": "en-GB", "gender": "female", "start": "zm_yunxia"}, "en", "female"),  # what a voice says wins
        ({"start": "0.7*jf_alpha+0.3*af_heart"}, "ja", "female"),  # a clone enrolled before: its start pack
        ({"recipe": "af_heart(0.6)+am_michael(0.4)"}, None, None),  # a blend says its language in its meta
        ({}, None, None),
    ],
)
def test_whose_prosody_a_voice_has(meta: dict, language: str | None, gender: str | None) -> None:
    who = identity(VoiceContext("v", meta=meta))
    assert (who.language, who.gender) == (language, gender)


def test_runs_of_one_language_join_and_punctuation_goes_with_the_run_before() -> None:
    segments = [
        Segment(None, "“"),
        Segment(ZH, "wo↓"),
        Segment(ZH, "ɕi↓xwan"),
        Segment(EN, "pˈIθən"),
        Segment(None, ","),
        Segment(ZH, "xau↓"),
    ]
    runs = runs_by_language(segments)
    assert runs == [Segment(ZH, "“ wo↓ ɕi↓xwan"), Segment(EN, "pˈIθən,"), Segment(ZH, "xau↓")]
    assert runs_by_language([Segment(None, "."), Segment(None, "!")]) == [Segment(None, ".!")]


def test_the_numbered_voices_are_native_mandarin_and_five_distinct_pypi_packs_without_the_full_set() -> None:
    full = numbered_packs({"zf_xiaobei", "zm_yunjian", "zf_xiaoyi", "zm_yunxia", "zm_yunxi", "jm_kumo", "jf_alpha"})
    assert all(pack_info(pack).language == "zh" for pack in full.values()) and len(set(full.values())) == 5
    assert pack_info(full["voice_001"]).gender == "female" and pack_info(full["voice_002"]).gender == "male"
    pypi = numbered_packs({"jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"})
    assert set(pypi) == set(full) and len(set(pypi.values())) == 5
