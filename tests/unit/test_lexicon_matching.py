"""Where a lexicon's words are found: one key function for the words and the texts, whatever the
letter case (Unicode's odd cases included), and stacked lexicons that read as one merged lexicon."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from megatts3_server.text.lexicon import Lexicon, lexicon_key
from megatts3_server.text.pronunciation import MARK, PronunciationError, check_word, written

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
# Letters whose case mappings change a length or depend on context, and their partners.
ODD_CASES = "İıiIßẞſsSΣσςǅǄǆﬁKkÅåΩωẞᾈᾀ"
LETTERS = st.characters(categories=("Lu", "Ll", "Lt", "Lm", "Lo", "Nd")) | st.sampled_from(ODD_CASES)
WORDS = st.text(LETTERS, min_size=1, max_size=8)
RECASINGS = (str.upper, str.lower, str.title, str.casefold, str.swapcase, lambda char: char)


def _variant(word: str, choices: list[int]) -> str:
    """``word`` with each character's case changed by one of RECASINGS."""
    return "".join(RECASINGS[choice % len(RECASINGS)](char) for char, choice in zip(word, choices, strict=False))


@PROPERTY
@given(st.text())
def test_the_key_keeps_the_length_and_is_its_own_key(text: str) -> None:
    key = lexicon_key(text)
    assert len(key) == len(text)
    assert lexicon_key(key) == key


@PROPERTY
@given(word=WORDS, choices=st.lists(st.integers(0, 5), min_size=8, max_size=8), before=st.sampled_from(["", "。", " "]))
def test_any_casing_of_a_word_is_marked_when_its_key_is_the_word_s_and_nothing_ever_fails(
    word: str, choices: list[int], before: str
) -> None:
    try:
        stored = check_word(word)
    except PronunciationError:
        return
    lexicon = Lexicon.parse({stored: "/ab/"})
    variant = _variant(stored, choices)
    text = f"{before}{variant} 。"
    marked = lexicon.mark(text)  # never a KeyError (the 500 of "Hİ")
    assert written(marked) == text  # marking only adds readings
    if lexicon_key(variant) == lexicon_key(stored):
        assert f"[{variant}]{{/ab/}}" in marked, (stored, variant, marked)
    for mark in MARK.finditer(marked):
        assert lexicon_key(mark[1]) == lexicon_key(stored)


def test_a_dotted_capital_i_is_no_key_error() -> None:
    lexicon = Lexicon.parse({"hi": "/hˈI/"})
    assert lexicon.mark("Hİ there.") == "Hİ there."  # İ is not i: no reading, and no error
    assert lexicon.mark("HI there, hi.") == "[HI]{/hˈI/} there, [hi]{/hˈI/}."
    assert Lexicon.parse({"hİ": "/hˈI/"}).mark("Hİ there.") == "[Hİ]{/hˈI/} there."


def test_sharp_s_and_final_sigma_match_their_own_cases() -> None:
    assert Lexicon.parse({"straße": "/ʃtɹˈɑsə/"}).mark("STRAẞE und Straße") == (
        "[STRAẞE]{/ʃtɹˈɑsə/} und [Straße]{/ʃtɹˈɑsə/}"
    )
    assert Lexicon.parse({"ΟΔΟΣ": "/oðˈos/"}).mark("οδος, ΟΔΟΣ, οδοσ") == (
        "[οδος]{/oðˈos/}, [ΟΔΟΣ]{/oðˈos/}, [οδοσ]{/oðˈos/}"
    )


SMALL_LEXICON = st.dictionaries(
    st.sampled_from(["ab", "AB", "abc", "b", "重庆", "重庆市", "庆", "C++", "a b", "İ", "i"]),
    st.sampled_from(["/x/", "/y/", "/z/"]),
    max_size=5,
)
TEXTS = st.text(st.sampled_from(list("abcABC 重庆市+İi.")), max_size=30)


@PROPERTY
@given(upper=SMALL_LEXICON, lower=SMALL_LEXICON, text=TEXTS)
def test_a_stacked_lexicon_marks_as_the_merged_one_would(upper: dict, lower: dict, text: str) -> None:
    def merged() -> dict[str, str]:
        by_key = {lexicon_key(word): (word, reading) for word, reading in lower.items()}
        by_key |= {lexicon_key(word): (word, reading) for word, reading in upper.items()}
        return dict(by_key.values())

    assert Lexicon.parse(upper).over(Lexicon.parse(lower)).mark(text) == Lexicon.parse(merged()).mark(text)


def test_words_that_cannot_be_lexicon_words_are_refused() -> None:
    for word in ("a\x00b", "\ufffd\ufffd", "x\ufffe", "tab\there", "a\u0085b"):
        try:
            check_word(word)
        except PronunciationError as refused:
            assert "U+" in str(refused)
        else:
            raise AssertionError(f"{word!r} was accepted")
    assert check_word(" 重庆 ") == "重庆"


def test_a_reading_with_a_control_character_is_refused() -> None:
    for reading in ("/a\x00b/", "chong2\x07", "/\ufffd/"):
        try:
            Lexicon.parse({"x": reading})
        except PronunciationError as refused:
            assert "U+" in str(refused)
        else:
            raise AssertionError(f"{reading!r} was accepted")


def test_a_long_reading_is_refused() -> None:
    try:
        Lexicon.parse({"the": " ".join(["ma1"] * 100)})
    except PronunciationError as refused:
        assert "at most 256" in str(refused)
    else:
        raise AssertionError("a 399-character reading was accepted")
