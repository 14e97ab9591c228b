"""Which writing system a piece of text is in."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

# CJK Unified Ideographs, Extension A and the compatibility block.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_CHAR = re.compile(f"[{HAN}]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
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


def mostly_chinese(text: str) -> bool:
    """Whether ``text`` reads as Chinese: its Han characters outnumber its Latin words."""
    han = len(_HAN_CHAR.findall(text))
    return han > 0 and han >= len(_LATIN_WORD.findall(text))


def fold_full_width(text: str) -> str:
    """Full-width letters, digits and number symbols -> their ASCII forms."""
    return text.translate(_FULL_WIDTH)


# Writing systems by the name Unicode gives them: a character's name starts with its script's name in
# capitals ("THAI CHARACTER KO KAI", "OLD ITALIC LETTER A"), except those of _NAME_PREFIXES.
_SCRIPT_NAMES = (
    "Adlam", "Ahom", "Arabic", "Armenian", "Avestan", "Balinese", "Bamum", "Bassa Vah", "Batak", "Bengali",
    "Bhaiksuki", "Bopomofo", "Brahmi", "Buginese", "Buhid", "Carian", "Caucasian Albanian", "Chakma", "Cham",
    "Cherokee", "Chorasmian", "Coptic", "Cuneiform", "Cypriot", "Cypro-Minoan", "Cyrillic", "Deseret",
    "Devanagari", "Dives Akuru", "Dogra", "Duployan", "Elbasan", "Elymaic", "Ethiopic", "Georgian",
    "Glagolitic", "Gothic", "Grantha", "Greek", "Gujarati", "Gunjala Gondi", "Gurmukhi", "Hangul",
    "Hanifi Rohingya", "Hanunoo", "Hatran", "Hebrew", "Hiragana", "Imperial Aramaic", "Inscriptional Pahlavi",
    "Inscriptional Parthian", "Javanese", "Kaithi", "Kannada", "Katakana", "Kayah Li", "Kharoshthi",
    "Khitan Small Script", "Khmer", "Khojki", "Khudawadi", "Lao", "Latin", "Lepcha", "Limbu", "Linear A",
    "Linear B", "Lisu", "Lycian", "Lydian", "Mahajani", "Makasar", "Malayalam", "Mandaic", "Manichaean",
    "Marchen", "Masaram Gondi", "Medefaidrin", "Meetei Mayek", "Mende Kikakui", "Meroitic Cursive", "Miao",
    "Modi", "Mongolian", "Mro", "Multani", "Myanmar", "Nabataean", "Nandinagari", "New Tai Lue", "Newa",
    "Nushu", "Nyiakeng Puachue Hmong", "Ogham", "Ol Chiki", "Old Hungarian", "Old Italic", "Old North Arabian",
    "Old Permic", "Old Persian", "Old Sogdian", "Old South Arabian", "Old Turkic", "Old Uyghur", "Oriya", "Osage",
    "Osmanya", "Pahawh Hmong", "Palmyrene", "Pau Cin Hau", "Phags-pa", "Phoenician", "Psalter Pahlavi", "Rejang",
    "Runic", "Samaritan", "Saurashtra", "Sharada", "Shavian", "Siddham", "SignWriting", "Sinhala", "Sogdian",
    "Sora Sompeng", "Soyombo", "Sundanese", "Syloti Nagri", "Syriac", "Tagalog", "Tagbanwa", "Tai Le", "Tai Tham",
    "Tai Viet", "Takri", "Tamil", "Tangsa", "Tangut", "Telugu", "Thaana", "Thai", "Tibetan", "Tifinagh", "Tirhuta",
    "Toto", "Ugaritic", "Vai", "Vithkuqi", "Wancho", "Warang Citi", "Yezidi", "Yi", "Zanabazar Square",
)  # fmt: skip
_NAME_PREFIXES = {
    # Han: the ideographs of every block and extension, and the marks used with them (々, 〆's neighbours)
    "CJK UNIFIED": "Han",
    "CJK COMPATIBILITY": "Han",
    "IDEOGRAPHIC": "Han",
    "VERTICAL IDEOGRAPHIC": "Han",
    "VIETNAMESE ALTERNATE": "Han",
    "OLD CHINESE": "Han",
    "HENTAIGANA": "Hiragana",
    "NKO": "N'Ko",
    "CANADIAN SYLLABICS": "Canadian Aboriginal",
    "EGYPTIAN HIEROGLYPH": "Egyptian Hieroglyphs",
    "ANATOLIAN HIEROGLYPH": "Anatolian Hieroglyphs",
    "MEROITIC HIEROGLYPHIC": "Meroitic Hieroglyphs",
} | {name.upper(): name for name in _SCRIPT_NAMES}
# Words before the script's name that only say how the character looks or combines.
_NAME_QUALIFIERS = ("COMBINING ", "FULLWIDTH ", "HALFWIDTH ", "SUPERSCRIPT ", "MODIFIER LETTER SMALL ",
                    "MODIFIER LETTER CAPITAL ", "MODIFIER LETTER ")  # fmt: skip
# Characters without a name in some Python versions' unicodedata (their names are derived).
_UNNAMED = ((0x17000, 0x18AFF, "Tangut"), (0x18D00, 0x18D8F, "Tangut"))


@functools.lru_cache(maxsize=4096)
def script_of(char: str) -> str | None:
    """The writing system of a letter or combining mark (``"Thai"``, ``"Han"``, ``"Latin"``), by its Unicode name.

    None for anything else (digits, punctuation, symbols, emoji, spaces), and for letters and marks
    that belong to no one script (Unicode's Common and Inherited: "ー", "µ", math letters such as
    "𝐀", a combining acute accent), so that they never count.
    """
    if unicodedata.category(char)[0] not in "LM":
        return None
    name = unicodedata.name(char, "")
    if not name:
        code = ord(char)
        return next((script for low, high, script in _UNNAMED if low <= code <= high), None)
    for qualifier in _NAME_QUALIFIERS:
        if name.startswith(qualifier):
            name = name[len(qualifier) :]
    words = name.split(" ")
    for count in (3, 2, 1):
        script = _NAME_PREFIXES.get(" ".join(words[:count]))
        if script is not None:
            return script
    return None


@functools.cache
def _script_key(name: str) -> str:
    return "".join(char for char in name.casefold() if char.isalnum())


def unsupported_scripts(text: str, supported: Iterable[str] = ("han", "latin")) -> list[str]:
    """The writing systems of ``text`` other than ``supported``, in English, in order of first use.

    ``unsupported_scripts("你好สวัสดี Привет")`` is ``["Thai", "Cyrillic"]``. Only letters (and the
    combining marks of a script, such as Thai tone marks) count; digits, punctuation, symbols, emoji
    and whitespace never do, nor letters that belong to no script (see script_of). Names compare
    without case or punctuation ("han", "Han"; "n'ko", "NKo"). Han covers the CJK ideographs of all
    blocks and extensions; Latin covers accented, full-width and IPA letters. Bopomofo (zhuyin) is
    its own script: the Chinese engine reads characters, not zhuyin, so it is unsupported unless named.
    Japanese kana are "Hiragana" and "Katakana" (kanji are Han).
    """
    allowed = {_script_key(name) for name in supported}
    found: dict[str, None] = {}
    for char in dict.fromkeys(text):  # each character once, in order of first use
        script = script_of(char)
        if script is not None and script not in found and _script_key(script) not in allowed:
            found[script] = None
    return list(found)
