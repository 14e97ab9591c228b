"""Which writing systems a text uses that the engine cannot speak (text/script.py)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from megatts3_server.text.script import script_of, unsupported_scripts


@pytest.mark.parametrize(
    ("text", "scripts"),
    [
        ("สวัสดีครับ", ["Thai"]),
        ("你好，สวัสดี", ["Thai"]),
        ("Привет, как дела?", ["Cyrillic"]),
        ("안녕하세요", ["Hangul"]),
        ("가 ㄱ ﾡ", ["Hangul"]),  # conjoining jamo, compatibility and half-width jamo
        ("こんにちは", ["Hiragana"]),
        ("カタカナ ｶﾀｶﾅ", ["Katakana"]),
        ("日本語のテキストです", ["Hiragana", "Katakana"]),  # the kanji are Han
        ("مرحبا بالعالم", ["Arabic"]),
        ("नमस्ते", ["Devanagari"]),
        ("שלום", ["Hebrew"]),
        ("გამარჯობა", ["Georgian"]),
        ("Բարեւ", ["Armenian"]),
        ("ሰላም", ["Ethiopic"]),
        ("ㄅㄆㄇㄈ", ["Bopomofo"]),
        ("The area is πr².", ["Greek"]),
        ("Hello Ωmega", ["Greek"]),
    ],
)
def test_letters_of_other_scripts_are_named(text: str, scripts: list[str]) -> None:
    assert unsupported_scripts(text) == scripts


@pytest.mark.parametrize(
    "text",
    [
        "",
        "今天天气很好，我们一起去公园散步吧。The weather is lovely today!",
        "Ça va très bien, l'élève naïve mange une crème brûlée à Noël.",
        "Zürich, Kraków, Hà Nội, İstanbul, Ærø, Straße",
        "ｈｅｌｌｏ ＡＢＣ",  # full-width Latin
        "𠀀𪜀𫝀𰀀 丨 々 〇",  # Han extensions B, C, D, G; iteration mark; ideographic zero
        "😀👍🏽🇨🇳 ❤️ ✓ ★ → ∑ ∞ © ™ € ¥ $ %",
        "1234567890 ١٢٣ ३४५ ０１２",  # digits of any script
        "。，！？、；：“”‘’（）《》【】—…·",
        " \t\n\u3000\u00a0",
        "5 µm, 𝐀𝐁𝐂 𝑥, ª º",  # letters of no one script (Common)
        "a\u0301 e\u0308",  # combining marks of no one script (Inherited)
    ],
)
def test_chinese_latin_and_non_letters_are_never_unsupported(text: str) -> None:
    assert unsupported_scripts(text) == []


def test_scripts_are_listed_once_in_order_of_first_use() -> None:
    text = "Привет สวัสดี мир 안녕 ครับ Γειά"
    assert unsupported_scripts(text) == ["Cyrillic", "Thai", "Hangul", "Greek"]


def test_combining_marks_of_a_script_count() -> None:
    assert unsupported_scripts("a\u0e48") == ["Thai"]  # Thai tone mark MAI EK
    assert unsupported_scripts("\u064e") == ["Arabic"]  # FATHA


def test_supported_scripts_can_be_chosen_without_case() -> None:
    text = "Hello 你好 Привет ㄅ"
    assert unsupported_scripts(text, supported=()) == ["Latin", "Han", "Cyrillic", "Bopomofo"]
    assert unsupported_scripts(text, supported=("Latin", "HAN", "bopomofo")) == ["Cyrillic"]
    assert unsupported_scripts(text, supported=["han", "latin", "cyrillic", "bopomofo"]) == []
    assert unsupported_scripts("ߒߞߏ", supported=("nko",)) == []


def test_script_of_single_characters() -> None:
    assert script_of("a") == "Latin"
    assert script_of("中") == "Han"
    assert script_of("ก") == "Thai"
    assert script_of("1") is None
    assert script_of(" ") is None
    assert script_of("😀") is None


def _regex_scripts() -> tuple[dict[str, str], dict[str, set[str]]]:
    """Unicode's Script of every letter and mark, per the regex package (it has the real tables), and
    each script's names (its long name first)."""
    regex = pytest.importorskip("regex")
    core = pytest.importorskip("regex._regex_core")
    aliases: dict[int, set[str]] = {}
    for alias, value in core.PROPERTIES["SCRIPT"][1].items():
        aliases.setdefault(value, set()).add(alias)
    letters = "".join(
        chr(code)
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code < 0xE000 and unicodedata.category(chr(code))[0] in "LM"
    )
    script: dict[str, str] = {}
    names: dict[str, set[str]] = {}
    for value_aliases in aliases.values():
        name = max(value_aliases, key=len)
        names[name] = value_aliases
        for char in regex.findall(rf"\p{{Script={name}}}", letters):
            script[char] = name
    return script, names


def _key(name: str) -> str:
    return "".join(char for char in name.upper() if char.isalnum())


def test_script_names_agree_with_unicode_script_property() -> None:
    """A letter named for a script is used in it (Unicode's Script or Script_Extensions), and
    every letter whose Unicode name gives its script is named for it (a few named only by their shape,
    "KELVIN SIGN", "MODIFIER LETTER SMALL TURNED H", are not)."""
    regex = pytest.importorskip("regex")
    truth, aliases = _regex_scripts()
    wrong = []
    patterns: dict[str, regex.Pattern[str]] = {}
    for char, script in truth.items():
        mine = script_of(char)
        if mine is not None:
            # (a combining mark of no one script counts for the script its name gives: "COMBINING GREEK KORONIS")
            if mine not in patterns:
                patterns[mine] = regex.compile(rf"\p{{Script_Extensions={_key(mine)}}}")
            used_in = patterns[mine].fullmatch(char)
            if not used_in and not (script == "INHERITED" and unicodedata.category(char)[0] == "M"):
                wrong.append((char, script, mine))
        elif script not in ("COMMON", "INHERITED") and max(aliases[script], key=len) in _key(
            unicodedata.name(char, "")
        ):
            wrong.append((char, script, mine))
    assert wrong == []
