"""How long a number may be to be read as a whole; longer ones are read digit by digit.

``9 * 10**15`` is still "nine quadrillion", but nobody says a 40-digit number as a quantity (and the
number readers fail beyond their range: num2words converts to float, OverflowError past 308 digits;
cn2an reads at most 16 digits and cuts decimals at 16). So a number whose integer part has more than
``MAX_WHOLE_DIGITS`` digits (thousands separators not counted) is spoken digit by digit, in every form:
plain, negative, decimal, currency, percent, ordinal, with a unit. Decimal fractions are always read
digit by digit ("three point one four"), however long.

Digit by digit has a limit too: a number of hundreds of digits is minutes of speech nobody meant to
hear (321 digits read in English are about 200 s). The service refuses a text whose longest number
has more than ``model.inference.max_number_digits`` digits (``longest_number``), naming its length,
rather than reading it or cutting it short without a word.
"""

from __future__ import annotations

import re

# 15 digits: up to 999 trillion (English) / 999万亿 (Chinese), inside both readers' exact range.
MAX_WHOLE_DIGITS = 15


def too_long(digits: str) -> bool:
    """Whether a run of digits is too long to be read as one number."""
    return len(digits) > MAX_WHOLE_DIGITS


# One number as the readers take it: digits, thousands groups ("1,234,567") and a decimal fraction.
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def longest_number(text: str) -> int:
    """How many digits the longest number in ``text`` has (0: none)."""
    return max((sum(char.isdigit() for char in match[0]) for match in _NUMBER.finditer(text)), default=0)
