"""What a synthesis request means: text -> pieces -> engine -> joined audio -> effects -> encoded bytes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anyio
import numpy as np

from megatts3_server.audio import MEDIA_TYPES, AudioFormat, change_pitch, encode_audio, join_with_pauses, peak_normalize
from megatts3_server.engines.base import Engine, VoiceContext
from megatts3_server.errors import EmptyTextError, EngineNotReadyError, SynthesisTimeoutError, TextTooLongError
from megatts3_server.text import normalize, split_sentences

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynthesisParameters:
    """How to speak: speed and pitch are factors (1.0 = the voice as is)."""

    speed: float = 1.0
    pitch: float = 1.0
    emotion: str = "neutral"


@dataclass(frozen=True)
class SynthesisResult:
    audio: bytes
    format: AudioFormat
    media_type: str
    sample_rate: int
    duration: float
    voice_id: str
    emotion_requested: str
    emotion_applied: str
    synthesis_time: float
    characters: int


class SynthesisService:
    """Turns a request into audio. Engine work runs in a worker thread, one engine call at a time."""

    def __init__(self, engine: Engine, *, max_length: int, timeout: float) -> None:
        self._engine = engine
        self._max_length = max_length
        self._timeout = timeout
        # One engine call at a time: onnxruntime already uses every core for one call, and a
        # second concurrent call would only slow both down.
        self._limiter = anyio.CapacityLimiter(1)

    def check_text(self, text: str) -> str:
        """Reject text that cannot be synthesized before doing any work for it."""
        stripped = text.strip()
        if not stripped:
            raise EmptyTextError("text is empty; give the words to speak")
        if len(stripped) > self._max_length:
            raise TextTooLongError(
                f"text is {len(stripped)} characters; the limit is {self._max_length} (model.inference.max_length)"
            )
        return stripped

    def applied_emotion(self, requested: str) -> str:
        """The emotion the engine will really render for ``requested`` (its neutral voice if it cannot)."""
        requested = requested.strip().lower() or "neutral"
        return requested if requested in self._engine.capabilities.emotions else "neutral"

    def render(self, text: str, voice: VoiceContext, params: SynthesisParameters) -> np.ndarray:
        """Synchronous synthesis of already-checked text: float32 mono at the engine's sample rate."""
        sample_rate = self._engine.capabilities.sample_rate
        pieces = split_sentences(normalize(text), self._engine.max_piece_chars())
        if not pieces:
            raise EmptyTextError("text has nothing to speak once normalized (only punctuation or spaces?)")
        audio = [self._engine.synthesize(piece.text, voice, speed=params.speed) for piece in pieces]
        joined = join_with_pauses(audio, [piece.pause_after / params.speed for piece in pieces], sample_rate)
        if params.pitch != 1.0:
            joined = change_pitch(joined, sample_rate, params.pitch)
        return peak_normalize(joined)

    async def synthesize(
        self, text: str, voice: VoiceContext, params: SynthesisParameters, fmt: AudioFormat
    ) -> SynthesisResult:
        """Check, render off the event loop within the request timeout, and encode."""
        text = self.check_text(text)
        if not self._engine.loaded:
            raise EngineNotReadyError("the engine is still loading; retry in a few seconds")
        started = time.perf_counter()
        sample_rate = self._engine.capabilities.sample_rate
        try:
            with anyio.fail_after(self._timeout):
                samples = await anyio.to_thread.run_sync(self.render, text, voice, params, limiter=self._limiter)
                audio = await anyio.to_thread.run_sync(encode_audio, samples, sample_rate, fmt)
        except TimeoutError as exc:
            raise SynthesisTimeoutError(
                f"synthesis took longer than {self._timeout:g} s (api.timeout / MEGATTS3_TIMEOUT)"
            ) from exc
        elapsed = time.perf_counter() - started
        duration = len(samples) / sample_rate
        # Starts with the number so that `awk '{print $4}'` on the default log format reads it.
        log.info(
            "%.3f synthesis_time voice=%s characters=%d audio_seconds=%.2f rtf=%.3f format=%s",
            elapsed,
            voice.voice_id,
            len(text),
            duration,
            elapsed / duration if duration else 0.0,
            fmt.value,
        )
        return SynthesisResult(
            audio=audio,
            format=fmt,
            media_type=MEDIA_TYPES[fmt],
            sample_rate=sample_rate,
            duration=duration,
            voice_id=voice.voice_id,
            emotion_requested=params.emotion,
            emotion_applied=self.applied_emotion(params.emotion),
            synthesis_time=elapsed,
            characters=len(text),
        )
