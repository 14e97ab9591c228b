"""An uploaded reference recording checked before anything is made of it: decodable, long enough,
not silent, a person talking (audio/speech_check.py), and identified by its content (what the store
keeps) and by what the engine's voice depends on."""

from __future__ import annotations

import hashlib

import numpy as np

from megatts3_server.audio import decode_audio
from megatts3_server.audio.speech_check import speech_problem
from megatts3_server.config import StorageSettings
from megatts3_server.engines.base import EngineCapabilities
from megatts3_server.errors import InvalidRequestError
from megatts3_server.service.one_shot import Reference
from megatts3_server.voices import parse_latent

MIN_REFERENCE_SECONDS = 1.0
# Peak below this (≈ -54 dBFS) is silence or a dead microphone, not a voice.
_SILENCE_PEAK = 2e-3


def read_reference(
    audio_bytes: bytes, latent_bytes: bytes | None, storage: StorageSettings, capabilities: EngineCapabilities
) -> Reference:
    """Decode and check an uploaded reference recording (and its latent, if any)."""
    if not audio_bytes:
        raise InvalidRequestError("the reference recording is empty", code="empty_file")
    audio = decode_audio(
        audio_bytes,
        allowed_formats=storage.supported_formats,
        target_rate=capabilities.sample_rate,
        max_seconds=storage.max_voice_seconds,
    )
    if audio.duration < MIN_REFERENCE_SECONDS:
        raise InvalidRequestError(
            f"the reference recording is {audio.duration:.2f} s long; "
            f"a reference needs at least {MIN_REFERENCE_SECONDS:.0f} s",
            code="audio_too_short",
        )
    if float(np.max(np.abs(audio.samples))) < _SILENCE_PEAK:
        raise InvalidRequestError("the reference recording is silent; record the speaker's voice", code="silent_audio")
    problem = speech_problem(audio.samples, audio.sample_rate)  # audio/speech_check.py
    if problem is not None:
        raise InvalidRequestError(
            f"the reference recording does not sound like a person talking ({problem}); record the speaker "
            "talking in a quiet room, not a tone, music or noise",
            code="not_speech",
        )
    latent = parse_latent(latent_bytes) if latent_bytes is not None else None
    digest = hashlib.sha256(audio_bytes)
    audio_only = digest.hexdigest()
    if latent_bytes is not None:
        digest.update(latent_bytes)
    content = digest.hexdigest()
    key = content if capabilities.accepts_latent else audio_only
    return Reference(audio=audio, latent=latent, content_sha256=content, preparation_key=key)
