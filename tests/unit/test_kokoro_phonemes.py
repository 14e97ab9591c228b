"""The embedded engine's G2P takes the readings the user marked."""

from __future__ import annotations

import pytest

from megatts3_server.engines.kokoro.phonemes import Phonemizer


@pytest.fixture(scope="module")
def phonemize() -> Phonemizer:
    return Phonemizer()


def test_a_pinyin_reading_changes_the_phonemes_of_that_word_only(phonemize: Phonemizer) -> None:
    default = phonemize("我们去重庆。")
    chosen = phonemize("我们去[重庆]{zhong4 qing4}。")
    assert default != chosen
    assert chosen.startswith(phonemize("我们去"))
    assert phonemize("[重庆]{zhong4 qing4}") == phonemize("[重]{zhong4}") + phonemize("[庆]{qing4}")
    assert phonemize("[重庆]{chong2 qing4}。") == phonemize("重庆。")  # what misaki reads anyway


def test_phonemes_are_spoken_as_given(phonemize: Phonemizer) -> None:
    assert "zˈuzu" in phonemize("我在[Yeepay]{/zˈuzu/}工作")
    assert "zˈuzu" not in phonemize("我在Yeepay工作")


def test_english_inside_chinese_is_one_flow_and_acronyms_are_spelled(phonemize: Phonemizer) -> None:
    phonemes = phonemize("我用Python写了一个API接口。")
    chinese_before, english, chinese_after = phonemize("我用"), phonemize("Python"), phonemize("写了一个")
    # The runs follow each other with a word space only: no pause mark is put between the languages.
    assert phonemes.startswith(f"{chinese_before} {english} {chinese_after}")
    assert phonemes.count(",") == phonemes.count(".") - 1 == 0
    acronym = phonemize("API")
    assert sum(acronym.count(mark) for mark in "ˈˌ") == 3, acronym  # A-P-I: three stressed letters, not a word


def test_tone_sandhi_is_applied_to_the_dictionary_tones(phonemize: Phonemizer) -> None:
    plain = Phonemizer(tone_sandhi=False)
    assert phonemize("你好") == phonemize("[你好]{ni2 hao3}") != plain("你好")  # 3-3 -> 2-3
    assert phonemize("不去") == phonemize("[不去]{bu2 qu4}")  # 不 before a falling tone
    assert phonemize("一天") == phonemize("[一天]{yi4 tian1}")  # 一 before a level tone
    assert phonemize("看看") == phonemize("[看看]{kan4 kan5}")  # a reduplication ends neutral
