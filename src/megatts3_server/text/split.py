"""Normalized text -> pieces short enough for the engine, each with the pause that follows it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from megatts3_server.text.pronunciation import PLACEHOLDER_CLASS

# Seconds of silence after a piece, by how the piece ended.
PAUSE_PARAGRAPH = 0.6
PAUSE_SENTENCE = 0.35
PAUSE_CLAUSE = 0.15
PAUSE_CUT = 0.05

_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r".+?(?:[。！？!?；;…]+[”’\"')）]*|\.(?=\s|$)[\"')]*|\n|$)", re.S)
_CLAUSES = re.compile(r".+?(?:[，,、：:—]+|$)", re.S)
# A word character, or a mark hidden as one placeholder (pronunciation.hide).
_SPEAKABLE = re.compile(rf"[\w{PLACEHOLDER_CLASS}]")


@dataclass(frozen=True)
class Sentence:
    """A piece of text for one engine call and the pause (seconds) to leave after it."""

    text: str
    pause_after: float


def split_sentences(text: str, max_chars: int, first_max_chars: int | None = None) -> list[Sentence]:
    """Split at paragraphs and sentence ends; split longer sentences at clauses, then spaces.

    No piece is longer than ``max_chars``; a run with no break at all (Chinese without punctuation)
    is cut at ``max_chars``. Pieces with nothing to speak (only punctuation) are dropped, and the
    last piece has no pause after it. ``first_max_chars`` asks for a shorter first piece (so that
    its audio comes sooner), split only at clause breaks.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    pieces: list[Sentence] = []
    for paragraph in _PARAGRAPHS.split(text):
        sentences = [m[0] for m in _SENTENCES.finditer(paragraph.strip()) if m[0].strip()]
        for index, sentence in enumerate(sentences):
            last = index == len(sentences) - 1
            pieces.extend(_fit(sentence.strip(), max_chars, PAUSE_PARAGRAPH if last else PAUSE_SENTENCE))
    pieces = [piece for piece in pieces if _SPEAKABLE.search(piece.text)]
    if first_max_chars is not None and pieces and len(pieces[0].text) > first_max_chars:
        pieces[:1] = _fit(pieces[0].text, first_max_chars, pieces[0].pause_after, cut=False)
        pieces = [piece for piece in pieces if _SPEAKABLE.search(piece.text)]
    if pieces:
        pieces[-1] = Sentence(pieces[-1].text, 0.0)
    return pieces


def _fit(sentence: str, max_chars: int, pause: float, *, cut: bool = True) -> list[Sentence]:
    """``sentence`` as pieces of at most ``max_chars``, the last one followed by ``pause``.

    With ``cut=False`` only clause breaks split: a clause stays whole, however long.
    """
    if len(sentence) <= max_chars:
        return [Sentence(sentence, pause)]
    clauses = _pack([m[0] for m in _CLAUSES.finditer(sentence) if m[0].strip()], max_chars)
    pieces: list[Sentence] = []
    for index, clause in enumerate(clauses):
        after = pause if index == len(clauses) - 1 else PAUSE_CLAUSE
        if len(clause) <= max_chars or not cut:
            pieces.append(Sentence(clause, after))
            continue
        runs = _pack(re.findall(r"\S+\s*", clause), max_chars)
        for run_index, run in enumerate(runs):
            run_pause = after if run_index == len(runs) - 1 else PAUSE_CUT
            pieces.extend(_cut(run, max_chars, run_pause))
    return pieces


def _pack(parts: list[str], max_chars: int) -> list[str]:
    """Greedily join consecutive parts while the result stays within ``max_chars``."""
    packed: list[str] = []
    for part in parts:
        if packed and len(packed[-1]) + len(part) <= max_chars:
            packed[-1] += part
        else:
            packed.append(part)
    return [part.strip() for part in packed if part.strip()]


def _cut(text: str, max_chars: int, pause: float) -> list[Sentence]:
    """Hard cuts for a run with no break in it; the pieces in between get a short pause."""
    chunks = [text[i : i + max_chars] for i in range(0, len(text), max_chars)]
    return [Sentence(chunk, pause if i == len(chunks) - 1 else PAUSE_CUT) for i, chunk in enumerate(chunks)]
