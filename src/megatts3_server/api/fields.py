"""String types for request fields: every text a client sends must be valid Unicode.

The texts to speak are the exception: the request types they become check them, once, for every
caller (SpeechRequest, JobRequest: service/text_check.py's ``unicode_text``, 422 ``invalid_text``).

JSON lets a client send a lone surrogate (``"\\ud800"``), which Python decodes into a str that no
UTF-8 encoder accepts: every later step (the cache key, the store, the log, the error body) would
fail on it. Such a field is refused at validation, naming the field and the code point.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from megatts3_server.text.unicode import valid_unicode

UnicodeStr = Annotated[str, AfterValidator(valid_unicode)]
"""A str field that refuses lone surrogates (422 naming the field)."""
