"""A lexicon: words and their readings (pronunciation.py), and where its words occur in a text.

One normalization decides both what a word is stored under and what a text is matched by:
``lexicon_key``, a case-insensitive key that keeps the text's length character for character, so a
word found in a text's key is the same span of the text itself. A character whose case mapping
would change the length (``İ`` lower-cases to ``i̇``, ``ß`` case-folds to ``ss``) keeps its lower
case of one character, or stays as it is: it then matches itself only.

At each position the longest word wins. A Latin word (ASCII letters, digits, ``.'&+-`` and spaces,
as brand names and acronyms are written) matches only as a whole word (no ASCII letter right before
or after it); any other word (Chinese) matches wherever it occurs. A text is scanned once, trying at
each position only the lengths of the words that start with its character: no pattern is compiled,
so a lexicon of 100,000 entries is ready as soon as its dictionary is built, and marking a text costs
its length times a few dictionary look-ups.

Lexicons stack without being copied: ``request.over(global)`` looks in the request's own entries
first, then in the global ones (the longest word across both still wins; for the same key, the upper
lexicon's reading). A request's lexicon costs its own entries, whatever the global lexicon's size.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

from megatts3_server.text.pronunciation import MARK, Reading, check_word, parse_reading

_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9 .'&+-]*")


@functools.lru_cache(maxsize=8192)
def _key_char(char: str) -> str:
    folded = char.casefold()
    if len(folded) == 1:
        return folded
    lowered = char.lower()
    return lowered if len(lowered) == 1 else char


def lexicon_key(text: str) -> str:
    """The case-insensitive key of ``text``, as long as ``text`` (its i-th character is the key of
    the text's i-th character). Lexicon words are stored under it and texts are matched by it."""
    if text.isascii():
        return text.lower()
    return "".join(map(_key_char, text))


# An entry: (the word as stored, its reading as text, whether it is a Latin word). Tuples of strings
# are left alone by the cyclic garbage collector, so 100,000 entries add nothing to a collection's walk.
_Entry = tuple[str, str, bool]


class _Table:
    """One lexicon's entries by key, and for each first character the lengths of its words."""

    def __init__(self, entries: Mapping[str, Reading | str]) -> None:
        self.by_key: dict[str, _Entry] = {}
        for word, reading in entries.items():  # two words with one key: the later one wins
            self.by_key[lexicon_key(word)] = (word, str(reading), _LATIN_WORD.fullmatch(word) is not None)
        lengths: dict[str, set[int]] = {}
        for key in self.by_key:
            lengths.setdefault(key[0], set()).add(len(key))
        self.lengths = {first: tuple(sorted(sizes, reverse=True)) for first, sizes in lengths.items()}


class Lexicon:
    """Words and their readings; Latin words match whole, in any letter case (module docstring)."""

    def __init__(self, entries: Mapping[str, Reading | str] | None = None) -> None:
        """``entries``: word -> its reading, parsed, or as text once it has been (it is not checked again)."""
        self._tables: tuple[_Table, ...] = (_Table(entries),) if entries else ()
        self._firsts = frozenset(first for table in self._tables for first in table.lengths)

    @classmethod
    def parse(cls, entries: Mapping[str, str]) -> Lexicon:
        """The lexicon of ``entries`` (word -> reading text); PronunciationError names a bad entry."""
        return cls({check_word(word): parse_reading(word, value) for word, value in entries.items()})

    @classmethod
    def _stacked(cls, tables: Iterable[_Table]) -> Lexicon:
        lexicon = cls()
        lexicon._tables = tuple(tables)
        lexicon._firsts = frozenset(first for table in lexicon._tables for first in table.lengths)
        return lexicon

    def over(self, below: Lexicon) -> Lexicon:
        """This lexicon on top of ``below`` (its entries win for the same key), neither copied."""
        if not below._tables:
            return self
        if not self._tables:
            return below
        return Lexicon._stacked(self._tables + below._tables)

    def __bool__(self) -> bool:
        return bool(self._tables)

    def __len__(self) -> int:
        return len(self._visible())

    def __contains__(self, word: object) -> bool:
        """Whether the lexicon answers for ``word``'s key."""
        return isinstance(word, str) and any(lexicon_key(word) in table.by_key for table in self._tables)

    def entries(self) -> dict[str, str]:
        """word -> reading, as text (what parse() reads back), of every key the lexicon answers for."""
        return {word: reading for word, reading, _ in sorted(self._visible())}

    def _visible(self) -> list[_Entry]:
        seen: dict[str, _Entry] = {}
        for table in reversed(self._tables):
            seen.update(table.by_key)
        return list(seen.values())

    def mark(self, text: str) -> str:
        """``text`` with every occurrence of a lexicon word outside the existing marks marked."""
        if not self._tables:
            return text
        parts, position = [], 0
        for mark in MARK.finditer(text):
            parts += [self._mark_plain(text[position : mark.start()]), mark[0]]
            position = mark.end()
        parts.append(self._mark_plain(text[position:]))
        return "".join(parts)

    def _mark_plain(self, text: str) -> str:
        key = lexicon_key(text)
        parts: list[str] = []
        start = index = 0
        firsts = self._firsts
        while index < len(text):
            if key[index] not in firsts:  # no word starts with this character (most of a text)
                index += 1
                continue
            found = self._longest(text, key, index)
            if found is None:
                index += 1
                continue
            length, reading = found
            parts += [text[start:index], f"[{text[index : index + length]}]{{{reading}}}"]
            index = start = index + length
        parts.append(text[start:])
        return "".join(parts)

    def _longest(self, text: str, key: str, index: int) -> tuple[int, str] | None:
        """The longest word at ``index`` (its length and reading), or None."""
        first = key[index]
        lengths = [length for table in self._tables for length in table.lengths.get(first, ())]
        if len(self._tables) > 1:
            lengths = sorted(set(lengths), reverse=True)
        for length in lengths:
            if index + length > len(text):
                continue
            candidate = key[index : index + length]
            for table in self._tables:
                entry = table.by_key.get(candidate)
                if entry is not None and (not entry[2] or _whole_word(text, index, index + length)):
                    return length, entry[1]
        return None


def _ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _whole_word(text: str, start: int, end: int) -> bool:
    """No ASCII letter right before ``start`` or right at ``end``."""
    return not (start > 0 and _ascii_letter(text[start - 1])) and not (end < len(text) and _ascii_letter(text[end]))
