"""GET /health (can it synthesize, with its figures) and GET /ready (can it take work now)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from megatts3_server.api.dependencies import Services, get_services

router = APIRouter(tags=["health"])

_STATES = {
    200: {"description": "healthy, or degraded (speech served; `problems` says what is in trouble)"},
    503: {"description": "starting, failed or unavailable (same body)"},
}


@router.get("/health", summary="200 when the service can synthesize, else 503; figures either way", responses=_STATES)
async def health(services: Services = Depends(get_services)) -> JSONResponse:
    report = await services.health.report()
    return JSONResponse(report.body, status_code=200 if report.serving else 503)


@router.get("/ready", summary="200 when the model is loaded and the queue has room, else 503")
async def ready(services: Services = Depends(get_services)) -> JSONResponse:
    readiness = services.health.readiness()
    body = {"ready": readiness.ready, "reasons": readiness.reasons, "queue": readiness.queue}
    return JSONResponse(body, status_code=200 if readiness.ready else 503)
