"""One segment of a long-form job: spoken in its tenant's voice and lexicon (or found made already,
by its content key), then loudness-normalized and stored (jobs/: the segment files the track is
joined from). The runner (jobs.py) decides which segments, in what order, under whose lease."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import anyio
import numpy as np

from megatts3_server.config import JobsSettings
from megatts3_server.errors import ServiceError
from megatts3_server.jobs import loudness
from megatts3_server.jobs.records import SentenceTime
from megatts3_server.jobs.script import Segment
from megatts3_server.jobs.store_interface import JobStoreInterface
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.lexicon import LexiconService
from megatts3_server.service.synthesis import SynthesisService
from megatts3_server.service.voices import VoiceService
from megatts3_server.tenancy import Caller


@dataclass(frozen=True)
class MadeSegment:
    """What speaking a segment gave: its content key and audio (no audio: the stored segment with
    that key is reused), or the error that stopped it (no key)."""

    key: str | None = None
    samples: np.ndarray | None = None
    sentences: list[tuple[str, float, float]] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class StoredSegment:
    """A segment's outcome as the job's row records it."""

    key: str | None
    duration: float | None
    reused: bool
    error: str | None


class SegmentMaker:
    def __init__(
        self,
        store: JobStoreInterface,
        synthesis: SynthesisService,
        voices: VoiceService,
        lexicon: LexiconService,
        loader: EngineLoader,
        settings: JobsSettings,
    ) -> None:
        self._store = store
        self._synthesis = synthesis
        self._voices = voices
        self._lexicon = lexicon
        self._loader = loader
        self._settings = settings
        self.synthesized = 0
        self.reused = 0

    async def speak(self, segment: Segment, before: MadeSegment | None, owner: Caller) -> MadeSegment:
        """A segment's audio from the engine, or its content key if a segment with that key is stored
        already or is the one ``before`` it (being stored now), or the reason it cannot be spoken (the
        voice was deleted since, say: an error of the segment's own, not the job's end)."""
        params = segment.parameters.speech
        try:
            lexicon = await self._lexicon.for_request(segment.parameters.lexicon, owner.tenant)
            text = self._synthesis.check_text(segment.text, lexicon)
            voice = await anyio.to_thread.run_sync(self._voices.context, segment.voice_id, owner)
        except ServiceError as exc:
            return MadeSegment(error=exc.message)
        settings = self._settings
        sound = f"{settings.loudness_lufs}:{settings.true_peak_dbtp}"
        # The tenant too: a segment is reused only from the same tenant's jobs.
        made_for = f"{self._synthesis.segment_key(voice, text, params)}:{sound}:{owner.tenant}"
        key = hashlib.sha256(made_for.encode()).hexdigest()
        if (before is not None and before.key == key) or await anyio.to_thread.run_sync(self._store.has_segment, key):
            return MadeSegment(key=key)
        try:
            samples, sentences = await self._synthesis.speak_segment(text, voice, params)
        except ServiceError as exc:
            return MadeSegment(error=exc.message)
        return MadeSegment(key=key, samples=samples, sentences=sentences)

    async def store(self, made: MadeSegment) -> StoredSegment:
        """A spoken segment's outcome, its audio normalized and stored."""
        if made.key is None:
            return StoredSegment(None, None, False, made.error)
        if made.samples is None:
            self.reused += 1
            duration = await anyio.to_thread.run_sync(self._store.segment_duration, made.key)
            return StoredSegment(made.key, duration, True, None)
        settings = self._settings
        rate = self._loader.engine.capabilities.sample_rate
        normalized = await anyio.to_thread.run_sync(
            loudness.normalize, made.samples, rate, settings.loudness_lufs, settings.true_peak_dbtp
        )
        times = [SentenceTime(text, start, end) for text, start, end in made.sentences]
        duration = await anyio.to_thread.run_sync(self._store.save_segment, made.key, normalized, rate, times)
        self.synthesized += 1
        return StoredSegment(made.key, duration, False, None)
