"""The service's parts, wired from the settings, and their one start/stop sequence.

The HTTP app's lifespan and ``megatts3-server say --in-process`` both run ``Services.running()``:
folders made, the voice store opened (as its writer, or read as it is), the synthesis workers
started, the engine loaded in the background, and everything stopped again in reverse. The three
stores (voices, jobs, lexicon) share one database object (storage/databases.py: on PostgreSQL one
pool), built here and closed last.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from megatts3_server.cache import AudioCache, build_cache
from megatts3_server.config import Settings, StorageSettings
from megatts3_server.engines.base import Engine
from megatts3_server.engines.registry import build_engine
from megatts3_server.jobs import JobStoreInterface, build_job_store
from megatts3_server.lexicon_store import LexiconStore
from megatts3_server.memory import favour_the_event_loop, freeze_startup_heap
from megatts3_server.metrics import Metrics
from megatts3_server.ratelimit import RateLimiter
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.enrollment import EnrollmentJobs
from megatts3_server.service.health import HealthService, StorageProbe
from megatts3_server.service.jobs import JobService
from megatts3_server.service.lexicon import LexiconService, load_lexicon_file
from megatts3_server.service.one_shot import OneShotVoices
from megatts3_server.service.scheduler import Scheduler
from megatts3_server.service.shared_state import shared_state_warnings
from megatts3_server.service.speech import SpeechService
from megatts3_server.service.speech_budget import SpeechBudget
from megatts3_server.service.synthesis import SynthesisService
from megatts3_server.service.voice_arrays import VoiceArrayCache
from megatts3_server.service.voices import VoiceService
from megatts3_server.storage.databases import StoreDatabase, build_database
from megatts3_server.voices import VoiceStoreInterface, build_voice_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stores:
    """A process's three stores over its one database (on PostgreSQL, one pool): each store opens
    (and migrates) it as it needs it; ``database.close()`` releases it, once, after them all."""

    database: StoreDatabase
    voices: VoiceStoreInterface
    jobs: JobStoreInterface
    lexicon: LexiconStore


def build_voice_service(store: VoiceStoreInterface, loader: EngineLoader, settings: Settings) -> VoiceService:
    """The voice service over ``store`` with its parts: the enrollment jobs, the one-shot references
    (whose search leaves the request half its time to speak) and the voices' array cache."""
    cloning = settings.model.cloning
    return VoiceService(
        store,
        loader,
        settings.storage,
        cloning,
        jobs=EnrollmentJobs.from_settings(store, loader, cloning),
        one_shot=OneShotVoices(
            store, loader.engine, budget_seconds=min(cloning.one_shot_budget_seconds, settings.api.timeout / 2)
        ),
        arrays=VoiceArrayCache(),
        enrollment=settings.api.enrollment,
    )


def build_stores(storage: StorageSettings) -> Stores:
    """The configured stores, none opened yet."""
    database = build_database(storage)
    return Stores(
        database, build_voice_store(storage, database), build_job_store(storage, database), LexiconStore(database)
    )


