"""Text -> Kokoro phonemes for Chinese, English and sentences that mix both.

Han runs go through mandarin.py (jieba words -> pinyin with tone sandhi -> IPA with tone arrows,
the phoneme set Kokoro v1.0's Mandarin voices were trained on); every other run goes through espeak-ng
(shipped by espeakng-loader) with misaki's mapping onto Kokoro's American-English phoneme set. A
word marked with its reading (``[重]{chong2}``, text/pronunciation.py) is spoken as the reading says:
pinyin through the same pinyin-to-IPA table, phonemes as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from megatts3_server.engines.kokoro.espeak_copies import private_library_copies
from megatts3_server.text.pronunciation import MARK, PronunciationError, parse_reading
from megatts3_server.text.script import HAN

# Chinese punctuation travels with the Han run so the Chinese G2P maps it to pauses.
_ZH_PUNCT = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\u2018\u2019\u201c\u201d\u2026\u2014"
_RUNS = re.compile(rf"([{HAN}][{HAN}{_ZH_PUNCT}\s]*)|([^{HAN}]+)")
_HAS_WORD = re.compile(r"[A-Za-z0-9]")
_BEFORE_PUNCTUATION = re.compile(r" (?=[.,!?;:…])")


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
        pieces: list[str] = []
        position = 0
        for mark in MARK.finditer(text):
            pieces += [self._unmarked(text[position : mark.start()]), self._reading(mark[1], mark[2])]
            position = mark.end()
        pieces.append(self._unmarked(text[position:]))
        # Punctuation after a marked word sticks to it, as the G2P writes it everywhere else.
        return _BEFORE_PUNCTUATION.sub("", " ".join(piece for piece in pieces if piece))

    def _reading(self, written: str, value: str) -> str:
        try:
            reading = parse_reading(written, value)
        except PronunciationError:  # checked when the request came in; spoken as written if not
            return self._unmarked(written)
        if reading.phonemes:
            return reading.phonemes
        return "".join(self._chinese.py2ipa(syllable) for syllable in reading.pinyin)

    def _unmarked(self, text: str) -> str:
        pieces: list[str] = []
        for han, other in _RUNS.findall(text):
            if han:
                pieces.append(self._chinese(han).strip())
            elif _HAS_WORD.search(other):
                phonemes, _ = self._english(_Token(other.strip()))
                pieces.append((phonemes or "").strip())
            elif other.strip():  # punctuation alone (after a marked word, say): as the Chinese G2P maps it
                pieces.append(self._chinese.map_punctuation(other))
        return " ".join(piece for piece in pieces if piece)
