"""Chinese text as it is spoken: Arabic numerals, money, dates, times and units in Chinese words.

cn2an reads numbers, percentages, fractions and "2024年" years; this module first rewrites what it
reads wrongly (thousands separators, ISO dates, clock times, phone numbers, unit symbols, currency
signs) into forms it reads right. Numbers it cannot read (more than numbers.MAX_WHOLE_DIGITS digits
before the point or after it) are read digit by digit here, in every form.

Numbers are read in their context, as a Mandarin speaker says them: 2 before a measure word is 两
(两个人, 两点十五分, 两千元, but 第二名 and 二月); numbers after 电话, 房间, 编号… are read digit by
digit (拨打一一零), and so are the decades of a generation (九零后); year ranges (二零二四到二零二五),
other ranges (百分之五到百分之十) and scores (三比一) get their words.
"""

from __future__ import annotations

import re

import cn2an

from megatts3_server.text.numbers import MAX_WHOLE_DIGITS, too_long

_CURRENCIES = {"$": "美元", "¥": "元", "￥": "元", "€": "欧元", "£": "英镑"}
_UNITS = {
    "km/h": "公里每小时",
    "km": "公里",
    "cm": "厘米",
    "mm": "毫米",
    "m": "米",
    "kg": "千克",
    "mg": "毫克",
    "g": "克",
    "ml": "毫升",
    "l": "升",
    "L": "升",
    "ms": "毫秒",
    "s": "秒",
    "h": "小时",
    "GB": "吉字节",
    "MB": "兆字节",
    "KB": "千字节",
    "TB": "太字节",
    "°C": "摄氏度",
    "℃": "摄氏度",
    "°F": "华氏度",
    "°": "度",
}
_DIGITS = "零一二三四五六七八九"

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-/.](0?[1-9]|1[0-2])[-/.](0?[1-9]|[12]\d|3[01])(?!\d)")
_TIME = re.compile(r"(?<!\d)([01]?\d|2[0-3])[:：]([0-5]\d)(?:[:：]([0-5]\d))?(?!\d)")
# Phone numbers, ids and codes: long digit strings, or ones with a leading zero, are read digit by digit.
_DIGIT_STRING = re.compile(r"(?<![\d.])(?:0\d+|\d{7,})(?![\d.])")
_CURRENCY = re.compile(r"([$¥￥€£])\s?(\d+(?:\.\d+)?)(\s?[万亿])?")
# A number too long for cn2an, with its sign and percent sign: read digit by digit here.
_LONG_NUMBER = re.compile(r"(?<!\d)(?P<sign>-)?(?P<whole>\d+)(?:\.(?P<fraction>\d+))?(?P<percent>\s?%)?(?![\d])")
_UNIT = re.compile(
    r"(?<!\d)(\d+(?:\.\d+)?)\s?("
    + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    + r")(?![A-Za-z/])"
)
_DASH_RANGE = re.compile(r"(?<=[\d%])\s?[~～\-–—]\s?(?=\d)")
# Year ranges, read digit by digit on both sides.
_YEAR_RANGE = re.compile(r"(?<!\d)([12]\d{3})\s?[-–—~～至到]\s?([12]\d{3})(?!\d)")
# Hyphenated service numbers (400-820-8820): digit by digit, the hyphens as short pauses.
_HYPHENATED_NUMBER = re.compile(r"(?<![\d.])\d{3,4}(?:-\d{3,4}){1,2}(?![\d.])")
# Numbers that are names, not quantities: after these words they are read digit by digit.
_DIGITS_CUE = re.compile(
    r"(电话|手机|号码|拨打|打给|编号|房间|房号|门牌|尾号|密码|验证码|邮编|车次|航班|工号|学号|账号|单号|分机)"
    r"((?:号码|号|是|为|：|:|\s)*)(\d{3,})"
)
# A generation: 90后, 00后.
_GENERATION = re.compile(r"(?<!\d)(\d0)后")
# A score or ratio (3:1), once clock times have been read.
_SCORE = re.compile(r"(?<![\d.])(\d{1,3})\s?[:：]\s?(\d{1,3})(?![\d.])")
# 2 before a measure word is 两 (not after 第, a digit or a decimal point).
_MEASURE_WORDS = (
    "个位名人次天周岁倍只条张本件辆家种项场台部块元角斤米克双对套杯碗瓶首句篇遍趟份匹头架座棵朵片间所门声口步眼回"
)
_MEASURE_PHRASES = r"年(?!级)|点(?!\d)|小时|分钟|公里|千克|公斤|毫升|升"
_TWO_OF = re.compile(rf"(?<![\d.第])2(?![\d.])(?=\s?(?:[{_MEASURE_WORDS}]|{_MEASURE_PHRASES}))")
# cn2an writes 二千 / 二万 / 二亿 where a speaker says 两 (not in 十二万).
_TWO_THOUSAND = re.compile(r"(?<![十])二(?=[千万亿])")
# Digits cn2an left as they were (forms it does not read, such as "1.2.3"): read one by one.
_LEFT_DIGITS = re.compile(r"[0-9]+")


