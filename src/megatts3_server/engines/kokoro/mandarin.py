"""Han text -> Kokoro's Mandarin phonemes, with the tone changes a speaker makes.

jieba cuts the text into words with their parts of speech; pypinyin reads each word whole (so
polyphones follow the word); the tone sandhi rules misaki ships (PaddleSpeech's: 三声连读, 一 and 不
before other tones, neutral tones of particles, suffixes and reduplications) change the tones; and
misaki's pinyin-to-IPA table writes the phonemes with Kokoro's tone arrows. Without sandhi this is
misaki's own legacy Chinese G2P (the dictionary tone of every syllable), kept for comparison
(bench/intelligibility.py --g2p plain).
"""

from __future__ import annotations

import re

_HAN_RUNS = re.compile(r"[\u4e00-\u9fff]+|[^\u4e00-\u9fff]+")
_COMBINING_BRIDGE = chr(815)  # a diacritic pinyin_to_ipa leaves that Kokoro's vocabulary lacks


class MandarinG2P:
    def __init__(self, *, tone_sandhi: bool = True) -> None:
        import jieba.posseg
        from misaki.tone_sandhi import ToneSandhi
        from misaki.zh import ZHG2P
        from pypinyin import Style, lazy_pinyin

        self._cut = jieba.posseg.lcut
        self._sandhi = ToneSandhi() if tone_sandhi else None
        self._to_ipa = ZHG2P.py2ipa
        self._map_punctuation = ZHG2P.map_punctuation
        self._syllables = lambda word: lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)
        self._finals = lambda word: lazy_pinyin(word, style=Style.FINALS_TONE3, neutral_tone_with_five=True)

    def map_punctuation(self, text: str) -> str:
        """Chinese punctuation as the pauses Kokoro knows (，→ ", ", 。→ ". ")."""
        return self._map_punctuation(text)

    def py2ipa(self, syllable: str) -> str:
        """One pinyin syllable with its tone number ("chong2") in Kokoro's phonemes."""
        return self._to_ipa(syllable).replace(_COMBINING_BRIDGE, "")

    def __call__(self, text: str) -> str:
        import cn2an

        text = self._map_punctuation(cn2an.transform(text, "an2cn"))
        parts = []
        for run in _HAN_RUNS.findall(text):
            is_han = run[0] >= "\u4e00" and run[0] <= "\u9fff"
            parts.append(" ".join(self._word(word, pos) for word, pos in self._words(run)) if is_han else run)
        return "".join(parts).replace(_COMBINING_BRIDGE, "")

    def _words(self, run: str) -> list[tuple[str, str]]:
        words = [(pair.word, pair.flag) for pair in self._cut(run)]
        return self._sandhi.pre_merge_for_modify(words) if self._sandhi else words

    def _word_syllables(self, word: str, pos: str) -> list[str]:
        syllables = self._syllables(word)
        if self._sandhi is not None and len(syllables) == len(word):
            finals = self._sandhi.modified_tone(word, pos, self._finals(word))
            syllables = [_with_tone(syllable, final) for syllable, final in zip(syllables, finals, strict=True)]
        return syllables

    def _word(self, word: str, pos: str) -> str:
        return "".join(self._ipa(syllable) for syllable in self._word_syllables(word, pos))

    def _ipa(self, syllable: str) -> str:
        try:
            return self._to_ipa(syllable)
        except (
            ValueError,
            AssertionError,
            KeyError,
            IndexError,
        ):  # not a pinyin syllable (pypinyin left it as written)
            return ""


def _with_tone(syllable: str, final: str) -> str:
    """``syllable`` with the tone number the sandhi gave its final."""
    if syllable[-1:].isdigit() and final[-1:].isdigit():
        return syllable[:-1] + final[-1]
    return syllable
