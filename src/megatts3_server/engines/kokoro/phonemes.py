"""Text -> Kokoro phonemes for Chinese, English and sentences that mix both.

Han runs go through misaki's Chinese G2P (jieba words -> pinyin -> IPA with tone arrows, the
phoneme set Kokoro v1.0's Mandarin voices were trained on); every other run goes through espeak-ng
(shipped by espeakng-loader) with misaki's mapping onto Kokoro's American-English phoneme set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from megatts3_server.text.script import HAN

# Chinese punctuation travels with the Han run so the Chinese G2P maps it to pauses.
_ZH_PUNCT = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\u2018\u2019\u201c\u201d\u2026\u2014"
_RUNS = re.compile(rf"([{HAN}][{HAN}{_ZH_PUNCT}\s]*)|([^{HAN}]+)")
_HAS_WORD = re.compile(r"[A-Za-z0-9]")


@dataclass(frozen=True)
class _Token:
    """The shape misaki's espeak fallback expects (it reads ``.text``)."""

    text: str


class Phonemizer:
    """Callable: text -> phoneme string in Kokoro's alphabet."""

    def __init__(self) -> None:
        # Imported here: loading jieba's dictionary and espeak takes ~1 s, paid at engine load.
        from misaki.espeak import EspeakFallback
        from misaki.zh import ZHG2P

        self._chinese = ZHG2P()
        self._english = EspeakFallback(british=False)
        self._chinese("预热")  # build jieba's prefix dictionary now, not on the first request

    def __call__(self, text: str) -> str:
        pieces: list[str] = []
        for han, other in _RUNS.findall(text):
            if han:
                pieces.append(self._chinese(han)[0].strip())
            elif _HAS_WORD.search(other):
                phonemes, _ = self._english(_Token(other.strip()))
                pieces.append((phonemes or "").strip())
            elif other.strip():
                pieces.append(other.strip())
        return " ".join(piece for piece in pieces if piece)
