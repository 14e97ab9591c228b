"""What a text expands to when read, estimated before any work: a mark lasts as its reading says, and
the longest number is measured as the number readers take it."""

from __future__ import annotations

import pytest

from megatts3_server.text.numbers import longest_number
from megatts3_server.text.speech_length import HAN_SECONDS, LETTER_SECONDS, PIECE_SECONDS, piece_speech_seconds


def test_a_mark_lasts_as_its_reading_not_as_it_is_written() -> None:
    one_syllable = piece_speech_seconds("[" + "9" * 900 + "]{jiu3}")
    assert one_syllable == pytest.approx(PIECE_SECONDS + HAN_SECONDS)
    assert piece_speech_seconds("[你]{ni3}") == pytest.approx(piece_speech_seconds("你"))
    sixty = piece_speech_seconds("[the]{" + " ".join(["ma1"] * 60) + "}")
    assert sixty == pytest.approx(PIECE_SECONDS + 60 * HAN_SECONDS)
    assert piece_speech_seconds("[the]{" + " ".join(["ma1"] * 60) + "} cat") > sixty


def test_phonemes_count_their_sounds_not_their_stress_marks() -> None:
    plain = piece_speech_seconds("[API]{/ApiI/}")
    assert piece_speech_seconds("[API]{/ˌApiˈI/}") == pytest.approx(plain)
    assert piece_speech_seconds("[API]{/" + "a" * 40 + "/}") > plain + 30 * LETTER_SECONDS


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("no number", 0),
        ("1,234,567.89 and 12", 9),
        ("9" * 321, 321),
        ("１２３４", 4),
        ("1 2 3 4 5", 1),
        (",".join(["999"] * 103), 309),
        ("0." + "1" * 400, 401),
        ("3:45, 10-20, 1/2", 2),
    ],
)
def test_the_longest_number_is_counted_as_the_readers_take_it(text: str, digits: int) -> None:
    assert longest_number(text) == digits
