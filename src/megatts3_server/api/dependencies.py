"""The services a request handler works with, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from megatts3_server.cache import AudioCache
from megatts3_server.config import Settings
from megatts3_server.engines.base import Engine
from megatts3_server.metrics import Metrics
from megatts3_server.ratelimit import RateLimiter
from megatts3_server.service.scheduler import Scheduler
from megatts3_server.service.synthesis import SynthesisService
from megatts3_server.service.voices import VoiceService


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    voices: VoiceService
    synthesis: SynthesisService
    scheduler: Scheduler
    cache: AudioCache
    metrics: Metrics
    rate_limiter: RateLimiter | None


def get_services(request: Request) -> Services:
    """FastAPI dependency: the app's services (set by create_app)."""
    return request.app.state.services
