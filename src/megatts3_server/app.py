"""The application factory: settings in, a FastAPI app with its services out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from megatts3_server import __version__
from megatts3_server.api import headers as h
from megatts3_server.api import health, info, jobs, lexicon, openai_compat, tts, voices, web
from megatts3_server.api.docs import install_docs
from megatts3_server.api.errors import install_error_handlers
from megatts3_server.api.middleware import (
    BodySizeLimitMiddleware,
    HeadAsGetMiddleware,
    JSONCORSMiddleware,
    RequestIdMiddleware,
    UnexpectedErrorMiddleware,
)
from megatts3_server.config import Settings
from megatts3_server.engines.base import Engine
from megatts3_server.memory import configure_allocator
from megatts3_server.service.wiring import build_services


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """Build the app; the engine is built from the settings unless one is given (tests, embedding)."""
    configure_allocator()  # before any engine loads: freed inference buffers go back to the kernel (memory.py)
    services = build_services(settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with services.running():
            yield

    app = FastAPI(
        title="megatts3-server",
        version=__version__,
        description="Text-to-speech engine service: synthesis, voice storage and zero-shot voice cloning.",
        lifespan=lifespan,
        # FastAPI's own /docs and /redoc load their scripts from a CDN; api/docs.py serves them itself.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.state.metrics = services.metrics
    install_error_handlers(app)
    # Innermost: sees the routes' errors, and the requests a stop cancels.
    app.add_middleware(UnexpectedErrorMiddleware, metrics=services.metrics, stopping=lambda: services.health.draining)
    cors = settings.api.cors
    if cors.enabled:
        app.add_middleware(
            JSONCORSMiddleware,
            allow_origins=cors.origins,
            allow_methods=cors.methods,
            allow_headers=cors.headers,
            expose_headers=list(h.EXPOSED),
        )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=int(settings.api.max_request_size),
        max_json_bytes=int(settings.api.max_json_size),
    )
    app.add_middleware(RequestIdMiddleware, metrics=services.metrics)
    app.add_middleware(HeadAsGetMiddleware)
    if settings.api.forwarded_allow_ips.strip():
        # Outermost: a proxy named in the config (and only one) may name the client, before anything
        # (trusted networks, rate limits, logs) looks at its address. Here, not in the server, so that
        # every way of serving the app (and the tests) trusts exactly the configured proxies.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.api.forwarded_allow_ips)
    for router in (
        health.router,
        info.router,
        tts.router,
        jobs.router,
        voices.router,
        lexicon.router,
        openai_compat.router,
        web.router,
    ):
        app.include_router(router)
    install_docs(app)
    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn worker processes: settings from the files and variables named in the environment."""
    from megatts3_server.config import load_settings
    from megatts3_server.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.logging)
    return create_app(settings)
