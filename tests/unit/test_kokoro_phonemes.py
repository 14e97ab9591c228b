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
