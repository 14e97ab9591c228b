"""What a synthesis request means: text -> pieces -> scheduled engine work -> audio -> encoded bytes.

A whole response and a streamed one go through the same steps piece by piece (pitch, peak limit,
pause); a stream only splits a long first sentence at a clause break so that it starts sooner. The
cache holds whole files; a finished stream is stored as one, and either kind of request may use it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator

import anyio
import numpy as np

from megatts3_server.audio import (
    AudioFormat,
    change_pitch,
    encode_audio,
    limit_peak,
    open_stream_encoder,
    with_pause,
)
from megatts3_server.cache import AudioCache, CachedAudio, cache_key
from megatts3_server.engines.base import VoiceContext
from megatts3_server.errors import (
    EmptyTextError,
    InvalidRequestError,
    ServiceError,
    StreamAbortedError,
    SynthesisTimeoutError,
)
from megatts3_server.logs import current_request_id
from megatts3_server.metrics import Metrics
from megatts3_server.ratelimit import Quota, unlimited
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.scheduler import Scheduler, SynthesisJob
from megatts3_server.service.speech_budget import Mode, SpeechBudget
from megatts3_server.service.synthesis_plan import SynthesisPlan, applied_emotion, honoured_options, plan_synthesis
from megatts3_server.service.synthesis_types import (
    AudioDescription,
    SynthesisParameters,
    SynthesisResult,
    SynthesisStream,
)
from megatts3_server.service.text_check import CheckedText, check_text
from megatts3_server.tenancy import DEFAULT_TENANT
from megatts3_server.text import Sentence
from megatts3_server.text.lexicon import Lexicon
from megatts3_server.text.pieces import segment_pieces

log = logging.getLogger(__name__)


class SynthesisService:
    """Turns requests into audio through the scheduler, the cache in front of it."""

    def __init__(
        self,
        loader: EngineLoader,
        scheduler: Scheduler,
        cache: AudioCache,
        metrics: Metrics,
        *,
        max_length: int,
        timeout: float,
        budget: SpeechBudget | None = None,
        max_number_digits: int = 100,
    ) -> None:
        """``budget``: refuses texts that make too much speech, or that could not be made in time
        (service/speech_budget.py; None: none refused)."""
        self._loader = loader
        self._engine = loader.engine
        self._scheduler = scheduler
        self._cache = cache
        self._metrics = metrics
        self._max_length = max_length
        self._max_digits = max_number_digits
        self._timeout = timeout
        self._budget = budget

    def check_text(self, text: str, lexicon: Lexicon | None = None) -> CheckedText:
        """Reject text that cannot be synthesized (and an engine that cannot speak) before any work;
        the text comes back with ``lexicon``'s words marked with their readings."""
        self._loader.require_ready()
        return check_text(
            text, lexicon, self._engine.capabilities, max_length=self._max_length, max_digits=self._max_digits
        )

    def check_speech(self, pieces: list[Sentence], speed: float, mode: Mode) -> float:
        """The pieces' estimated speech (seconds), raised on when it may not be made (speech_budget.py)."""
        return self._budget.check(pieces, speed, mode) if self._budget is not None else 0.0

    def _finish_piece(self, audio: np.ndarray, piece: Sentence, params: SynthesisParameters) -> np.ndarray:
        """Engine output -> the samples the client hears for this piece, its pause included."""
        rate = self._engine.capabilities.sample_rate
        if params.pitch != 1.0:
            audio = change_pitch(audio, rate, params.pitch)
        return with_pause(limit_peak(audio), piece.pause_after / params.speed, rate)

    async def _lookup(self, plan: SynthesisPlan) -> CachedAudio | None:
        hit = await self._cache.get(plan.key)
        self._metrics.cache_lookup(hit is not None)
        return hit

    def _submit(self, plan: SynthesisPlan) -> SynthesisJob:
        return self._scheduler.submit(
            [piece.text for piece in plan.pieces], plan.voice, plan.params.speed, plan.params.options
        )

    async def speak(
        self,
        text: CheckedText,
        voice: VoiceContext,
        params: SynthesisParameters,
        fmt: AudioFormat,
        *,
        stream: bool,
        quota: Quota | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> SynthesisResult | SynthesisStream:
        """A whole response, or a stream that starts with the first sentence (cached for ``tenant``)."""
        started = time.perf_counter()
        plan = await anyio.to_thread.run_sync(
            functools.partial(plan_synthesis, self._engine, text, voice, params, fmt, stream=stream, tenant=tenant)
        )
        if stream:
            return await self._open_stream(plan, quota, started)
        return await self._synthesize(plan, quota, started)

    async def _synthesize(self, plan: SynthesisPlan, quota: Quota | None, started: float) -> SynthesisResult:
        """The whole response: from the cache (free), or synthesized within the request timeout
        (``quota`` is charged first)."""
        if hit := await self._lookup(plan):
            return SynthesisResult(
                _cached(plan.description, hit), hit.audio, hit.duration, time.perf_counter() - started
            )
        self.check_speech(plan.pieces, plan.params.speed, "whole")
        await (quota or unlimited()).charge()
        job = self._submit(plan)
        parts: list[np.ndarray] = []
        spoken = 0
        try:
            with anyio.fail_after(self._timeout):
                async for audio in job.results():
                    piece = plan.pieces[len(parts)]
                    spoken += len(audio)
                    parts.append(await anyio.to_thread.run_sync(self._finish_piece, audio, piece, plan.params))
                if not spoken:
                    raise InvalidRequestError(
                        "the engine made no speech from this text (nothing in it it can pronounce?)",
                        code="nothing_to_speak",
                    )
                samples = np.concatenate(parts)
                encoded = await anyio.to_thread.run_sync(encode_audio, samples, plan.description.sample_rate, plan.fmt)
        except TimeoutError as exc:
            raise SynthesisTimeoutError(
                f"synthesis took longer than {self._timeout:g} s (api.timeout / MEGATTS3_TIMEOUT)"
            ) from exc
        finally:
            if len(parts) < len(plan.pieces):
                self._scheduler.cancel(job)
                # The client left (api/disconnect.py), the server stopped (api.shutdown_grace_seconds) or it failed.
                done, total = len(parts), len(plan.pieces)
                log.info("whole response stopped after %d of %d pieces; the rest is cancelled", done, total)
        duration = samples.size / plan.description.sample_rate
        await self._store(plan, encoded, duration)
        elapsed = time.perf_counter() - started
        self._record(plan, elapsed, duration, "whole")
        return SynthesisResult(plan.description, encoded, duration, elapsed)

    async def _open_stream(self, plan: SynthesisPlan, quota: Quota | None, started: float) -> SynthesisStream:
        """Admit a streamed synthesis; errors (busy, over budget) are raised here, before any byte is sent."""
        if hit := await self._lookup(plan):
            return SynthesisStream(_cached(plan.description, hit), _single(hit.audio))
        self.check_speech(plan.pieces, plan.params.speed, "stream")
        await (quota or unlimited()).charge()
        job = self._submit(plan)
        return SynthesisStream(plan.description, self._stream(plan, job, started))

    async def _stream(self, plan: SynthesisPlan, job: SynthesisJob, started: float) -> AsyncIterator[bytes]:
        """The stream's bytes. Each piece must come within api.timeout of the one before (a stream
        lives as long as it progresses); one that does not, or a failing piece, aborts the stream:
        StreamAbortedError, which the HTTP layer turns into a cut-off body, never a clean end."""
        rate = plan.description.sample_rate
        encoder = open_stream_encoder(plan.fmt, rate)
        results = job.results()
        parts: list[np.ndarray] = []
        try:
            while len(parts) < len(plan.pieces):
                # The deadline is applied to each wait, never across a yield: a cancel scope left
                # open while the generator is suspended would cancel the response's sender instead.
                audio = None
                try:
                    with anyio.move_on_after(self._timeout):
                        audio = await anext(results)
                except ServiceError as exc:
                    raise self._aborted(plan, parts, exc.code, exc.message) from exc
                if audio is None:
                    raise self._aborted(
                        plan, parts, "synthesis_timeout", f"no audio for {self._timeout:g} s (api.timeout)"
                    )
                piece = plan.pieces[len(parts)]
                samples = await anyio.to_thread.run_sync(self._finish_piece, audio, piece, plan.params)
                parts.append(samples)
                if len(parts) == 1:
                    self._metrics.first_audio_latency.observe(time.perf_counter() - started)
                if data := await anyio.to_thread.run_sync(encoder.encode, samples):
                    yield data
            if tail := encoder.finish():
                yield tail
        finally:
            if len(parts) < len(plan.pieces):
                self._scheduler.cancel(job)
                log.info("stream ended after %d of %d pieces; the rest is cancelled", len(parts), len(plan.pieces))
        samples = np.concatenate(parts)
        duration = samples.size / rate
        encoded = await anyio.to_thread.run_sync(encode_audio, samples, rate, plan.fmt)
        await self._cache.put(
            plan.key, CachedAudio(encoded, duration, plan.description.voice_used), plan.voice.voice_id
        )
        self._record(plan, time.perf_counter() - started, duration, "stream")

    async def speak_segment(
        self, text: CheckedText, voice: VoiceContext, params: SynthesisParameters
    ) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
        """One segment of a long-form job, at background priority (interactive requests go first):
        its samples, sentence pauses included but none after the last, and each sentence's text (as
        written, not as normalized for reading) with its start and end in seconds."""
        rate = self._engine.capabilities.sample_rate
        pieces = self.segment_pieces(text)
        if not pieces:
            raise EmptyTextError("the segment has nothing to speak")
        job = self._scheduler.submit(
            [piece.text for _, piece in pieces], voice, params.speed, params.options, background=True
        )
        results = job.results()
        parts: list[np.ndarray] = []
        sentences: list[tuple[str, float, float]] = []
        position = 0
        try:
            for number, (sentence, piece) in enumerate(pieces):
                # No deadline: background work waits for as long as interactive requests keep the workers busy.
                audio = await anext(results)
                pause = 0.0 if number == len(pieces) - 1 else piece.pause_after
                finished = await anyio.to_thread.run_sync(
                    self._finish_piece, audio, Sentence(piece.text, pause), params
                )
                speech = finished.size - round(pause / params.speed * rate) if pause > 0 else finished.size
                sentences.append((sentence, position / rate, (position + speech) / rate))
                parts.append(finished)
                position += finished.size
        finally:
            if len(parts) < len(pieces):
                self._scheduler.cancel(job)
        if not any(end > start for _, start, end in sentences):
            raise InvalidRequestError("the engine made no speech from this segment", code="nothing_to_speak")
        return np.concatenate(parts), sentences

    def segment_pieces(self, text: CheckedText) -> list[tuple[str, Sentence]]:
        """A job segment's sentences, as written and as the engine speaks them (text/pieces.py)."""
        return segment_pieces(text.text, self._engine.max_piece_chars(), readings=self._engine.capabilities.readings)

    def segment_key(self, voice: VoiceContext, text: CheckedText, params: SynthesisParameters) -> str:
        """What a job segment's audio depends on, hashed (jobs/store.py caches segments by it)."""
        return cache_key(
            engine=self._engine.capabilities.name,
            voice=voice.voice_id,
            voice_version=voice.version,
            text=text.text,
            speed=params.speed,
            pitch=params.pitch,
            emotion=applied_emotion(self._engine.capabilities, params.emotion),
            options=honoured_options(self._engine.capabilities, params.options),
            format="segment",
        )

    def _aborted(self, plan: SynthesisPlan, parts: list[np.ndarray], reason: str, message: str) -> StreamAbortedError:
        self._metrics.streams_aborted.labels(reason=reason).inc()
        log.error(
            "stream aborted after %d of %d pieces (%s): %s; the client gets a cut-off response",
            len(parts),
            len(plan.pieces),
            reason,
            message,
        )
        return StreamAbortedError(f"the stream was cut off: {message}", code=reason)

    async def _store(self, plan: SynthesisPlan, encoded: bytes, duration: float) -> None:
        entry = CachedAudio(encoded, duration, plan.description.voice_used)
        await self._cache.put(plan.key, entry, plan.voice.voice_id)

    def _record(self, plan: SynthesisPlan, elapsed: float, duration: float, mode: str) -> None:
        self._metrics.synthesis_done(
            mode=mode, seconds=elapsed, audio_seconds=duration, characters=plan.description.characters
        )
        # Starts with the number so that `awk '{print $4}'` on the default log format reads it.
        log.info(
            "%.3f synthesis_time request_id=%s voice=%s characters=%d audio_seconds=%.2f rtf=%.3f format=%s mode=%s",
            elapsed,
            current_request_id(),
            plan.voice.voice_id,
            plan.description.characters,
            duration,
            elapsed / duration if duration else 0.0,
            plan.fmt.value,
            mode,
        )

    async def invalidate_voice(self, voice_id: str) -> None:
        """Drop the cached audio of a voice that was deleted or replaced."""
        await self._cache.invalidate(voice_id)


def _cached(description: AudioDescription, hit: CachedAudio) -> AudioDescription:
    return dataclasses.replace(description, voice_used=hit.voice_used, cached=True)


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data
