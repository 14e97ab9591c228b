"""Which reading a Mandarin polyphone takes, where pypinyin's dictionary alone reads it wrong.

pypinyin reads a word from its phrase dictionary, else each character at its most frequent reading.
That leaves common words out (最长, 全长 read zhǎng; 背着 read bèi) and knows nothing of the words
around: 还 ends a clause only as huán, 种 before 了/着/过/的 is the verb zhòng, and 地/得 after a
verb or an adverb are the particle de. ``READINGS`` are words pypinyin lacks or misreads (looked up
inside longer words too: jieba's 全长约 holds 全长); ``read_in_context`` applies the rules that need
the neighbouring words (得 after a subject is dé or děi, not the particle). Both give dictionary
tones: the tone sandhi comes after (mandarin.py).
"""

from __future__ import annotations

from pypinyin.constants import PHRASES_DICT

READINGS: dict[str, tuple[str, ...]] = {
    # 背 bēi "carry on the back" before an aspect or direction; bèi (the back) keeps its own words.
    "背着": ("bei1", "zhe5"),
    "背起": ("bei1", "qi3"),
    "背走": ("bei1", "zou3"),
    # 长 cháng "long" in a length; zhǎng is to grow, or a chief.
    "全长": ("quan2", "chang2"),
    # 开通 as a line or a service opened (kāitōng); the neutral kāitong is "open-minded", rare in text.
    "开通": ("kai1", "tong1"),
}

VERB_DE = "v:de"
"""The part of speech ``read_in_context`` gives a 得 it read as a verb (dé, děi): the sandhi leaves its tone."""

# Before 长 (or in the same word), these make it the adjective cháng: 最长, 很长, 太长, 多长.
_DEGREE = ("最", "很", "太", "更", "较", "挺", "好", "多", "超", "过", "偏", "这么", "那么", "非常", "特别", "相当")
# After the verb 种 (zhòng, to plant): the aspect particles and 的 closing a clause about it; after a
# demonstrative or a number 种 is the measure word zhǒng (这种, 两种).
_AFTER_VERB_ZHONG = ("了", "着", "过", "的", "下", "在", "满", "上")
_BEFORE_MEASURE_ZHONG = "这那哪各某每几此该本同多一二两三四五六七八九十百千万"


def dictionary_syllables(word: str, syllables: list[str]) -> list[str]:
    """``syllables`` (pypinyin's reading of ``word``) with every ``READINGS`` entry inside the word applied."""
    if word in PHRASES_DICT:  # pypinyin has the whole word: its reading stands
        return syllables
    read = list(syllables)
    for entry, reading in READINGS.items():
        start = word.find(entry)
        while start != -1:
            read[start : start + len(entry)] = reading
            start = word.find(entry, start + len(entry))
    return read


def read_in_context(words: list[tuple[str, str]], syllables: list[list[str]]) -> None:
    """Change, in place, the syllables of polyphones whose reading depends on the words around them.

    ``words`` are one clause's jieba words with their parts of speech (punctuation ends a clause, so
    the last word ends one), ``syllables`` each word's dictionary reading. A 得 read as a verb gets the
    part of speech ``VERB_DE``.
    """
    for index, (word, pos) in enumerate(words):
        read = syllables[index]
        following = words[index + 1][0] if index + 1 < len(words) else ""
        before = words[index - 1][0] if index else ""
        if len(read) != len(word):
            continue
        if word == "还" and not following:  # 还 "still" never ends a clause; 还 "give back" may (照我还)
            read[0] = "huan2"
        elif word == "地" and pos.startswith("u"):  # the adverbial particle: 温柔地
            read[0] = "de5"
        elif word == "得" and index and words[index - 1][1][:1] in "rn":
            # After a subject, not a verb, 得 is no complement's particle: dé "got" before 了 (他得了第一),
            # else děi "must" (我得走了, 这事得快点办); only a pronoun is trusted for děi, jieba tags
            # some verbs as nouns.
            if following == "了":
                read[0] = "de2"
                words[index] = (word, VERB_DE)
            elif words[index - 1][1].startswith("r"):
                read[0] = "dei3"
                words[index] = (word, VERB_DE)
        for at, char in enumerate(word):
            if char == "地" and word not in PHRASES_DICT and _after_reduplication(before + word[:at]):
                read[at] = "de5"  # 慢慢地, 静静地, glued to its adverb (or to the verb after: 慢慢/地站)
            elif char == "长" and read[at] == "zhang3" and word not in PHRASES_DICT:
                # cháng after a degree word (很长), or heading a noun the dictionary lacks (长椅, 长裙: its
                # zhǎng nouns, 长辈 长官 长子, are all there); 长 alone stays zhǎng (长得很高 is growing).
                if _after_degree(word[:at] or before) or (at == 0 and len(word) > 1 and pos.startswith("n")):
                    read[at] = "chang2"
            elif char == "种" and at == len(word) - 1 and _verb_zhong(word, before, following):
                read[at] = "zhong4"
            elif char == "得" and at > 0 and read[at] == "de2" and _complement_de(word, at):
                read[at] = "de5"


def _after_reduplication(text: str) -> bool:
    return len(text) >= 2 and text[-1] == text[-2]


def _after_degree(text: str) -> bool:
    return bool(text) and text.endswith(_DEGREE)


def _verb_zhong(word: str, before: str, following: str) -> bool:
    preceding = (before + word)[-2:-1]
    return (
        word not in PHRASES_DICT
        and following.startswith(_AFTER_VERB_ZHONG)
        and not (preceding and preceding in _BEFORE_MEASURE_ZHONG)
    )


def _complement_de(word: str, at: int) -> bool:
    """得 inside a word that no dictionary knows, after a character it does not form a word with, is the
    particle of a complement (睡得正香, 累得说不出), not dé (获得, 取得 are dictionary words)."""
    return word not in PHRASES_DICT and word[at - 1 : at + 1] not in PHRASES_DICT
