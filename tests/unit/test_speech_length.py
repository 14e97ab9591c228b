"""The speech a text makes, estimated from its normalized pieces (text/speech_length.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from megatts3_server.text import Sentence, normalize, split_sentences
from megatts3_server.text.speech_length import (
    HAN_SECONDS,
    PIECE_SECONDS,
    SPELLED_LETTER_SECONDS,
    estimate_speech_seconds,
    piece_speech_seconds,
)
from megatts3_server.text.split import PAUSE_SENTENCE

MAX_CHARS = 100  # the embedded engine's piece length


def estimate(text: str, speed: float = 1.0) -> float:
    return estimate_speech_seconds(split_sentences(normalize(text), MAX_CHARS), speed)


def test_chinese_is_about_a_constant_per_character() -> None:
    for count in (1, 10, 50, 100):
        assert piece_speech_seconds("中" * count) == pytest.approx(PIECE_SECONDS + HAN_SECONDS * count)
    assert 0.2 <= HAN_SECONDS <= 0.3


def test_the_estimate_grows_with_the_text() -> None:
    chinese = "今天天气很好，我们一起去公园散步吧。"
    english = "The weather is lovely today, so we walk in the park. "
    for unit in (chinese, english):
        estimates = [estimate(unit * count) for count in range(1, 12)]
        assert estimates == sorted(estimates)
        assert estimates[-1] > 10 * estimates[0]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sampled_from(["中", "文", "a", "word", "Hello", "，", ",", " ", "。", ". ", "3", "\n"]), max_size=40),
    st.sampled_from(["中", "word", "a", "9"]),
)
def test_adding_a_word_never_shortens_the_estimate(parts: list[str], more: str) -> None:
    text = "".join(parts)
    assert piece_speech_seconds(f"{text} {more}") >= piece_speech_seconds(text)


@pytest.mark.parametrize("speed", [0.5, 0.8, 1.25, 2.0])
def test_the_estimate_is_inversely_proportional_to_speed(speed: float) -> None:
    text = "我有3个苹果。I have three apples.\n\nSecond paragraph, with a pause."
    assert estimate(text, speed) == pytest.approx(estimate(text) / speed)


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError):
        estimate_speech_seconds([Sentence("你好", 0.0)], 0)


def test_pauses_count() -> None:
    pieces = [Sentence("你好。", 0.6), Sentence("再见。", 0.0)]
    silent = [Sentence("你好。", 0.0), Sentence("再见。", 0.0)]
    assert estimate_speech_seconds(pieces) == pytest.approx(estimate_speech_seconds(silent) + 0.6)
    assert estimate_speech_seconds(pieces, 2.0) == pytest.approx(estimate_speech_seconds(silent, 2.0) + 0.3)


def test_nothing_to_say_is_no_speech() -> None:
    assert estimate_speech_seconds([]) == 0.0
    assert piece_speech_seconds("。！？") == 0.0
    assert estimate("。。。") == 0.0


def test_long_numbers_read_digit_by_digit_make_long_speech() -> None:
    phone = estimate("我的电话是" + "1" * 900)
    assert phone > 150  # 900 digits, each a syllable, and the cuts between the engine's pieces
    assert phone == pytest.approx(estimate("我的电话是" + "一" * 900))
    assert estimate("9" * 400) > 100  # "nine nine nine …"
    assert estimate("$" + "9" * 400) > estimate("9" * 400)


def test_letters_on_their_own_lines_are_spelled_out_with_pauses() -> None:
    lines = "\n".join(["b"] * 50)
    pieces = split_sentences(normalize(lines), MAX_CHARS)
    assert len(pieces) == 50
    spoken = 50 * (PIECE_SECONDS + SPELLED_LETTER_SECONDS) + 49 * PAUSE_SENTENCE
    assert estimate_speech_seconds(pieces) == pytest.approx(spoken)  # the engine: 38-44 s


def test_words_by_letters_and_acronyms_letter_by_letter() -> None:
    assert piece_speech_seconds("extraordinarily") > piece_speech_seconds("cat")
    assert piece_speech_seconds("FBI") == pytest.approx(PIECE_SECONDS + 3 * SPELLED_LETTER_SECONDS)
    assert piece_speech_seconds("NASA") < piece_speech_seconds("N A S A")
    assert piece_speech_seconds("I saw it.") > piece_speech_seconds("saw it.")


def test_every_normalized_text_has_a_finite_estimate() -> None:
    for text in ["", "😀", "สวัสดี", "mp3 4K", "1.2.3", "Ça va?", "𠀀𠀁", "9" * 5000]:
        seconds = estimate(text)
        assert 0.0 <= seconds < float("inf")
