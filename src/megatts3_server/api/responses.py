"""Speech results as HTTP responses: the audio (whole or streamed) and the headers that describe it."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse

from megatts3_server.api import headers as h
from megatts3_server.service.speech import Speech
from megatts3_server.service.synthesis import AudioDescription, SynthesisResult

AUDIO_RESPONSES = {200: {"content": {"audio/wav": {}}, "description": "The synthesized audio"}}
# Printable ASCII but "%": what a header value shows as written.
_HEADER_SAFE = "".join(chr(code) for code in range(0x20, 0x7F) if chr(code) != "%")


def header_value(value: str) -> str:
    """A header value that reads as written where it is printable ASCII; "%", control characters and
    anything beyond ASCII (header values are latin-1) are percent-encoded as UTF-8, so one unquote()
    gives the text back and no value can end the header early."""
    return quote(value, safe=_HEADER_SAFE)


# What a file name must not hold: path separators, quotes, what Windows refuses, and control characters.
_UNSAFE_IN_NAME = re.compile(r'[/\\:*?"<>|%\x00-\x1f\x7f-\x9f]+')
_MAX_NAME_CHARS = 100


def _file_name(text: str) -> str:
    visible = "".join(char for char in text if unicodedata.category(char) not in ("Cf", "Zl", "Zp"))
    return " ".join(_UNSAFE_IN_NAME.sub("_", visible).split()).strip(" ._")


def attachment(title: str, extension: str, fallback: str = "track") -> str:
    """A Content-Disposition that saves a download as ``<title>.<extension>`` (RFC 6266): an ASCII
    ``filename`` for old clients and the whole name as UTF-8 in ``filename*`` (RFC 8187), so a Chinese
    title survives. Separators, quotes and control characters become "_"; no title: ``fallback``."""
    name = _file_name(title[: 2 * _MAX_NAME_CHARS])[:_MAX_NAME_CHARS] or fallback
    # Compatibility forms first: "Ｃｈａｐｔｅｒ" and "é" keep their letters in ASCII ("Chapter", "e").
    ascii_name = _file_name(unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode())
    if not any(char.isalnum() for char in ascii_name):
        ascii_name = fallback
    disposition = f'attachment; filename="{ascii_name}.{extension}"'
    if ascii_name != name:
        disposition += f"; filename*=UTF-8''{quote(f'{name}.{extension}', safe='')}"
    return disposition


def audio_headers(description: AudioDescription) -> dict[str, str]:
    """The headers every audio response carries, known before its first byte."""
    headers = {
        h.VOICE_ID: header_value(description.voice_id),
        h.VOICE_USED: header_value(description.voice_used),
        h.SAMPLE_RATE: str(description.sample_rate),
        h.EMOTION_REQUESTED: header_value(description.emotion_requested),
        h.EMOTION_APPLIED: description.emotion_applied,
        h.CACHE: "hit" if description.cached else "miss",
        h.CONTENT_DISPOSITION: f'inline; filename="speech.{description.format.value}"',
    }
    if description.emotion_applied != description.emotion_requested.strip().lower():
        warning = f"emotion '{description.emotion_requested}' is not supported by this engine"
        headers[h.EMOTION_WARNING] = header_value(f"{warning}; spoken as '{description.emotion_applied}'")
    if description.voice_prepared:
        headers[h.VOICE_PREPARED] = description.voice_prepared
    if description.voice_note:
        headers[h.VOICE_NOTE] = header_value(description.voice_note)
    return headers


def speech_response(
    speech: Speech,
    extra_headers: dict[str, str] | None = None,
    wrap: Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]] | None = None,
    media_type: str | None = None,
) -> Response:
    """The whole file with its duration and timing, or a stream (``wrap`` re-frames its chunks)."""
    headers = {**audio_headers(speech.description), **(extra_headers or {})}
    media_type = media_type or speech.description.media_type
    if isinstance(speech, SynthesisResult):
        headers[h.AUDIO_DURATION] = f"{speech.duration:.3f}"
        headers[h.SYNTHESIS_TIME] = f"{speech.synthesis_time:.3f}"
        return Response(content=speech.audio, media_type=media_type, headers=headers)
    chunks = wrap(speech.chunks) if wrap else speech.chunks
    return StreamingResponse(chunks, media_type=media_type, headers=headers)
