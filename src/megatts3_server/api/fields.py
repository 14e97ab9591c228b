"""String types for request fields: every text a client sends must be valid Unicode.

JSON lets a client send a lone surrogate (``"\\ud800"``), which Python decodes into a str that no
UTF-8 encoder accepts: every later step (the cache key, the store, the log, the error body) would
fail on it. Such a field is refused at validation, naming the field and the code point.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def valid_unicode(value: str) -> str:
    """``value`` unchanged, or ValueError when it holds a surrogate code point (not a character)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        point = ord(value[exc.start])
        raise ValueError(
            f"contains U+{point:04X} at position {exc.start}, a lone UTF-16 surrogate that is not a character; "
            "send valid Unicode"
        ) from None
    return value


UnicodeStr = Annotated[str, AfterValidator(valid_unicode)]
"""A str field that refuses lone surrogates (422 naming the field)."""
