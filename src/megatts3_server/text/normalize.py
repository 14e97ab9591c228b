"""Written text -> the words to speak, sentence by sentence in the sentence's language."""

from __future__ import annotations

import re
import unicodedata

from megatts3_server.text.chinese import normalize_chinese
from megatts3_server.text.english import expand_abbreviations, normalize_english
from megatts3_server.text.script import fold_full_width, has_han

# A sentence for the choice of language: up to a sentence end (a "." only before space or the end,
# so "3.5" stays whole) or a line break.
_SENTENCE = re.compile(r".+?(?:[。！？!?；;…]+|\.(?=\s|$)|\n+|$)", re.S)
# Any whitespace but a line break (no-break and other Unicode spaces too): one space. Left in, a run of
# them made _PARAGRAPH's \s* backtrack quadratically (4,000 no-break spaces: 0.15 s).
_SPACES = re.compile(r"[^\S\n]+")
_PARAGRAPH = re.compile(r"\s*\n\s*\n\s*")
_LINE = re.compile(r" *\n *")
# Decimal digits of other scripts ("٣", "३"): read as the ASCII digits they are.
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
# Characters no engine should see: control characters other than line breaks and zero-width marks.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\u2060\ufeff]")


def normalize(text: str) -> str:
    """Clean ``text`` and spell out its numbers and symbols.

    A sentence that holds Chinese characters has its numbers read in Chinese, any other in English,
    so "我有3个apple" reads 三 and "I have 3 apples" reads three. Paragraph breaks are kept as a
    blank line, line breaks as one newline; other whitespace becomes one space. Any ``str`` is
    accepted: numbers too long to read as a whole are read digit by digit (see numbers.py).
    """
    text = _OTHER_DIGIT.sub(lambda m: str(unicodedata.decimal(m[0])), fold_full_width(text))
    text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _PARAGRAPH.sub("\n\n", text)
    text = expand_abbreviations(_LINE.sub("\n", text).strip())
    return "".join(_normalize_sentence(match[0]) for match in _SENTENCE.finditer(text))


def _normalize_sentence(sentence: str) -> str:
    return normalize_chinese(sentence) if has_han(sentence) else normalize_english(sentence)
