"""Text must be valid Unicode: a lone surrogate is a UTF-16 half, not a character.

JSON (``"\\ud800"``) and some request charsets (utf-7) let a client send one, and Python decodes it
into a str that no UTF-8 encoder accepts: every later step (the cache key, the store, the log, the
engine) would fail on it. It is refused where text comes in.
"""

from __future__ import annotations


def valid_unicode(value: str) -> str:
    """``value`` unchanged, or ValueError naming the first surrogate code point and where it is."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        point = ord(value[exc.start])
        raise ValueError(
            f"contains U+{point:04X} at position {exc.start}, a lone UTF-16 surrogate that is not a character; "
            "send valid Unicode"
        ) from None
    return value
