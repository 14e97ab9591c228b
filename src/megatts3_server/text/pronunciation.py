"""Readings the user chooses: a lexicon of words, and marks in the text for one occurrence.

A reading is pinyin with tones, one syllable per Han character (``chong2 qing4``; tones 1-4, and 5
for the neutral tone; ü may be written ``v``), or phonemes in the engine's own alphabet between
slashes (``/kˈOkəɹO/``), for English words, names and acronyms. In text, ``[重]{chong2}`` reads that
one occurrence so. A lexicon (the global one, or a request's own) marks every occurrence of its
words the same way, outside text the user marked already: a mark in the text beats any lexicon.

Marked text keeps its marks on the way to the engine. Normalization and sentence splitting see each
mark as one placeholder character (``hide`` / ``restore``), so digits inside a mark are not spelled
out and a mark is never cut in two; an engine that cannot take readings gets the written words
(``written``). Where a lexicon's words are found in a text is lexicon.py.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from megatts3_server.text.script import HAN

# [written]{reading}: neither part holds brackets, braces or a line break.
MARK = re.compile(r"\[([^\[\]{}\n]+)\]\{([^\[\]{}\n]*)\}")
# Private-use characters stand for hidden marks; the same range is removed from text before hiding.
PLACEHOLDER_FIRST, PLACEHOLDER_LAST = 0xE000, 0xF8FF
PLACEHOLDER_CLASS = "\ue000-\uf8ff"
_PLACEHOLDER = re.compile(f"[{PLACEHOLDER_CLASS}]")
_SYLLABLE = re.compile(r"([a-z]+)(\d)")
_PHONEMES = re.compile(r"/([^/]*)/")
_HAN_CHAR = re.compile(f"[{HAN}]")
MAX_WORD_CHARS = 64
# A reading longer than this is no word's (a 40-syllable name is 200 characters of pinyin).
MAX_READING_CHARS = 256


class PronunciationError(ValueError):
    """A reading or a lexicon entry that cannot be used; the message names it."""

    def __init__(self, word: str, message: str) -> None:
        super().__init__(f"{word!r}: {message}")
        self.word = word


@functools.cache
def _known_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable pypinyin's dictionary uses (ü written v): about 430."""
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    return frozenset(
        to_normal(reading).replace("ü", "v") for readings in pinyin_dict.values() for reading in readings.split(",")
    )


@dataclass(frozen=True)
class Reading:
    """Pinyin syllables with their tones (``("chong2", "qing4")``, ü as v), or engine phonemes."""

    pinyin: tuple[str, ...] = ()
    phonemes: str = ""

    def __str__(self) -> str:
        return f"/{self.phonemes}/" if self.phonemes else " ".join(self.pinyin)


def parse_reading(word: str, value: str) -> Reading:
    """The reading ``value`` gives ``word``; PronunciationError names what is wrong with it."""
    value = value.strip()
    if len(value) > MAX_READING_CHARS:
        raise PronunciationError(word, f"the reading is {len(value)} characters; at most {MAX_READING_CHARS}")
    if odd := _odd_character(value):
        raise PronunciationError(word, f"a reading cannot hold U+{ord(odd):04X} (a control character)")
    if phonemes := _PHONEMES.fullmatch(value):
        if not phonemes[1].strip():
            raise PronunciationError(word, "the phonemes between the slashes are empty")
        return Reading(phonemes=phonemes[1].strip())
    syllables = value.lower().replace("ü", "v").replace("u:", "v").split()
    if not syllables:
        raise PronunciationError(word, "the reading is empty; give pinyin with tones (chong2) or /phonemes/")
    for syllable in syllables:
        parts = _SYLLABLE.fullmatch(syllable)
        if parts is None:
            raise PronunciationError(
                word, f"{syllable!r} is not a pinyin syllable with its tone, as in chong2 (or give /phonemes/)"
            )
        if parts[2] not in "12345":
            raise PronunciationError(word, f"tone {parts[2]} in {syllable!r} is outside 1-5 (5: the neutral tone)")
        if parts[1] not in _known_syllables():
            raise PronunciationError(word, f"{parts[1]!r} is not a pinyin syllable")
    characters = [char for char in word if not char.isspace()]
    han = sum(bool(_HAN_CHAR.match(char)) for char in characters)
    if han == len(characters) and han != len(syllables):
        raise PronunciationError(word, f"{len(syllables)} syllables for {han} characters; give one per character")
    return Reading(pinyin=tuple(syllables))


def check_word(word: str) -> str:
    """A lexicon word as stored (stripped); PronunciationError if it cannot be one."""
    stripped = word.strip()
    if not stripped or len(stripped) > MAX_WORD_CHARS:
        raise PronunciationError(word, f"a lexicon word has 1 to {MAX_WORD_CHARS} characters")
    if re.search(r"[\[\]{}\n]", stripped) or _PLACEHOLDER.search(stripped):
        raise PronunciationError(word, "a lexicon word cannot hold brackets, braces or line breaks")
    if odd := _odd_character(stripped):
        raise PronunciationError(
            word,
            f"a lexicon word cannot hold U+{ord(odd):04X} (a control character, or what undecodable bytes "
            "become); send the word as UTF-8 text",
        )
    return stripped


def _odd_character(text: str) -> str | None:
    """The first character of ``text`` that no word or reading holds (_not_text), or None."""
    # isprintable() is False for every character _not_text refuses (and for some it allows): checked first.
    if text.isprintable() and "\ufffd" not in text:
        return None
    return next((char for char in text if _not_text(char)), None)


def _not_text(char: str) -> bool:
    """A control character, U+FFFD (the stand-in for bytes that were not UTF-8), a noncharacter or a
    lone surrogate: never part of a word someone reads."""
    point = ord(char)
    noncharacter = 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE
    return noncharacter or char == "\ufffd" or unicodedata.category(char) in ("Cc", "Cs")


def check_marks(text: str) -> None:
    """Raise PronunciationError for the first mark in ``text`` whose reading is not valid."""
    for mark in MARK.finditer(text):
        parse_reading(mark[1], mark[2])


def hide(text: str) -> tuple[str, list[str]]:
    """``text`` with each mark replaced by one placeholder character, and the marks in order."""
    marks: list[str] = []

    def swap(mark: re.Match[str]) -> str:
        if PLACEHOLDER_FIRST + len(marks) > PLACEHOLDER_LAST:
            return mark[1]  # beyond 6,400 marks in one text: the rest are spoken as written
        marks.append(mark[0])
        return chr(PLACEHOLDER_FIRST + len(marks) - 1)

    return MARK.sub(swap, _PLACEHOLDER.sub("", text)), marks


def restore(text: str, marks: list[str]) -> str:
    """``text`` (a part of what hide() gave, transformed or not) with its marks back in place."""
    if not marks:
        return text
    return _PLACEHOLDER.sub(lambda found: marks[ord(found[0]) - PLACEHOLDER_FIRST], text)


def written(text: str) -> str:
    """``text`` with every mark replaced by its written words (what a reader sees, or an engine
    without readings speaks)."""
    return MARK.sub(lambda mark: mark[1], text)
