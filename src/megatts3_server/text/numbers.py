"""How long a number may be to be read as a whole; longer ones are read digit by digit.

``9 * 10**15`` is still "nine quadrillion", but nobody says a 40-digit number as a quantity (and the
number readers fail beyond their range: num2words converts to float, OverflowError past 308 digits;
cn2an reads at most 16 digits and cuts decimals at 16). So a number whose integer part has more than
``MAX_WHOLE_DIGITS`` digits (thousands separators not counted) is spoken digit by digit, in every form:
plain, negative, decimal, currency, percent, ordinal, with a unit. Decimal fractions are always read
digit by digit ("three point one four"), however long.
"""

from __future__ import annotations

# 15 digits: up to 999 trillion (English) / 999万亿 (Chinese), inside both readers' exact range.
MAX_WHOLE_DIGITS = 15


def too_long(digits: str) -> bool:
    """Whether a run of digits is too long to be read as one number."""
    return len(digits) > MAX_WHOLE_DIGITS
