"""Readings the user chooses: the reading syntax, the lexicon's matching, and marks surviving
normalization and sentence splitting whole."""

from __future__ import annotations

import pytest

from megatts3_server.text import normalize, split_sentences
from megatts3_server.text.lexicon import Lexicon
from megatts3_server.text.pronunciation import (
    PronunciationError,
    check_marks,
    hide,
    parse_reading,
    restore,
    written,
)


def test_pinyin_and_phoneme_readings_parse() -> None:
    assert parse_reading("重庆", "chong2 qing4").pinyin == ("chong2", "qing4")
    assert parse_reading("绿", "lü4").pinyin == ("lv4",)
    assert parse_reading("了", "le5").pinyin == ("le5",)
    assert parse_reading("Yeepay", " /jˈipA/ ").phonemes == "jˈipA"
    assert str(parse_reading("重庆", "CHONG2  qing4")) == "chong2 qing4"


@pytest.mark.parametrize(
    ("word", "reading", "said"),
    [
        ("重庆", "chong2 qingg4", "'qingg' is not a pinyin syllable"),
        ("重庆", "chong6 qing4", "tone 6"),
        ("重庆", "chong qing", "'chong' is not a pinyin syllable with its tone"),
        ("重庆", "chong2", "1 syllables for 2 characters"),
        ("重庆", "", "empty"),
        ("Yeepay", "//", "empty"),
    ],
)
def test_a_bad_reading_is_refused_naming_the_entry(word: str, reading: str, said: str) -> None:
    with pytest.raises(PronunciationError, match=said) as refused:
        parse_reading(word, reading)
    assert refused.value.word == word
    assert repr(word) in str(refused.value)


def test_a_lexicon_with_one_bad_entry_is_refused_whole() -> None:
    with pytest.raises(PronunciationError) as refused:
        Lexicon.parse({"重庆": "chong2 qing4", "长沙": "chang2 shaa1"})
    assert refused.value.word == "长沙"


def test_the_longest_word_wins_and_latin_words_match_whole_in_any_case() -> None:
    lexicon = Lexicon.parse({"重庆": "chong2 qing4", "重庆市": "chong2 qing4 shi4", "API": "/ˌApiˈI/"})
    marked = lexicon.mark("重庆市和重庆都用API，api和APIs和rapid不同。")
    assert marked == (
        "[重庆市]{chong2 qing4 shi4}和[重庆]{chong2 qing4}都用[API]{/ˌApiˈI/}，[api]{/ˌApiˈI/}和APIs和rapid不同。"
    )


def test_a_mark_in_the_text_beats_the_lexicon() -> None:
    lexicon = Lexicon.parse({"重": "chong2"})
    assert lexicon.mark("[重]{zhong4}要的是重来。") == "[重]{zhong4}要的是[重]{chong2}来。"


def test_the_request_lexicon_wins_over_the_global_one() -> None:
    stacked = Lexicon.parse({"api": "/B/"}).over(Lexicon.parse({"重庆": "chong2 qing4", "API": "/A/"}))
    assert stacked.entries() == {"重庆": "chong2 qing4", "api": "/B/"}
    assert stacked.mark("API") == "[API]{/B/}"


def test_check_marks_finds_a_bad_inline_reading() -> None:
    check_marks("我要去[重庆]{chong2 qing4}。")
    with pytest.raises(PronunciationError, match="tone 9"):
        check_marks("我要去[重]{chong9}庆。")


def test_marks_survive_normalization_and_splitting_whole() -> None:
    text = "他在[2024]{er4 ling2 er4 si4}年说：[A.I.]{/ˌAˈI/}很好。我有3个[长]{zhang3}辈。"
    hidden, marks = hide(text)
    pieces = [restore(piece.text, marks) for piece in split_sentences(normalize(hidden), 100)]
    assert pieces == ["他在[2024]{er4 ling2 er4 si4}年说：[A.I.]{/ˌAˈI/}很好。", "我有三个[长]{zhang3}辈。"]
    assert [written(piece) for piece in pieces] == ["他在2024年说：A.I.很好。", "我有三个长辈。"]


def test_a_piece_that_is_only_a_mark_is_still_spoken() -> None:
    hidden, marks = hide("[API]{/ˌApiˈI/}。")
    (piece,) = split_sentences(normalize(hidden), 100)
    assert restore(piece.text, marks).startswith("[API]{/ˌApiˈI/}")


def test_private_use_characters_in_the_text_cannot_pose_as_marks() -> None:
    hidden, marks = hide("\ue000你好[重]{chong2}")
    assert restore(hidden, marks) == "你好[重]{chong2}"
