"""English text as it is spoken: numbers, money, dates, times, units and abbreviations in words.

espeak would read many of these itself, but inconsistently ("$12.50" as "dollar twelve fifty",
"3rd" letter by letter in some voices); spelling them out here makes the engine's input plain words.
Numbers longer than numbers.MAX_WHOLE_DIGITS are read digit by digit ("nine nine nine ...").
"""

from __future__ import annotations

import re

from num2words import num2words

from megatts3_server.text.numbers import MAX_WHOLE_DIGITS, too_long

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_NAMES = "|".join([*_MONTHS, *(m[:3] for m in _MONTHS if len(m) > 3), "Sept"])
_SCALES = "thousand|million|billion|trillion"
# symbol -> (singular, plural, minor unit singular, minor unit plural)
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yuan", "yuan", "fen", "fen"),
}
# unit -> (singular, plural); matched only right after a number.
_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "m": ("meter", "meters"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "ml": ("milliliter", "milliliters"),
    "l": ("liter", "liters"),
    "ms": ("millisecond", "milliseconds"),
    "s": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"),
    "KB": ("kilobyte", "kilobytes"),
    "TB": ("terabyte", "terabytes"),
    "GHz": ("gigahertz", "gigahertz"),
    "MHz": ("megahertz", "megahertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "Hz": ("hertz", "hertz"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
}
_ABBREVIATIONS = {
    "Mr.": "Mister",
    "Mrs.": "Missus",
    "Ms.": "Miz",
    "Dr.": "Doctor",
    "Prof.": "Professor",
    "Sr.": "Senior",
    "Jr.": "Junior",
    "Mt.": "Mount",
    "vs.": "versus",
    "etc.": "et cetera",
    "e.g.": "for example",
    "i.e.": "that is",
    "approx.": "approximately",
}
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ABBREVIATIONS_BY_LOWER = {key.lower(): spoken for key, spoken in _ABBREVIATIONS.items()}
_YEAR_CUES = r"in|since|by|from|until|till|to|of|year|circa|before|after|around|during"

_NUMBER = r"\d{1,3}(?:,\d{3})+|\d+"
# Where a number may start: not inside a run of digits, nor at a group of "1,234,567" (trying each digit
# or group of a long number as a start would take time quadratic in its length).
_NUMBER_START = r"(?<!\d)(?!(?<=\d,)\d{3}(?!\d))"
_CURRENCY = re.compile(
    rf"(?P<sign>-)?(?P<symbol>[$€£¥])\s?(?P<whole>{_NUMBER})(?:\.(?P<fraction>\d+))?(?:\s?(?P<scale>{_SCALES})\b)?"
)
_PERCENT = re.compile(rf"{_NUMBER_START}(?P<number>-?(?:{_NUMBER})(?:\.\d+)?)\s?%")
_ISO_DATE = re.compile(r"\b(?P<year>\d{4})-(?P<month>0?[1-9]|1[0-2])-(?P<day>0?[1-9]|[12]\d|3[01])\b")
_MONTH_DAY = re.compile(
    rf"\b(?P<month>{_MONTH_NAMES})\.?\s+(?P<day>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>\d{{4}})\b)?"
)
_TIME = re.compile(r"\b(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)\b(?:\s?(?P<meridiem>[ap])\.?m\b)?", re.I)
_ORDINAL = re.compile(rf"\b{_NUMBER_START}(?P<number>{_NUMBER})(?:st|nd|rd|th)\b", re.I)
_DECADE = re.compile(r"\b(?P<number>1[1-9]\d0|20\d0)'?s\b")
_CUED_YEAR = re.compile(rf"\b(?P<cue>{_YEAR_CUES}|{_MONTH_NAMES})(?P<space>\s+)(?P<year>1[1-9]\d\d|20\d\d)\b(?![.,]\d)")
_RANGE = re.compile(r"(?<![\w.-])(?P<low>\d+(?:\.\d+)?)\s?[-–]\s?(?P<high>\d+(?:\.\d+)?)(?![\w.-]*\d)")
_UNIT_NAMES = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))
_UNIT_AFTER_NUMBER = re.compile(
    rf"{_NUMBER_START}(?P<number>-?(?:{_NUMBER})(?:\.\d+)?)\s?(?P<unit>{_UNIT_NAMES})(?![\w/])"
)
_DECIMAL = re.compile(rf"(?<![\w.]){_NUMBER_START}(?P<number>-?(?:{_NUMBER})\.\d+)(?![\w.]*\d)")
_INTEGER = re.compile(rf"(?<![\w.])(?P<number>-?(?:{_NUMBER}))(?![\w]|\.\d)")
# Digits still there are part of a word ("mp3", "4K"), left to espeak, unless too long to be a number.
_LONG_DIGITS = re.compile(rf"[0-9]{{{MAX_WHOLE_DIGITS + 1},}}")
_ABBREVIATION = re.compile(
    r"(?<![\w.])(?:" + "|".join(re.escape(a) for a in sorted(_ABBREVIATIONS, key=len, reverse=True)) + r")",
    re.I,
)
_NUMBER_SIGN = re.compile(r"\bNo\.\s?(?=\d)")
# Full-width punctuation typed in an English sentence -> ASCII, which espeak reads as pauses.
_ASCII_PUNCTUATION = str.maketrans("，。！？；：（）“”‘’", ",.!?;:()\"\"''")


def expand_abbreviations(text: str) -> str:
    """ "Dr." -> "Doctor", "No. 5" -> "number 5": done before sentence splitting, whose "." they are not."""
    text = _NUMBER_SIGN.sub("number ", text)
    return _ABBREVIATION.sub(_say_abbreviation, text)


