"""The application factory: settings in, a FastAPI app with its services out."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from megatts3_server import __version__
from megatts3_server.api import health, tts, voices
from megatts3_server.api.dependencies import Services
from megatts3_server.api.errors import install_error_handlers
from megatts3_server.config import Settings
from megatts3_server.engines.base import Engine
from megatts3_server.engines.registry import build_engine
from megatts3_server.service.synthesis import SynthesisService
from megatts3_server.service.voices import VoiceService
from megatts3_server.voices import VoiceStore

log = logging.getLogger(__name__)


def _load_engine_in_background(engine: Engine) -> threading.Thread:
    """Load weights without blocking start-up: /health answers at once and says when the model is in."""

    def run() -> None:
        try:
            engine.load()
        except Exception:
            log.exception("the engine failed to load; synthesis will answer 503 until restart")

    thread = threading.Thread(target=run, name="engine-load", daemon=True)
    thread.start()
    return thread


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """Build the app; the engine is built from the settings unless one is given (tests, embedding)."""
    engine = engine or build_engine(settings)
    store = VoiceStore(settings.storage.voice_samples_dir)
    services = Services(
        settings=settings,
        engine=engine,
        voices=VoiceService(store, engine, settings.storage),
        synthesis=SynthesisService(
            engine, max_length=settings.model.inference.max_length, timeout=settings.api.timeout
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for folder in (settings.storage.cache_dir, settings.storage.temp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        store.open()
        app.state.engine_loader = _load_engine_in_background(engine)
        yield

    app = FastAPI(
        title="megatts3-server",
        version=__version__,
        description="Text-to-speech engine service: synthesis, voice storage and zero-shot voice cloning.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    cors = settings.api.cors
    if cors.enabled:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors.origins,
            allow_methods=cors.methods,
            allow_headers=cors.headers,
            expose_headers=["X-Voice-Id", "X-Voice-Used", "X-Audio-Duration", "X-Emotion-Applied"],
        )
    for router in (health.router, tts.router, voices.router):
        app.include_router(router)
    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn worker processes: settings from the files and variables named in the environment."""
    from megatts3_server.config import load_settings
    from megatts3_server.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.logging)
    return create_app(settings)
