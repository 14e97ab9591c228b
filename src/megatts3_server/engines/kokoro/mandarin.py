"""Han text -> Kokoro's Mandarin phonemes, with the tone changes a speaker makes.

jieba cuts the text into words with their parts of speech; pypinyin reads each word whole (so
polyphones follow the word), corrected where the word or its neighbours decide a polyphone that
pypinyin's dictionary misreads (mandarin_readings.py); the tone sandhi rules misaki ships
(PaddleSpeech's: 三声连读, 一 and 不 before other tones, neutral tones of particles, suffixes and
reduplications) change the tones; and misaki's pinyin-to-IPA table writes the phonemes with Kokoro's
tone arrows. Without sandhi this is misaki's own legacy Chinese G2P (the dictionary tone of every
syllable), kept for comparison (bench/intelligibility.py --g2p plain).
"""

from __future__ import annotations

import re

from megatts3_server.engines.kokoro.mandarin_readings import (
    READINGS,
    VERB_DE,
    dictionary_syllables,
    read_in_context,
)

_HAN_RUNS = re.compile(r"[\u4e00-\u9fff]+|[^\u4e00-\u9fff]+")
_COMBINING_BRIDGE = chr(815)  # a diacritic pinyin_to_ipa leaves that Kokoro's vocabulary lacks


class MandarinG2P:
    def __init__(self, *, tone_sandhi: bool = True) -> None:
        import jieba.posseg
        from misaki.tone_sandhi import ToneSandhi
        from misaki.zh import ZHG2P
        from pypinyin import Style, lazy_pinyin

        self._cut = jieba.posseg.lcut
        self._sandhi = _sandhi_keeping_dictionary_tones(ToneSandhi) if tone_sandhi else None
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
        parts = []
        for run in _runs(self._map_punctuation(_digits_as_han(text))):
            if _is_han(run):
                words = self._read(run)
                parts.append(" ".join("".join(self._ipa(syllable) for syllable in word) for word in words))
            else:
                parts.append(run)
        return "".join(parts).replace(_COMBINING_BRIDGE, "")

    def pinyin(self, text: str) -> list[str]:
        """The syllables (tone numbers, 5 neutral) spoken for the Han characters of ``text``."""
        runs = _runs(self._map_punctuation(_digits_as_han(text)))
        return [syllable for run in runs if _is_han(run) for word in self._read(run) for syllable in word]

    def _read(self, run: str) -> list[list[str]]:
        """Each word of a Han run (one clause: punctuation ends it) as its spoken syllables."""
        words = [(pair.word, pair.flag) for pair in self._cut(run)]
        if self._sandhi is None:
            return [self._syllables(word) for word, _ in words]
        words = self._sandhi.pre_merge_for_modify(words)
        syllables = [dictionary_syllables(word, self._syllables(word)) for word, _ in words]
        read_in_context(words, syllables)
        return [self._with_sandhi(word, pos, read) for (word, pos), read in zip(words, syllables, strict=True)]

    def _with_sandhi(self, word: str, pos: str, syllables: list[str]) -> list[str]:
        if len(syllables) != len(word):
            return syllables
        # The sandhi reads the tones of the finals: those of the syllables as corrected above.
        finals = [_with_tone(final, syllable) for final, syllable in zip(self._finals(word), syllables, strict=True)]
        finals = self._sandhi.modified_tone(word, pos, finals)
        return [_with_tone(syllable, final) for syllable, final in zip(syllables, finals, strict=True)]

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


def _digits_as_han(text: str) -> str:
    import cn2an

    return cn2an.transform(text, "an2cn")


def _runs(text: str) -> list[str]:
    return _HAN_RUNS.findall(text)


def _is_han(run: str) -> bool:
    return "\u4e00" <= run[0] <= "\u9fff"


def _with_tone(syllable: str, final: str) -> str:
    """``syllable`` with the tone number of ``final`` (the one the sandhi gave it)."""
    if syllable[-1:].isdigit() and final[-1:].isdigit():
        return syllable[:-1] + final[-1]
    return syllable


def _sandhi_keeping_dictionary_tones(base: type) -> object:
    """misaki's ToneSandhi, except that a word the dictionary reads with a full last tone keeps it.

    Its rule "a word ending in 的/地/得 ends neutral" is right for the particles and for words jieba
    glued to one (跑得, 慢慢地) but turns 获得 huòdé, 目的 mùdì and 土地 tǔdì into neutral tones; and
    its list of words that end neutral loses those ``READINGS`` reads otherwise (开通 kāitōng); and a
    得 read as a verb keeps its tone.
    """
    from pypinyin.constants import PHRASES_DICT

    class KeepingDictionaryTones(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.must_neural_tone_words = self.must_neural_tone_words - set(READINGS)

        def _neural_sandhi(self, word: str, pos: str, finals: list[str]) -> list[str]:
            if pos == VERB_DE:  # 得 as dé or děi (mandarin_readings.py), not the particle
                return finals
            last = finals[-1]
            finals = super()._neural_sandhi(word, pos, finals)
            if len(word) > 1 and word[-1] in "的地得" and word in PHRASES_DICT:
                finals[-1] = last
            return finals

    return KeepingDictionaryTones()
