"""Speech results as HTTP responses: the audio (whole or streamed) and the headers that describe it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse

from megatts3_server.api import headers as h
from megatts3_server.service.speech import Speech
from megatts3_server.service.synthesis import AudioDescription, SynthesisResult

AUDIO_RESPONSES = {200: {"content": {"audio/wav": {}}, "description": "The synthesized audio"}}


def header_value(value: str) -> str:
    """HTTP header values are latin-1: percent-encode anything a client sent that is not plain ASCII."""
    return quote(value, safe=" '-_.,;:()/=+")  # + keeps a blend recipe readable


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
