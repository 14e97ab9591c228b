"""Text normalization: what the engine is given to say for numbers, money, dates and symbols."""

from __future__ import annotations

import pytest

from megatts3_server.text import normalize


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("2024年3月5日", "二零二四年三月五日"),
        ("价格上涨了3.5%。", "价格上涨了百分之三点五。"),
        ("共1,234元", "共一千二百三十四元"),
        ("电话13812345678", "电话一三八一二三四五六七八"),
        ("10:05开会", "十点零五分开会"),
        ("会议在2024-03-05举行", "会议在二零二四年三月五日举行"),
        ("跑了5km", "跑了五公里"),
        ("花了¥12.5", "花了十二点五元"),
        ("需要3~5天", "需要三到五天"),
        ("我买了3个apple", "我买了三个apple"),
    ],
)
def test_chinese_sentences_read_numbers_in_chinese(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("It costs $12.50.", "It costs twelve dollars and fifty cents."),
        ("Only $1.", "Only one dollar."),
        ("Up 3.5% today.", "Up three point five percent today."),
        ("Born in 1987.", "Born in nineteen eighty-seven."),
        ("The 1990s.", "The nineteen nineties."),
        ("On March 5th, 2024.", "On March fifth, twenty twenty-four."),
        ("Due 2024-03-05.", "Due March fifth, twenty twenty-four."),
        ("At 10:30 am.", "At ten thirty a m."),
        ("At 9:05.", "At nine oh five."),
        ("The 21st floor.", "The twenty-first floor."),
        (
            "We had 1,234,567 visitors.",
            "We had one million two hundred and thirty-four thousand five hundred and sixty-seven visitors.",
        ),
        ("Run 5 km in 3-4 days.", "Run five kilometers in three to four days."),
        ("It was -3.5 degrees.", "It was minus three point five degrees."),
        ("Dr. Smith lives at No. 5.", "Doctor Smith lives at number five."),
        ("Tom & Jerry", "Tom  and  Jerry"),
    ],
)
def test_english_sentences_read_numbers_in_english(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


def test_each_sentence_of_a_mixed_text_is_read_in_its_own_language() -> None:
    assert normalize("I have 3 apples. 我有3个苹果。") == "I have three apples. 我有三个苹果。"


def test_full_width_input_is_folded_to_ascii() -> None:
    assert normalize("Ｈｅｌｌｏ　１２３！") == "Hello one hundred and twenty-three!"


def test_whitespace_is_collapsed_but_paragraphs_are_kept() -> None:
    assert normalize("  one\t\ttwo \n\n\n three\r\nfour\u200b ") == "one two\n\nthree\nfour"


def test_text_without_numbers_is_unchanged() -> None:
    text = "今天天气很好，我们一起去公园散步吧。The weather is lovely today!"
    assert normalize(text) == text