def normalize_english(text: str) -> str:
    """Spell out the numbers and symbols of an English sentence (abbreviations already expanded)."""
    text = text.translate(_ASCII_PUNCTUATION)
    text = _CURRENCY.sub(_say_currency, text)
    text = _PERCENT.sub(lambda m: f"{_say_number(m['number'])} percent", text)
    text = _ISO_DATE.sub(_say_iso_date, text)
    text = _MONTH_DAY.sub(_say_month_day, text)
    text = _TIME.sub(_say_time, text)
    text = _ORDINAL.sub(lambda m: _say_ordinal(m["number"]), text)
    text = _DECADE.sub(_say_decade, text)
    text = _CUED_YEAR.sub(lambda m: f"{m['cue']}{m['space']}{_say_year(int(m['year']))}", text)
    text = _UNIT_AFTER_NUMBER.sub(_say_measure, text)
    text = _RANGE.sub(lambda m: f"{_say_number(m['low'])} to {_say_number(m['high'])}", text)
    text = _DECIMAL.sub(lambda m: _say_number(m["number"]), text)
    text = _INTEGER.sub(lambda m: _say_number(m["number"]), text)
    text = _LONG_DIGITS.sub(_say_long_digits, text)
    return text.replace("&", " and ").replace("+", " plus ").replace("@", " at ")


def _say_abbreviation(match: re.Match[str]) -> str:
    # re.I also matches some non-ASCII letters ("ſ" for "s", "K" for "k"): those are left as written.
    found = match.group(0)
    return _ABBREVIATIONS_BY_LOWER.get(found.lower(), found)


def _say_digits(digits: str) -> str:
    """ "907" -> "nine zero seven"."""
    return " ".join(_DIGIT_WORDS[int(digit)] for digit in digits)


def _say_cardinal(digits: str) -> str:
    """A run of ASCII digits as a number in words, or digit by digit when it is too long."""
    if too_long(digits):
        return _say_digits(digits)
    # num2words writes "one million, two hundred"; a comma there would be read as a pause.
    return num2words(int(digits)).replace(",", "")


def _say_ordinal(digits: str) -> str:
    """ "21" -> "twenty-first"; a too long number is read digit by digit, its last digit an ordinal."""
    digits = digits.replace(",", "")
    if too_long(digits):
        return f"{_say_digits(digits[:-1])} {num2words(int(digits[-1]), to='ordinal')}"
    return num2words(int(digits), to="ordinal").replace(",", "")


def _say_number(number: str) -> str:
    """A cardinal number in words; decimals are read digit by digit after "point"."""
    number = number.replace(",", "")
    negative = number.startswith("-")
    whole, _, fraction = number.lstrip("-").partition(".")
    words = _say_cardinal(whole)
    if fraction:
        words += " point " + _say_digits(fraction)
    return f"minus {words}" if negative else words


def _say_currency(match: re.Match[str]) -> str:
    singular, plural, minor_singular, minor_plural = _CURRENCIES[match["symbol"]]
    whole = match["whole"].replace(",", "")
    fraction = match["fraction"]
    sign = "minus " if match["sign"] else ""
    if match["scale"]:
        amount = _say_number(whole + (f".{fraction}" if fraction else ""))
        return f"{sign}{amount} {match['scale']} {plural}"
    significant = whole.lstrip("0")
    minor = int(fraction.ljust(2, "0")[:2]) if fraction else 0
    parts = []
    if significant or not minor:
        parts.append(f"{_say_cardinal(whole)} {singular if significant == '1' else plural}")
    if minor:
        parts.append(f"{num2words(minor)} {minor_singular if minor == 1 else minor_plural}")
    return sign + " and ".join(parts)


def _say_long_digits(match: re.Match[str]) -> str:
    """Digit words, set apart by spaces from the letters around them."""
    text, start, end = match.string, match.start(), match.end()
    before = " " if start > 0 and text[start - 1].isalnum() else ""
    after = " " if end < len(text) and text[end].isalnum() else ""
    return f"{before}{_say_digits(match[0])}{after}"


def _say_year(year: int) -> str:
    return num2words(year, to="year")


def _say_iso_date(match: re.Match[str]) -> str:
    month = _MONTHS[int(match["month"]) - 1]
    day = num2words(int(match["day"]), to="ordinal")
    return f"{month} {day}, {_say_year(int(match['year']))}"


def _say_month_day(match: re.Match[str]) -> str:
    said = f"{match['month']} {num2words(int(match['day']), to='ordinal')}"
    if match["year"]:
        said += f", {_say_year(int(match['year']))}"
    return said


def _say_time(match: re.Match[str]) -> str:
    hour, minute = int(match["hour"]), int(match["minute"])
    if minute == 0:
        said = f"{num2words(hour)} o'clock" if not match["meridiem"] else num2words(hour)
    elif minute < 10:
        said = f"{num2words(hour)} oh {num2words(minute)}"
    else:
        said = f"{num2words(hour)} {num2words(minute)}"
    if match["meridiem"]:
        said += f" {match['meridiem'].lower()} m"
    return said


def _say_decade(match: re.Match[str]) -> str:
    words = _say_year(int(match["number"]))
    # "nineteen ninety" -> "nineteen nineties"; "twenty twenty" -> "twenty twenties"
    return re.sub(r"y$", "ies", words) if words.endswith("y") else words + "s"


def _say_measure(match: re.Match[str]) -> str:
    number = match["number"]
    singular, plural = _UNITS[match["unit"]]
    one = number.lstrip("-") in ("1", "1.0")
    return f"{_say_number(number)} {singular if one else plural}"
