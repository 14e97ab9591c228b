"""Sentence splitting: engine-sized pieces with pauses that follow the text's structure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from megatts3_server.text import Sentence, split_sentences
from megatts3_server.text.split import PAUSE_CLAUSE, PAUSE_CUT, PAUSE_PARAGRAPH, PAUSE_SENTENCE


def test_sentences_and_paragraphs_get_their_pauses() -> None:
    pieces = split_sentences("第一句。第二句！\n\nHello world. Bye", 100)
    assert pieces == [
        Sentence("第一句。", PAUSE_SENTENCE),
        Sentence("第二句！", PAUSE_PARAGRAPH),
        Sentence("Hello world.", PAUSE_SENTENCE),
        Sentence("Bye", 0.0),
    ]


def test_decimal_points_do_not_end_a_sentence() -> None:
    assert [p.text for p in split_sentences("Pi is 3.14 roughly. Yes.", 100)] == ["Pi is 3.14 roughly.", "Yes."]


def test_long_sentence_splits_at_clauses_first() -> None:
    pieces = split_sentences("第二段，很长很长的句子，有逗号，还有更多的内容在这里。", 12)
    assert [p.text for p in pieces] == ["第二段，很长很长的句子，", "有逗号，", "还有更多的内容在这里。"]
    assert [p.pause_after for p in pieces] == [PAUSE_CLAUSE, PAUSE_CLAUSE, 0.0]


def test_long_clause_splits_at_spaces_then_hard() -> None:
    words = split_sentences("alpha beta gamma delta", 11)
    assert [p.text for p in words] == ["alpha beta", "gamma delta"]
    assert words[0].pause_after == PAUSE_CUT
    runs = split_sentences("一" * 25, 10)
    assert [len(p.text) for p in runs] == [10, 10, 5]


def test_pieces_with_nothing_to_speak_are_dropped() -> None:
    assert split_sentences("。。。！！", 10) == []
    assert [p.text for p in split_sentences("你好。\n……\n再见。", 10)] == ["你好。", "再见。"]


@given(st.text(alphabet='ab 一二，。,.!?\n“”"「」’', max_size=300), st.integers(min_value=1, max_value=40))
def test_no_piece_is_longer_than_the_limit_and_no_word_is_lost(text: str, limit: int) -> None:
    pieces = split_sentences(text, limit)
    assert all(1 <= len(p.text) <= limit for p in pieces)
    spoken = [c for c in text if c.isalnum()]
    assert [c for p in pieces for c in p.text if c.isalnum()] == spoken
    if pieces:
        assert pieces[-1].pause_after == 0.0


def test_first_piece_can_be_shorter_but_only_at_clause_breaks() -> None:
    text = "第一句很长，有一个逗号在这里，然后继续说下去直到句子结束。第二句。"
    pieces = split_sentences(text, 100, first_max_chars=10)
    assert [p.text for p in pieces] == [
        "第一句很长，",
        "有一个逗号在这里，",
        "然后继续说下去直到句子结束。",
        "第二句。",
    ]
    unbroken = split_sentences("一二三四五六七八九十一二三四五。", 100, first_max_chars=5)
    assert [p.text for p in unbroken] == ["一二三四五六七八九十一二三四五。"]


def test_a_quoted_utterance_is_one_piece_with_its_closing_mark() -> None:
    def texts(text: str, limit: int = 100) -> list[str]:
        return [p.text for p in split_sentences(text, limit)]

    assert texts("“你还没睡？已经十二点半了。”") == ["“你还没睡？已经十二点半了。”"]
    assert texts("他说：“你还没睡？已经十二点半了。”她点点头。") == ["他说：“你还没睡？已经十二点半了。”", "她点点头。"]
    assert texts("「你還沒睡？已經十二點半了。」她問。") == ["「你還沒睡？已經十二點半了。」", "她問。"]
    assert texts('"Are you awake? It\'s half past twelve." She nodded.') == [
        '"Are you awake? It\'s half past twelve."',
        "She nodded.",
    ]
    # An apostrophe (’) closes no quotation.
    assert texts("“I’m tired. Go away.” He left.") == ["“I’m tired. Go away.”", "He left."]
    # A quotation that ends in the middle of a sentence: the sentences as they are.
    assert texts("“你好。”他说，“再见。”") == ["“你好。”", "他说，“再见。”"]


def test_a_closing_mark_ends_with_its_sentence() -> None:
    assert [p.text for p in split_sentences('"Go home." She left.', 100)] == ['"Go home."', "She left."]
    assert [p.text for p in split_sentences("『好。』走吧。", 100)] == ["『好。』", "走吧。"]


def test_a_quotation_too_long_for_one_piece_or_never_closed_is_cut_at_its_sentences() -> None:
    pieces = split_sentences("“第一句话很长。第二句话也很长。”", 10)
    assert [p.text for p in pieces] == ["“第一句话很长。", "第二句话也很长。”"]
    assert pieces[0].pause_after == PAUSE_SENTENCE
    assert [p.text for p in split_sentences("“你好。再见。", 100)] == ["“你好。", "再见。"]


def test_an_abbreviations_full_stop_does_not_end_the_sentence() -> None:
    pieces = split_sentences("Dr. Smith met Mrs. Brown, e.g. at St. Paul. It costs approx. five dollars. He left.", 200)
    assert [piece.text for piece in pieces] == [
        "Dr. Smith met Mrs. Brown, e.g. at St. Paul.",
        "It costs approx. five dollars.",
        "He left.",
    ]
    assert [piece.pause_after for piece in pieces] == [PAUSE_SENTENCE, PAUSE_SENTENCE, 0.0]
