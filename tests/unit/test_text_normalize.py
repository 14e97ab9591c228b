"""Text normalization: what the engine is given to say for numbers, money, dates and symbols."""

from __future__ import annotations

import re
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from megatts3_server.text import normalize, split_sentences
from megatts3_server.text.numbers import MAX_WHOLE_DIGITS


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
        ("我买了2个苹果，等了2小时。", "我买了两个苹果，等了两小时。"),
        ("下午2:15开会，2点见。", "下午两点十五分开会，两点见。"),
        ("他得了第2名，2月2日回来。", "他得了第二名，二月二日回来。"),
        ("他上2年级，学了2年。", "他上二年级，学了两年。"),
        ("一共2000元，来了2万人，12万人看了。", "一共两千元，来了两万人，十二万人看了。"),
        ("拨打110报警，房间号是1203。", "拨打一一零报警，房间号是一二零三。"),
        ("电话费用200元。", "电话费用二百元。"),
        ("客服电话400-820-8820。", "客服电话四零零，八二零，八八二零。"),
        ("他是90后，她是00后。", "他是九零后，她是零零后。"),
        ("2024-2025赛季", "二零二四到二零二五赛季"),
        ("利率在5%-10%之间，3-5天到。", "利率在百分之五到百分之十之间，三到五天到。"),
        ("比分是3:1。", "比分是三比一。"),
        ("价格是2.2元，降了-5度。", "价格是二点二元，降了负五度。"),
    ],
)
def test_chinese_numbers_are_read_as_their_context_says(written: str, spoken: str) -> None:
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


# Numbers too long to read as a whole are read digit by digit, in every form, in both languages.
N = "9" * 400
NINES = " ".join(["nine"] * 400)
JIU = "九" * 400


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        (N, NINES),
        (f"-{N}", f"minus {NINES}"),
        (f"{N}.25", f"{NINES} point two five"),
        (f"0.{N}", f"zero point {NINES}"),
        (",".join(["999"] * 134), " ".join(["nine"] * 402)),
        (f"${N}", f"{NINES} dollars"),
        (f"${N}.50", f"{NINES} dollars and fifty cents"),
        ("$" + ",".join(["999"] * 134), " ".join(["nine"] * 402) + " dollars"),
        (f"-€{N}", f"minus {NINES} euros"),
        (f"£{N} million", f"{NINES} million pounds"),
        (f"{N}%", f"{NINES} percent"),
        (f"-{N}.5%", f"minus {NINES} point five percent"),
        (f"{N}th", " ".join(["nine"] * 399) + " ninth"),
        (",".join(["999"] * 134) + "th", " ".join(["nine"] * 401) + " ninth"),
        (f"{N} km", f"{NINES} kilometers"),
        (f"{N}°C", f"{NINES} degrees Celsius"),
        (f"{N}-{N}", f"{NINES} to {NINES}"),
        ("９" * 400, NINES),  # full-width digits
        ("٩" * 400, NINES),  # Arabic-Indic digits
        ("Call 9" + "9" * 899 + " now.", "Call " + " ".join(["nine"] * 900) + " now."),
    ],
)
def test_english_numbers_of_any_length_are_read_digit_by_digit(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        (f"共{N}个", f"共{JIU}个"),
        (f"温度是-{N}度", f"温度是负{JIU}度"),
        (f"约{N}.25米", f"约{JIU}点二五米"),
        (f"圆周率是3.{N}", f"圆周率是三点{JIU}"),
        ("共" + ",".join(["999"] * 134) + "元", "共" + "九" * 402 + "元"),
        (f"花了${N}", f"花了{JIU}美元"),
        (f"花了¥{N}.5", f"花了{JIU}点五元"),
        (f"花了${N}万", f"花了{JIU}万美元"),
        (f"涨了{N}%", f"涨了百分之{JIU}"),
        (f"跌了-{N}.5%", f"跌了百分之负{JIU}点五"),
        (f"第{N}名", f"第{JIU}名"),
        (f"跑了{N}km", f"跑了{JIU}公里"),
        (f"共{'９' * 400}个", f"共{JIU}个"),  # full-width digits
        ("我的电话是" + "1" * 900, "我的电话是" + "一" * 900),
    ],
)
def test_chinese_numbers_of_any_length_are_read_digit_by_digit(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


def test_numbers_up_to_the_limit_are_read_as_a_whole() -> None:
    longest = "9" * MAX_WHOLE_DIGITS
    assert normalize(longest).startswith("nine hundred and ninety-nine trillion")
    assert normalize("1" + longest) == " ".join(["one"] + ["nine"] * MAX_WHOLE_DIGITS)
    assert normalize(f"${longest}").endswith("nine dollars")
    assert normalize(f"共{longest}.5元") == "共九百九十九万九千九百九十九亿九千九百九十九万九千九百九十九点五元"
    assert normalize(f"共1{longest}.5元") == "共一" + "九" * MAX_WHOLE_DIGITS + "点五元"


def test_large_money_and_ordinals_keep_their_words_whole() -> None:
    assert normalize("It is the 1,234,567th.") == (
        "It is the one million two hundred and thirty-four thousand five hundred and sixty-seventh."
    )
    assert normalize("花了¥1234567") == "花了一百二十三万四千五百六十七元"


# Text the front end must take without failing: anything (surrogates excepted: the API refuses them),
# and text made of what the number readers look for.
_ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
_DIGIT_RUNS = st.one_of(
    st.text("0123456789", min_size=1, max_size=30),
    st.integers(min_value=0, max_value=10**40).map(str),
    st.integers(min_value=300, max_value=1200).map(lambda n: "9" * n),
    st.text("０１２３４５６７８９٠١٢٣٤٥٦٧٨٩", min_size=1, max_size=20),
)
_PIECES = st.sampled_from(
    [",", ".", "-", "%", "$", "€", "£", "¥", "￥", "st", "nd", "rd", "th", "'s", "s", " ", "km", "km/h", "°C", "~",
     ":", "：", "/", "+", "&", "@", "\n", "\n\n", "。", "，", "！", "?", " am", " pm", "年", "月", "日", "元", "个",
     "万", "亿", "第", "百分之", "我有", "电话", "价格", "the ", "in ", "since ", "No. ", "Dr. ", "March ", "apple",
     "million", "Mſ. ", "K", "İ", "…", "—", "“", "”"]
)  # fmt: skip
_NUMBER_TEXT = st.lists(st.one_of(_PIECES, _DIGIT_RUNS), max_size=30).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(_ANY_TEXT, _NUMBER_TEXT), max_chars=st.integers(min_value=1, max_value=150))
def test_the_front_end_takes_any_text(text: str, max_chars: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cn2an warns (and keeps the digits) for numbers it cannot read
        spoken = normalize(text)
    assert isinstance(spoken, str)
    assert not re.search(rf"[0-9]{{{MAX_WHOLE_DIGITS + 1}}}", spoken)  # no number is left too long to read
    pieces = split_sentences(spoken, max_chars)
    assert all(0 < len(piece.text) <= max_chars and piece.pause_after >= 0 for piece in pieces)
    assert not pieces or pieces[-1].pause_after == 0
    assert all(piece.text for piece in split_sentences(text, max_chars, first_max_chars=5))
