"""Text -> Kokoro phonemes for Chinese, English and sentences that mix both.

Han runs go through mandarin.py (jieba words -> pinyin with tone sandhi -> IPA with tone arrows,
the phoneme set Kokoro v1.0's Mandarin voices were trained on); every other run goes through espeak-ng
(shipped by espeakng-loader) with misaki's mapping onto Kokoro's American-English phoneme set. A
word marked with its reading (``[重]{chong2}``, text/pronunciation.py) is spoken as the reading says:
pinyin through the same pinyin-to-IPA table, phonemes as given.

``segments()`` keeps the language of each run (Mandarin or English): the engine speaks a run in a
language that is not the voice's own with another style (engines/kokoro/prosody.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from megatts3_server.engines.kokoro.espeak_copies import private_library_copies
from megatts3_server.text.pronunciation import MARK, PronunciationError, parse_reading
from megatts3_server.text.script import HAN

# Chinese punctuation travels with the Han run so the Chinese G2P maps it to pauses.
_ZH_PUNCT = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\u2018\u2019\u201c\u201d\u2026\u2014"
_RUNS = re.compile(rf"([{HAN}][{HAN}{_ZH_PUNCT}\s]*)|([^{HAN}]+)")
_HAS_WORD = re.compile(r"[A-Za-z0-9]")
# Quotation marks are not read aloud. Kokoro's Mandarin voices speak an opening “ as a syllable (“你到底
# 想说什么？” was heard as 以你到底想说什么), so the Chinese G2P never sees them; the pause around a
# quotation comes from the punctuation inside it.
_QUOTES = re.compile('[\u201c\u201d\u2018\u2019\u300c-\u300f\ufe41-\ufe44"]')
_BEFORE_PUNCTUATION = re.compile(r" (?=[.,!?;:…])")
_HAN = re.compile(f"[{HAN}]")


ZH, EN = "zh", "en"
"""The languages of text runs: what the two G2Ps speak."""


@dataclass(frozen=True)
class Segment:
    """A run of phonemes and the language its text was read in (``None``: punctuation alone)."""

    language: str | None
    phonemes: str


def join(phonemes: Iterable[str]) -> str:
    """Phoneme runs as one string: a space between runs, none before punctuation."""
    return _BEFORE_PUNCTUATION.sub("", " ".join(piece for piece in phonemes if piece))


def runs_by_language(segments: list[Segment]) -> list[Segment]:
    """Neighbouring segments of one language joined; punctuation alone goes with the run before it
    (or, first in the text, with the run after it)."""
    runs: list[Segment] = []
    leading: list[str] = []
    for segment in segments:
        if segment.language is None and not runs:
            leading.append(segment.phonemes)
        elif runs and segment.language in (None, runs[-1].language):
            runs[-1] = Segment(runs[-1].language, join([runs[-1].phonemes, segment.phonemes]))
        else:
            runs.append(Segment(segment.language, join([*leading, segment.phonemes])))
            leading = []
    if leading:  # punctuation and nothing else
        runs.append(Segment(None, join(leading)))
    return runs


@dataclass(frozen=True)
class _Token:
    """The shape misaki's espeak fallback expects (it reads ``.text``)."""

    text: str


class Phonemizer:
    """Callable: text -> phoneme string in Kokoro's alphabet."""

    def __init__(self, *, tone_sandhi: bool = True) -> None:
        # Imported here: loading jieba's dictionary and espeak takes ~1 s, paid at engine load.
        from misaki.espeak import EspeakFallback

        from megatts3_server.engines.kokoro.mandarin import MandarinG2P

        self._chinese = MandarinG2P(tone_sandhi=tone_sandhi)
        with private_library_copies():  # espeak-ng's library copies: deleted once loaded (espeak_copies.py)
            self._english = EspeakFallback(british=False)
        self._chinese("预热")  # build jieba's prefix dictionary now, not on the first request

    def __call__(self, text: str) -> str:
        # Punctuation after a marked word sticks to it, as the G2P writes it everywhere else.
        return join(segment.phonemes for segment in self.segments(text))

    def segments(self, text: str) -> list[Segment]:
        """The phonemes of ``text`` run by run, each with the language it was read in, in order."""
        segments: list[Segment] = []
        position = 0
        for mark in MARK.finditer(text):
            segments += [*self._unmarked(text[position : mark.start()]), *self._reading(mark[1], mark[2])]
            position = mark.end()
        segments += self._unmarked(text[position:])
        return [segment for segment in segments if segment.phonemes]

    def _reading(self, written: str, value: str) -> list[Segment]:
        try:
            reading = parse_reading(written, value)
        except PronunciationError:  # checked when the request came in; spoken as written if not
            return self._unmarked(written)
        if reading.phonemes:  # a Han word read in phonemes is still a Chinese word in Chinese text
            return [Segment(ZH if _HAN.search(written) else EN, reading.phonemes)]
        return [Segment(ZH, "".join(self._chinese.py2ipa(syllable) for syllable in reading.pinyin))]

    def _unmarked(self, text: str) -> list[Segment]:
        segments: list[Segment] = []
        for han, other in _RUNS.findall(text):
            if han:
                segments.append(Segment(ZH, self._chinese(_QUOTES.sub("", han)).strip()))
            elif _HAS_WORD.search(other):
                phonemes, _ = self._english(_Token(other.strip()))
                segments.append(Segment(EN, (phonemes or "").strip()))
            elif (unquoted := _QUOTES.sub("", other)).strip():  # punctuation alone: as the Chinese G2P maps it
                segments.append(Segment(None, self._chinese.map_punctuation(unquoted)))
        return segments
