"""GET /health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.service.health import health_report

router = APIRouter()


@router.get("/health", summary="Liveness, version, engine state and memory figures")
async def health(services: Services = Depends(get_services)) -> dict[str, Any]:
    return health_report(services.engine)
