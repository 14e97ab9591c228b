"""Which writing system a piece of text is in."""

from __future__ import annotations

import re

# CJK Unified Ideographs, Extension A and the compatibility block.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_CHAR = re.compile(f"[{HAN}]")
# Full-width forms of ASCII letters, digits and the symbols that numbers use, as Chinese input
# methods type them. Full-width punctuation (，。！) is left alone: the Chinese G2P reads it as pauses.
_FULL_WIDTH = str.maketrans(
    {chr(code): chr(code - 0xFEE0) for code in range(0xFF10, 0xFF1A)}
    | {chr(code): chr(code - 0xFEE0) for code in range(0xFF21, 0xFF3B)}
    | {chr(code): chr(code - 0xFEE0) for code in range(0xFF41, 0xFF5B)}
    | {"％": "%", "＄": "$", "＋": "+", "－": "-", "．": ".", "／": "/", "＠": "@", "＆": "&", "\u3000": " "}
)


def has_han(text: str) -> bool:
    """Whether ``text`` holds at least one Chinese character."""
    return _HAN_CHAR.search(text) is not None


def fold_full_width(text: str) -> str:
    """Full-width letters, digits and number symbols -> their ASCII forms."""
    return text.translate(_FULL_WIDTH)
