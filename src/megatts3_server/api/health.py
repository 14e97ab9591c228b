"""GET /health (liveness and figures) and GET /ready (can take synthesis work now)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.service.health import health_report

router = APIRouter(tags=["health"])


def _queue(services: Services) -> dict[str, Any]:
    scheduler = services.scheduler
    return {
        "depth": scheduler.depth,
        "workers": scheduler.workers,
        "max": services.settings.api.scheduler.max_queue,
        "saturated": scheduler.saturated,
    }


@router.get("/health", summary="Liveness, version, engine state, memory, queue and cache figures")
async def health(services: Services = Depends(get_services)) -> dict[str, Any]:
    extra = {"queue": _queue(services), "cache": services.cache.status()}
    return await anyio.to_thread.run_sync(health_report, services.engine, extra)


@router.get("/ready", summary="200 when the model is loaded and the queue has room, else 503")
async def ready(services: Services = Depends(get_services)) -> JSONResponse:
    reasons = []
    if not services.engine.loaded:
        error = services.engine.load_error
        reasons.append(f"model failed to load: {error}" if error else "model not loaded")
    if services.scheduler.saturated:
        reasons.append("synthesis queue full")
    body = {"ready": not reasons, "reasons": reasons, "queue": _queue(services)}
    return JSONResponse(body, status_code=503 if reasons else 200)