def normalize_chinese(text: str) -> str:
    """Spell out the numbers and symbols of a sentence that contains Chinese."""
    text = _THOUSANDS.sub("", text)
    text = _ISO_DATE.sub(lambda m: f"{m[1]}年{int(m[2])}月{int(m[3])}日", text)
    text = _YEAR_RANGE.sub(lambda m: f"{_say_digits(m[1])}到{_say_digits(m[2])}", text)
    text = _HYPHENATED_NUMBER.sub(lambda m: "，".join(_say_digits(part) for part in m[0].split("-")), text)
    text = _DIGITS_CUE.sub(lambda m: f"{m[1]}{m[2]}{_say_digits(m[3])}", text)
    text = _GENERATION.sub(lambda m: f"{_say_digits(m[1])}后", text)
    text = _TIME.sub(_say_time, text)
    text = _SCORE.sub(lambda m: f"{cn2an.an2cn(int(m[1]))}比{cn2an.an2cn(int(m[2]))}", text)
    text = _TWO_OF.sub("两", text)
    text = _CURRENCY.sub(lambda m: f"{_say_amount(m[2])}{(m[3] or '').strip()}{_CURRENCIES[m[1]]}", text)
    text = _UNIT.sub(lambda m: f"{m[1]}{_UNITS[m[2]]}", text)
    text = _LONG_NUMBER.sub(_say_long_number, text)
    text = _DIGIT_STRING.sub(lambda m: _say_digits(m[0]), text)
    text = _DASH_RANGE.sub("到", text)
    text = _TWO_THOUSAND.sub("两", cn2an.transform(text, "an2cn"))
    return _LEFT_DIGITS.sub(lambda m: _say_digits(m[0]), text)


def _say_digits(digits: str) -> str:
    return "".join(_DIGITS[int(d)] for d in digits)


def _say_decimal(whole: str, fraction: str | None) -> str:
    """Digit by digit, the fraction after 点."""
    return _say_digits(whole) + (f"点{_say_digits(fraction)}" if fraction else "")


def _say_amount(amount: str) -> str:
    """A currency amount ("12.5") in words: cn2an's reading, or digit by digit when too long."""
    whole, _, fraction = amount.partition(".")
    if too_long(whole) or len(fraction) > MAX_WHOLE_DIGITS:
        return _say_decimal(whole, fraction)
    return cn2an.an2cn(f"{int(whole)}.{fraction}" if fraction else str(int(whole)))


def _say_long_number(match: re.Match[str]) -> str:
    whole, fraction = match["whole"], match["fraction"]
    if not too_long(whole) and len(fraction or "") <= MAX_WHOLE_DIGITS:
        return match[0]  # cn2an reads it (or _DIGIT_STRING, for a phone-like run)
    said = ("负" if match["sign"] else "") + _say_decimal(whole, fraction)
    return f"百分之{said}" if match["percent"] else said


def _say_time(match: re.Match[str]) -> str:
    hour, minute = int(match[1]), int(match[2])
    said = f"{'两' if hour == 2 else cn2an.an2cn(hour)}点"
    if minute:
        said += f"{'零' if minute < 10 else ''}{cn2an.an2cn(minute)}分"
    if match[3] and int(match[3]):
        said += f"{cn2an.an2cn(int(match[3]))}秒"
    return said
