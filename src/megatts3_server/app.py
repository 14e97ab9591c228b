"""The application factory: settings in, a FastAPI app with its services out."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from megatts3_server import __version__
from megatts3_server.api import health, openai_compat, tts, voices, web
from megatts3_server.api.dependencies import Services
from megatts3_server.api.errors import install_error_handlers
from megatts3_server.api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from megatts3_server.cache import build_cache
from megatts3_server.config import Settings
from megatts3_server.engines.base import Engine
from megatts3_server.engines.registry import build_engine
from megatts3_server.metrics import Metrics
from megatts3_server.ratelimit import RateLimiter
from megatts3_server.service.scheduler import Scheduler
from megatts3_server.service.synthesis import SynthesisService
from megatts3_server.service.voices import VoiceService
from megatts3_server.voices import VoiceStore

log = logging.getLogger(__name__)

_EXPOSED_HEADERS = [
    "X-Request-ID",
    "X-Voice-Id",
    "X-Voice-Used",
    "X-Sample-Rate",
    "X-Audio-Duration",
    "X-Synthesis-Time",
    "X-Emotion-Applied",
    "X-Emotion-Warning",
    "X-Cache",
    "X-Voice-Prepared",
    "X-Voice-Note",
    "Retry-After",
]


def _load_engine_in_background(engine: Engine) -> threading.Thread:
    """Load weights without blocking start-up: /health answers at once and says when the model is in."""

    def run() -> None:
        try:
            engine.load()
        except Exception as exc:
            engine.load_error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            log.exception("the engine failed to load; synthesis will answer 503 until restart")

    thread = threading.Thread(target=run, name="engine-load", daemon=True)
    thread.start()
    return thread


def build_services(settings: Settings, engine: Engine | None = None) -> Services:
    """Everything a request handler uses, wired from the settings."""
    engine = engine or build_engine(settings)
    metrics = Metrics()
    scheduler = Scheduler(
        engine,
        workers=settings.api.scheduler.workers or engine.recommended_workers(),
        max_queue=settings.api.scheduler.max_queue,
        batch_size=settings.model.inference.batch_size,
        on_depth_change=metrics.queue_depth.set,
    )
    cache = build_cache(settings.model.cache)
    return Services(
        settings=settings,
        engine=engine,
        voices=VoiceService(
            VoiceStore(settings.storage.voice_samples_dir),
            engine,
            settings.storage,
            settings.model.cloning,
            timeout=settings.api.timeout,
        ),
        synthesis=SynthesisService(
            engine,
            scheduler,
            cache,
            metrics,
            max_length=settings.model.inference.max_length,
            timeout=settings.api.timeout,
        ),
        scheduler=scheduler,
        cache=cache,
        metrics=metrics,
        rate_limiter=RateLimiter(settings.api.rate_limit) if settings.api.rate_limit.enabled else None,
    )


def _serve_metrics(services: Services) -> object | None:
    monitoring = services.settings.api.monitoring
    if not monitoring.enabled:
        return None
    # With several worker processes only the first to bind the port serves it (each has its own figures).
    try:
        return services.metrics.serve(services.settings.api.host, monitoring.metrics_port)
    except OSError as exc:
        log.warning("metrics port %d not served by process %d: %s", monitoring.metrics_port, os.getpid(), exc)
        return None


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """Build the app; the engine is built from the settings unless one is given (tests, embedding)."""
    services = build_services(settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for folder in (settings.storage.cache_dir, settings.storage.temp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        services.voices.open()
        services.scheduler.start()
        metrics_server = _serve_metrics(services)
        app.state.engine_loader = _load_engine_in_background(services.engine)
        try:
            yield
        finally:
            services.voices.close()
            services.scheduler.stop()
            await services.cache.close()
            if metrics_server is not None:
                metrics_server.shutdown()  # type: ignore[attr-defined]

    app = FastAPI(
        title="megatts3-server",
        version=__version__,
        description="Text-to-speech engine service: synthesis, voice storage and zero-shot voice cloning.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = services.metrics
    install_error_handlers(app)
    cors = settings.api.cors
    if cors.enabled:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors.origins,
            allow_methods=cors.methods,
            allow_headers=cors.headers,
            expose_headers=_EXPOSED_HEADERS,
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=int(settings.api.max_request_size))
    app.add_middleware(RequestIdMiddleware, metrics=services.metrics)
    for router in (health.router, tts.router, voices.router, openai_compat.router, web.router):
        app.include_router(router)
    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn worker processes: settings from the files and variables named in the environment."""
    from megatts3_server.config import load_settings
    from megatts3_server.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.logging)
    return create_app(settings)