@dataclass(frozen=True)
class Services:
    settings: Settings
    loader: EngineLoader
    voices: VoiceService
    synthesis: SynthesisService
    speech: SpeechService
    health: HealthService
    scheduler: Scheduler
    cache: AudioCache
    metrics: Metrics
    rate_limiter: RateLimiter | None
    jobs: JobService
    lexicon: LexiconService
    stores: Stores

    @property
    def engine(self) -> Engine:
        return self.loader.engine

    @asynccontextmanager
    async def running(self, *, writer: bool = True) -> AsyncIterator[Services]:
        """Start everything, the engine loading in the background; stop it all when the block ends.

        ``writer``: this process owns the voice store (recovers interrupted writes, runs enrollment
        jobs, serves metrics). A reader, such as the CLI beside a running server, only reads it.
        """
        settings = self.settings
        for folder in (settings.storage.cache_dir, settings.storage.temp_dir, settings.storage.jobs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.voices.open(writer=writer)
        if writer:
            for warning in shared_state_warnings(settings):
                log.warning("%s", warning)
        self.scheduler.start()
        metrics_server = self._serve_metrics() if writer else None
        self.loader.start()
        jobs_running = writer and settings.api.jobs.enabled
        if jobs_running:
            self.jobs.start()
        try:
            yield self
        finally:
            if jobs_running:
                await self.jobs.stop()
            self.voices.close()
            self.scheduler.stop()
            self.stores.database.close()  # last: nothing that reads a store runs any more
            await self.cache.close()
            if metrics_server is not None:
                metrics_server.shutdown()  # type: ignore[attr-defined]

    def _serve_metrics(self) -> Any:
        monitoring = self.settings.api.monitoring
        if not monitoring.enabled:
            return None
        # With several worker processes only the first to bind the port serves it (each has its own figures).
        try:
            return self.metrics.serve(monitoring.metrics_host, monitoring.metrics_port)
        except OSError as exc:
            log.warning("metrics port %d not served by process %d: %s", monitoring.metrics_port, os.getpid(), exc)
            return None


# Spoken once after the load, so that the first request already meets a measured engine speed.
_CALIBRATION_TEXT = "你好，欢迎收听今天的节目。Hello, and welcome to the show."


def _measure_speed(engine: Engine, scheduler: Scheduler) -> None:
    voices = engine.builtin_voices()
    if voices:
        scheduler.calibrate(engine.builtin_context(voices[0].id), _CALIBRATION_TEXT)
        log.info("engine speed measured: %.2f s of audio per second", scheduler.speed or 0.0)


def build_services(settings: Settings, engine: Engine | None = None) -> Services:
    """Everything a request handler uses, wired from the settings (the engine built unless given)."""
    loader = EngineLoader(engine or build_engine(settings))
    metrics = Metrics()
    scheduler = Scheduler(
        loader.engine,
        workers=settings.api.scheduler.workers or loader.engine.recommended_workers(),
        max_queue=settings.api.scheduler.max_queue,
        batch_size=settings.model.inference.batch_size,
        on_depth_change=metrics.queue_depth.set,
        on_pieces=lambda outcome, count: metrics.pieces.labels(outcome=outcome).inc(count),
        on_engine_seconds=lambda work, seconds: metrics.engine_seconds.labels(work=work).inc(seconds),
    )
    cache = build_cache(settings.model.cache, on_corrupt=metrics.cache_corrupt.inc)
    stores = build_stores(settings.storage)
    voices = build_voice_service(stores.voices, loader, settings)
    synthesis = SynthesisService(
        loader,
        scheduler,
        cache,
        metrics,
        max_length=settings.model.inference.max_length,
        timeout=settings.api.timeout,
        budget=SpeechBudget(
            scheduler,
            timeout=settings.api.timeout,
            max_speech_seconds=settings.api.max_speech_seconds,
            enabled=settings.api.check_speech_time,
        ),
        max_number_digits=settings.model.inference.max_number_digits,
    )
    lexicon = LexiconService(
        stores.lexicon, load_lexicon_file(settings.model.lexicon_file), settings.api.lexicon
    )
    loader.on_ready(lambda engine: _measure_speed(engine, scheduler))
    if engine is None:
        # A serving process (its engine built from its settings): no full GC walks the engine's tables
        # again. Not where a test brings its engine: it builds many apps in one process, whose garbage
        # must stay collectable.
        loader.on_ready(lambda engine: freeze_startup_heap())
        favour_the_event_loop()
    # A voice stored anew or deleted must never be answered from audio cached for its old self.
    voices.on_change(synthesis.invalidate_voice)
    rate = settings.api.rate_limit
    return Services(
        settings=settings,
        loader=loader,
        voices=voices,
        synthesis=synthesis,
        speech=SpeechService(synthesis, voices, lexicon, default_voice=settings.model.default_voice),
        lexicon=lexicon,
        stores=stores,
        health=HealthService(
            loader,
            scheduler,
            cache,
            max_queue=settings.api.scheduler.max_queue,
            storage=StorageProbe(
                # On PostgreSQL the voices are not on this disk; the temporary files still are.
                root=settings.storage.voice_samples_dir
                if settings.storage.backend == "sqlite"
                else settings.storage.temp_dir,
                check=voices.check_store,
                warn_percent=settings.storage.disk_warn_percent,
            ),
        ),
        scheduler=scheduler,
        cache=cache,
        metrics=metrics,
        rate_limiter=RateLimiter(rate.storage) if rate.enabled else None,
        jobs=JobService(
            stores.jobs,
            synthesis,
            voices,
            lexicon,
            loader,
            settings.api.jobs,
            max_segment_chars=settings.model.inference.max_length,
            default_voice=settings.model.default_voice,
            on_segment=lambda outcome: metrics.job_segments.labels(outcome=outcome).inc(),
        ),
    )
