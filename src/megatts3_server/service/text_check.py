"""A text checked once before any work, into a CheckedText: not empty, within the character limit, its
inline readings valid, no number longer than the digit limit, written in the engine's languages; the
lexicon's words marked with their readings.

That it is valid Unicode is checked before, once, where the request that carries it is made
(``unicode_text``, called by SpeechRequest and JobRequest: the API's routes, the CLI and any caller in
process build one), so that nothing after it meets a lone surrogate."""

from __future__ import annotations

from dataclasses import dataclass

from megatts3_server.engines.base import EngineCapabilities
from megatts3_server.errors import (
    EmptyTextError,
    InvalidPronunciationError,
    InvalidRequestError,
    TextTooLongError,
    UnsupportedLanguageError,
)
from megatts3_server.text.lexicon import Lexicon
from megatts3_server.text.numbers import longest_number
from megatts3_server.text.pronunciation import PronunciationError, check_marks, hide, written
from megatts3_server.text.script import unsupported_scripts
from megatts3_server.text.unicode import valid_unicode

# The writing systems each engine language is read in (text/script.py's names).
_LANGUAGE_SCRIPTS = {"zh": ("Han",), "en": ("Latin",), "ja": ("Han", "Hiragana", "Katakana"), "ko": ("Hangul",)}
_LANGUAGE_NAMES = {"zh": "Chinese", "en": "English", "ja": "Japanese", "ko": "Korean"}


@dataclass(frozen=True)
class CheckedText:
    """Text that passed check_text (the only way to make one): checked once, spoken later."""

    text: str


def unicode_text(text: str, field: str) -> str:
    """``text`` unchanged, or 422 ``invalid_text`` naming ``field`` and the lone surrogate it holds."""
    try:
        return valid_unicode(text)
    except ValueError as exc:
        raise InvalidRequestError(f"{field} {exc}", code="invalid_text") from None


def check_text(
    text: str, lexicon: Lexicon | None, capabilities: EngineCapabilities, *, max_length: int, max_digits: int
) -> CheckedText:
    """``text`` (valid Unicode: ``unicode_text``) checked, with ``lexicon``'s words marked; the errors
    name what is wrong (422, 413)."""
    stripped = text.strip()
    if not stripped:
        raise EmptyTextError("text is empty; give the words to speak")
    if len(stripped) > max_length:
        raise TextTooLongError(
            f"text is {len(stripped)} characters; the limit is {max_length} (model.inference.max_length)"
        )
    try:
        check_marks(stripped)
    except PronunciationError as exc:
        raise InvalidPronunciationError(f"a reading in the text: {exc}") from None
    digits = longest_number(hide(stripped)[0])  # digits inside a mark are read as the mark says
    if digits > max_digits:
        raise InvalidRequestError(
            f"the text holds a number of {digits} digits; at most {max_digits} are read "
            "(model.inference.max_number_digits): write it in words, split it, or mark its reading as [123]{...}",
            code="number_too_long",
            details={"digits": digits, "max_digits": max_digits},
        )
    languages = capabilities.languages
    scripts = [script for language in languages for script in _LANGUAGE_SCRIPTS.get(language, ())]
    if unknown := unsupported_scripts(written(stripped), scripts):
        spoken = " and ".join(_LANGUAGE_NAMES.get(language, language) for language in languages)
        raise UnsupportedLanguageError(
            f"the text is written in {', '.join(unknown)}, which this engine cannot speak (it speaks {spoken}); "
            "send text in those languages only",
            details={"scripts": unknown, "languages": list(languages)},
        )
    return CheckedText(lexicon.mark(stripped) if lexicon else stripped)
