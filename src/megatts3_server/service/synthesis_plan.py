"""A synthesis request planned before any work: its pieces (what the scheduler speaks one by one), its
cache key (what makes two requests the same audio) and what the response says about itself."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from megatts3_server.audio import MEDIA_TYPES, AudioFormat
from megatts3_server.cache import cache_key
from megatts3_server.engines.base import Engine, EngineCapabilities, SamplingOptions, VoiceContext
from megatts3_server.errors import EmptyTextError
from megatts3_server.service.synthesis_types import AudioDescription, SynthesisParameters
from megatts3_server.service.text_check import CheckedText
from megatts3_server.text import Sentence
from megatts3_server.text.pieces import request_pieces
from megatts3_server.text.pronunciation import written


@dataclass(frozen=True)
class SynthesisPlan:
    text: str
    voice: VoiceContext
    params: SynthesisParameters
    fmt: AudioFormat
    pieces: list[Sentence]
    key: str
    description: AudioDescription


def applied_emotion(capabilities: EngineCapabilities, requested: str) -> str:
    """The emotion the engine will really render for ``requested`` (its neutral voice if it cannot)."""
    requested = requested.strip().lower() or "neutral"
    return requested if requested in capabilities.emotions else "neutral"


def honoured_options(capabilities: EngineCapabilities, options: SamplingOptions) -> dict[str, float]:
    """The options that change this engine's output (part of the cache key; the others change nothing)."""
    chosen = dataclasses.asdict(options).items()
    return {name: value for name, value in chosen if name in capabilities.sampling_options and value is not None}


def plan_synthesis(
    engine: Engine,
    checked: CheckedText,
    voice: VoiceContext,
    params: SynthesisParameters,
    fmt: AudioFormat,
    *,
    stream: bool,
    tenant: str,
) -> SynthesisPlan:
    """The request's pieces, cache key and description (call it in a worker thread: normalization
    grows with the text). Each tenant's cache entries apart: a hit (X-Cache) must not tell one what
    another had spoken."""
    text = checked.text
    capabilities = engine.capabilities
    pieces, spoken = request_pieces(text, engine.max_piece_chars(), readings=capabilities.readings, stream=stream)
    if not pieces:
        raise EmptyTextError("text has nothing to speak once normalized (only punctuation or spaces?)")
    emotion = applied_emotion(capabilities, params.emotion)
    key = cache_key(
        engine=capabilities.name,
        voice=voice.voice_id,
        voice_version=voice.version,
        text=spoken,
        speed=params.speed,
        pitch=params.pitch,
        emotion=emotion,
        options=honoured_options(capabilities, params.options),
        format=fmt.value,
        tenant=tenant,
    )
    description = AudioDescription(
        format=fmt,
        media_type=MEDIA_TYPES[fmt],
        sample_rate=capabilities.sample_rate,
        voice_id=voice.voice_id,
        voice_used=engine.voice_used(voice),
        emotion_requested=params.emotion,
        emotion_applied=emotion,
        characters=len(written(text)),
        cached=False,
    )
    return SynthesisPlan(text, voice, params, fmt, pieces, key, description)
