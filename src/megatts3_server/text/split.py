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
# Marks that close a quotation or a parenthesis: they end with the sentence they follow.
_CLOSERS = "”’\"')）」』»》〉"
_SENTENCES = re.compile(rf".+?(?:[。！？!?；;…]+[{_CLOSERS}]*|\.[{_CLOSERS}]*(?=\s|$)|\n|$)", re.S)
# Quotation marks by the mark that closes each; a straight double quote closes itself.
_QUOTE_OPENERS = {"”": "“", "’": "‘", "」": "「", "』": "『", "»": "«"}
# A full stop that ends an abbreviation, not a sentence: a title before a name ("Dr. Smith"), "e.g."
# and "i.e.", or any full stop the next sentence starts after in lower case ("approx. five").
_ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|St|Mt|Jr|Sr|Rev|Gen|Col|Capt|Lt|Sgt|vs)|\be\.g|\bi\.e)\.\s*$")
_LOWER_START = re.compile(r"\s*[a-z]")
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
        sentences = _keep_quotations_whole(_keep_abbreviations_whole(sentences), max_chars)
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


def _keep_abbreviations_whole(sentences: list[str]) -> list[str]:
    """Sentences cut at an abbreviation's full stop joined back (``Dr.`` ``Smith arrived.``): one
    sentence, one piece, no sentence pause after the title."""
    joined: list[str] = []
    for sentence in sentences:
        after_stop = joined and joined[-1].rstrip().endswith(".")
        if after_stop and (_ABBREVIATION.search(joined[-1]) or _LOWER_START.match(sentence)):
            joined[-1] += sentence
        else:
            joined.append(sentence)
    return joined


def _open_quotes(text: str, before: str = "") -> str:
    """The quotation marks still open after ``text`` (innermost last), given those open before it.
    A closing mark that closes nothing (’ as an apostrophe) changes nothing; a straight double quote
    also closes a curly one (English normalization writes ” straight)."""
    stack = before
    for char in text:
        if char in _QUOTE_OPENERS.values():
            stack += char
        elif char in _QUOTE_OPENERS:
            opener = _QUOTE_OPENERS[char]
            if opener in stack:
                stack = stack[: stack.rindex(opener)]
        elif char == '"':
            stack = stack[:-1] if stack.endswith(('"', "“")) else stack + '"'
    return stack


def _keep_quotations_whole(sentences: list[str], max_chars: int) -> list[str]:
    """A quotation of several sentences (``“你还没睡？已经十二点半了。”``) joined back into one piece,
    with what leads into it, when it fits ``max_chars``: one utterance, one engine call and one
    subtitle cue. A longer one (or one never closed) stays cut at its sentences."""
    joined: list[str] = []
    start = 0
    while start < len(sentences):
        end, stack = start, _open_quotes(sentences[start])
        while stack and end + 1 < len(sentences):
            if len("".join(sentences[start : end + 2]).strip()) > max_chars:
                break
            end += 1
            stack = _open_quotes(sentences[end], stack)
        if stack:  # not closed within max_chars: the sentences as they were
            end = start
        joined.append("".join(sentences[start : end + 1]))
        start = end + 1
    return joined


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
