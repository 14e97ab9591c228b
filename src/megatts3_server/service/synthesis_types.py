"""What a synthesis request asks for (its parameters, and the ranges the API accepts) and what it
gives back: the audio, whole or streamed, and its description (the response's headers, known before
its first byte). SynthesisParameters is defined beside SamplingOptions (engines/base.py), where a job's
stored segments (jobs/) read it too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from megatts3_server.audio import AudioFormat
from megatts3_server.engines.base import SynthesisParameters as SynthesisParameters

# What each request parameter accepts (the API validates against these; /api/v1/info lists them).
SPEED_RANGE = (0.5, 2.0)
PITCH_RANGE = (0.5, 2.0)
TIME_STEP_RANGE = (1, 256)
GUIDANCE_RANGE = (0.0, 10.0)


@dataclass(frozen=True)
class AudioDescription:
    """What a response carries, known before its first byte (headers)."""

    format: AudioFormat
    media_type: str
    sample_rate: int
    voice_id: str
    voice_used: str
    emotion_requested: str
    emotion_applied: str
    characters: int
    cached: bool
    voice_prepared: str | None = None
    """One-shot references: "new" when prepared for this request, "reused" when seen before."""
    voice_note: str | None = None
    """One-shot references: what the engine made of the reference."""


@dataclass(frozen=True)
class SynthesisResult:
    description: AudioDescription
    audio: bytes
    duration: float
    synthesis_time: float


@dataclass(frozen=True)
class SynthesisStream:
    description: AudioDescription
    chunks: AsyncIterator[bytes]
