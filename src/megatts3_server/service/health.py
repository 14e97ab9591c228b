"""What /health and /ready report: whether the service can synthesize, with the figures behind it.

``status`` is "healthy" only when a synthesis request would be served: the engine is loaded and the
synthesis workers run. Otherwise it says why: "starting" (the model is loading), "failed" (the load
failed; see engine.error) or "unavailable" (the synthesis workers are not running). /health answers
200 only when healthy, 503 otherwise, with the same body: a gate that checks the status code (the
AI-Sound backend, compose and Kubernetes probes) never starts work before the engine can take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psutil

from megatts3_server import __version__
from megatts3_server.cache import AudioCache
from megatts3_server.gpu import gpu_stats
from megatts3_server.service.engine_loader import EngineLoader, EngineState
from megatts3_server.service.scheduler import Scheduler


def _human(size: float) -> str:
    return f"{size / 1e9:.1f}GB" if size >= 1e8 else f"{size / 1e6:.1f}MB"


@dataclass(frozen=True)
class HealthReport:
    body: dict[str, Any]

    @property
    def healthy(self) -> bool:
        return self.body["status"] == "healthy"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reasons: list[str]
    queue: dict[str, Any]


class HealthService:
    def __init__(self, loader: EngineLoader, scheduler: Scheduler, cache: AudioCache, *, max_queue: int) -> None:
        self._loader = loader
        self._scheduler = scheduler
        self._cache = cache
        self._max_queue = max_queue

    def _status(self) -> str:
        state = self._loader.state
        if state is EngineState.STARTING:
            return "starting"
        if state is EngineState.FAILED:
            return "failed"
        return "healthy" if self._scheduler.running else "unavailable"

    def queue(self) -> dict[str, Any]:
        scheduler = self._scheduler
        return {
            "depth": scheduler.depth,
            "workers": scheduler.workers,
            "max": self._max_queue,
            "saturated": scheduler.saturated,
        }

    def report(self) -> HealthReport:
        """The /health body: the guide's fields plus the engine and process figures an operator needs
        (blocking: psutil and NVML; call it off the event loop)."""
        engine = self._loader.engine
        memory = psutil.virtual_memory()
        process = psutil.Process()
        gpus = gpu_stats()
        body: dict[str, Any] = {
            "status": self._status(),
            "version": __version__,
            "model_loaded": self._loader.state is EngineState.READY,
            "gpu_available": bool(gpus),
            "memory_usage": {
                "total": _human(memory.total),
                "used": _human(memory.total - memory.available),
                "free": _human(memory.available),
                "process_rss": _human(process.memory_info().rss),
            },
            "engine": {
                "name": engine.capabilities.name,
                "device": engine.capabilities.device,
                "sample_rate": engine.capabilities.sample_rate,
                "languages": list(engine.capabilities.languages),
                "state": self._loader.state.value,
            },
            "queue": self.queue(),
            "cache": self._cache.status(),
        }
        if self._loader.error:
            body["engine"]["error"] = self._loader.error
        if gpus:
            body["gpu_memory"] = {
                "total": _human(gpus[0].total),
                "used": _human(gpus[0].used),
                "free": _human(gpus[0].free),
                "utilization": gpus[0].utilization,
            }
        return HealthReport(body)

    def readiness(self) -> Readiness:
        """Whether synthesis work is taken now: healthy, and the queue has room."""
        reasons = []
        status = self._status()
        if status == "starting":
            reasons.append("model not loaded")
        elif status == "failed":
            reasons.append(f"model failed to load: {self._loader.error}")
        elif status == "unavailable":
            reasons.append("synthesis workers not running")
        if self._scheduler.saturated:
            reasons.append("synthesis queue full")
        return Readiness(ready=not reasons, reasons=reasons, queue=self.queue())
