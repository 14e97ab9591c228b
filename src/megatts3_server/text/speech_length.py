"""How long the speech of a text lasts, estimated from its normalized pieces before any synthesis.

The pieces are what ``split_sentences(normalize(text), max_chars)`` gives: the words to speak, so a
long number is already its digit words ("一三八…", "nine nine …") and is estimated as such. A piece
lasts

    PIECE_SECONDS
    + HAN_SECONDS a Chinese character (HAN_DIGIT_SECONDS in a run of Chinese digits)
    + WORD_SECONDS + LETTER_SECONDS a letter, for each other word
      (SPELLED_LETTER_SECONDS a letter for a word read letter by letter: "b", "FBI", "HTML")
    + DIGIT_SECONDS a digit left inside a word ("mp3") + BREAK_SECONDS a comma (colon …) inside it

and then its ``pause_after``; the sum is divided by the speed (the engine speaks ``speed`` times
faster, and the service shortens the pauses alike).

A word marked with its reading (``[重庆]{chong2 qing4}``, from the text or a lexicon) lasts as its
reading says, not as it is written: HAN_SECONDS a pinyin syllable, or for phonemes WORD_SECONDS a
word and LETTER_SECONDS a phoneme (stress marks not counted). So ``[9999…]{jiu3}`` is one syllable
and a lexicon entry read as a hundred syllables makes a hundred syllables of speech wherever it occurs.

Calibration: the embedded Kokoro engine (stock voices voice_001 and voice_005, speed 1) spoke 30
texts — short and long Chinese and English sentences, money, dates, acronyms, mixed Chinese and
English, "我的电话是" + 900 digits, 400 nines in both languages, 50 lines of one letter — and the
constants were fitted to its 342 pieces (least squares on relative error), then rounded up a
little so that the estimate errs long: it is for planning (timeouts, quotas), an upper estimate
rather than a prediction to the frame. Over the 60 (text, voice) pairs it is 3.7 % above the
real duration on average and within -17 % ("Hi.") to +23 % of every one; speeds 0.75 and 1.5 keep
to the same band. The engine's duration scales with 1/speed only roughly (±10 %).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from megatts3_server.text.pronunciation import MARK
from megatts3_server.text.script import HAN
from megatts3_server.text.split import Sentence

# Seconds, at speed 1 (see the module docstring for how they were calibrated).
PIECE_SECONDS = 0.33  # an engine call's onset and release
HAN_SECONDS = 0.24  # a Chinese character (a syllable)
HAN_DIGIT_SECONDS = 0.19  # a Chinese digit in a run of digits ("一三八…"): read faster, no tone sandhi
WORD_SECONDS = 0.03  # a word's onset, plus LETTER_SECONDS a letter
LETTER_SECONDS = 0.062
SPELLED_LETTER_SECONDS = 0.18  # a letter read on its own ("b", the letters of "FBI")
DIGIT_SECONDS = 0.3  # a digit left inside a word ("mp3"), read as its English word
BREAK_SECONDS = 0.05  # a comma, colon, dash … inside a piece

_HAN_RANGES = f"{HAN}\U00020000-\U0003ffff"  # script.HAN's blocks and the supplementary planes' ideographs
_HAN_CHAR = re.compile(f"[{_HAN_RANGES}]")
_HAN_DIGIT_RUN = re.compile("[零〇一二三四五六七八九幺]{3,}")
# A word: letters of any script but Han (apostrophes inside, "don't"); digits are counted apart.
_WORD = re.compile(rf"(?:(?![{_HAN_RANGES}])[^\W\d_])+(?:'(?:(?![{_HAN_RANGES}])[^\W\d_])+)*")
_DIGIT = re.compile(r"\d")
# A break the engine pauses at (one at the end of a piece is not: the engine's silence there is trimmed).
_BREAK = re.compile(r"[,，、;；:：—]+")
_VOWEL = re.compile(r"[aeiouyàâäáãåæéèêëíìîïóòôöõøœúùûüýÿ]", re.I)


def estimate_speech_seconds(pieces: Iterable[Sentence], speed: float = 1.0) -> float:
    """Seconds of audio the pieces make at ``speed``: their speech and the pauses after them."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    total = sum(piece_speech_seconds(piece.text) + max(0.0, piece.pause_after) for piece in pieces)
    return total / speed


def piece_speech_seconds(text: str) -> float:
    """Seconds of speech of one normalized piece at speed 1, without the pause after it."""
    readings = [mark[2].strip() for mark in MARK.finditer(text)]
    if not readings:
        return _unmarked_seconds(text)
    rest = _unmarked_seconds(MARK.sub(" ", text)) or PIECE_SECONDS  # a piece that is only marks still has its onset
    return rest + sum(_reading_seconds(reading) for reading in readings)


def _reading_seconds(reading: str) -> float:
    """Seconds of one mark's reading: pinyin syllables, or /phonemes/."""
    if reading.startswith("/"):
        words = reading.strip("/").split()
        return sum(WORD_SECONDS + LETTER_SECONDS * len(word.replace("ˈ", "").replace("ˌ", "")) for word in words)
    return HAN_SECONDS * len(reading.split())


def _unmarked_seconds(text: str) -> float:
    if not any(char.isalnum() for char in text):
        return 0.0
    han_digits = sum(len(run) for run in _HAN_DIGIT_RUN.findall(text))
    seconds = PIECE_SECONDS
    seconds += HAN_SECONDS * (len(_HAN_CHAR.findall(text)) - han_digits) + HAN_DIGIT_SECONDS * han_digits
    seconds += sum(_word_seconds(word) for word in _WORD.findall(text))
    seconds += DIGIT_SECONDS * len(_DIGIT.findall(text))
    spoken_end = _spoken_end(text)
    seconds += BREAK_SECONDS * sum(1 for match in _BREAK.finditer(text) if match.end() < spoken_end)
    return seconds


def _spoken_end(text: str) -> int:
    """Where the last letter or digit of ``text`` ends."""
    end = len(text)
    while end and not text[end - 1].isalnum():
        end -= 1
    return end


def _word_seconds(word: str) -> float:
    if _spelled(word):
        return SPELLED_LETTER_SECONDS * len(word)
    return WORD_SECONDS + LETTER_SECONDS * len(word)


def _spelled(word: str) -> bool:
    """Read letter by letter: a lone letter, a word in capitals of at most 3 letters ("FBI", "EU"), or
    a word without vowels ("HTML", "km"); espeak reads longer capitals with vowels as words ("NASA")."""
    return len(word) == 1 or (word.isupper() and len(word) <= 3) or not _VOWEL.search(word)
