"""GET /api/v1/info: the engine, its version, languages, limits and parameters (open, like /health)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.service.info import service_info

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/info", summary="Engine, version, languages, limits, sample rate and parameter ranges")
async def info(services: Services = Depends(get_services)) -> dict[str, Any]:
    return service_info(services.settings, services.loader, services.voices, services.scheduler.speed)
