"""Chinese text as it is spoken: Arabic numerals, money, dates, times and units in Chinese words.

cn2an reads numbers, percentages, fractions and "2024年" years; this module first rewrites what it
reads wrongly (thousands separators, ISO dates, clock times, phone numbers, unit symbols, currency
signs) into forms it reads right.
"""

from __future__ import annotations

import re

import cn2an

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
_UNIT = re.compile(
    r"(\d+(?:\.\d+)?)\s?(" + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True)) + r")(?![A-Za-z/])"
)
_DASH_RANGE = re.compile(r"(?<=\d)\s?[~～]\s?(?=\d)")


def normalize_chinese(text: str) -> str:
    """Spell out the numbers and symbols of a sentence that contains Chinese."""
    text = _THOUSANDS.sub("", text)
    text = _ISO_DATE.sub(lambda m: f"{m[1]}年{int(m[2])}月{int(m[3])}日", text)
    text = _TIME.sub(_say_time, text)
    text = _DIGIT_STRING.sub(lambda m: _say_digits(m[0]), text)
    text = _CURRENCY.sub(lambda m: f"{m[2]}{(m[3] or '').strip()}{_CURRENCIES[m[1]]}", text)
    text = _UNIT.sub(lambda m: f"{m[1]}{_UNITS[m[2]]}", text)
    text = _DASH_RANGE.sub("到", text)
    return cn2an.transform(text, "an2cn")


def _say_digits(digits: str) -> str:
    return "".join(_DIGITS[int(d)] for d in digits)


def _say_time(match: re.Match[str]) -> str:
    hour, minute = int(match[1]), int(match[2])
    said = f"{cn2an.an2cn(hour)}点"
    if minute:
        said += f"{'零' if minute < 10 else ''}{cn2an.an2cn(minute)}分"
    if match[3] and int(match[3]):
        said += f"{cn2an.an2cn(int(match[3]))}秒"
    return said
