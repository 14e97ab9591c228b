"""A checked text as the engine's pieces: its marks hidden, the rest normalized and split into
sentences, the marks put back (or only their written words, for an engine that cannot take readings).

The one place text/'s steps run (hide, normalize, split, restore). A request is normalized whole, then
split (a stream's first piece kept short); a job segment is split first, so that each sentence keeps
its text as written for the subtitles, then normalized piece by piece. One order for both would need a
normalization that maps each normalized character back to the written one (split first, and "Dr. Smith"
splits at "Dr."; normalize first, and the subtitles lose the written sentences).
"""

from __future__ import annotations

from megatts3_server.text import Sentence, normalize, split_sentences
from megatts3_server.text.pronunciation import hide, restore, written

# The first piece of a text is kept short (split at its first clause break) so that its audio, and a
# stream's first bytes, come soon: ~16 Chinese characters are ~3 s of speech, ~1 s to synthesize on 2 cores.
_FIRST_PIECE_CHARS = 16


def _engine_text(piece: str, marks: list[str], readings: bool) -> str:
    marked = restore(piece, marks)
    return marked if readings else written(marked)


def request_pieces(text: str, max_chars: int, *, readings: bool, stream: bool) -> tuple[list[Sentence], str]:
    """(the pieces as the engine speaks them, the whole normalized text with its marks: what the
    audio depends on)."""
    hidden, marks = hide(text)
    normalized = normalize(hidden)
    # Only a stream gains from a short first piece; a whole response would just pay one more engine call.
    first = _FIRST_PIECE_CHARS if stream else None
    pieces = [
        Sentence(_engine_text(piece.text, marks, readings), piece.pause_after)
        for piece in split_sentences(normalized, max_chars, first_max_chars=first)
    ]
    return pieces, restore(normalized, marks)


def segment_pieces(text: str, max_chars: int, *, readings: bool) -> list[tuple[str, Sentence]]:
    """A job segment's sentences: each as written (its subtitle) and as the engine speaks it, with the
    pause after it (the last one's is 0)."""
    hidden, marks = hide(text)
    return [
        (
            written(restore(piece.text, marks)),
            Sentence(_engine_text(normalize(piece.text), marks, readings), piece.pause_after),
        )
        for piece in split_sentences(hidden, max_chars)
    ]
