"""What /health and /ready report: whether the service can synthesize, with the figures behind it.

``status`` is "healthy" when a synthesis request would be served and nothing around it is in
trouble: the engine is loaded and the synthesis workers run. It is "degraded" (still 200: speech is
served) when a part the service can run without is in trouble: the storage disk is fuller than
``storage.disk_warn_percent`` or too full for an upload, the voice store cannot be read, or the cache
backend does not answer; ``problems`` says what, in words. Otherwise it says why nothing can be
served: "starting" (the model is loading), "failed" (the load failed; see engine.error) or
"unavailable" (the synthesis workers are not running), and /health answers 503 with the same body:
a gate that checks the status code (the AI-Sound backend, compose and Kubernetes probes) never
starts work before the engine can take it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import psutil

from megatts3_server import __version__
from megatts3_server.cache import AudioCache
from megatts3_server.errors import ServiceError
from megatts3_server.gpu import gpu_stats
from megatts3_server.service.engine_loader import EngineLoader, EngineState
from megatts3_server.service.scheduler import Scheduler


def _human(size: float) -> str:
    return f"{size / 1e9:.1f}GB" if size >= 1e8 else f"{size / 1e6:.1f}MB"


@dataclass(frozen=True)
class HealthReport:
    body: dict[str, Any]

    @property
    def serving(self) -> bool:
        """Whether speech is served (healthy or degraded): /health answers 200."""
        return self.body["status"] in ("healthy", "degraded")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reasons: list[str]
    queue: dict[str, Any]


@dataclass(frozen=True)
class StorageProbe:
    """Where the voice store lives and how to read it, for the storage part of /health."""

    root: Path
    check: Callable[[], None]
    """Reads the store once; raises ServiceError when it cannot."""
    warn_percent: float
    min_free_bytes: int = 5_000_000
    """Below this the disk is too full for an upload: a minute of reference audio, stored as WAV, is ~3 MB."""

    def report(self) -> tuple[dict[str, Any], list[str]]:
        problems: list[str] = []
        body: dict[str, Any] = {"path": str(self.root)}
        try:
            usage = shutil.disk_usage(self.root)
        except OSError as exc:
            return {**body, "readable": False, "error": str(exc)}, [f"storage folder unusable: {exc}"]
        used_percent = 100.0 * (usage.total - usage.free) / usage.total if usage.total else 100.0
        body.update(used_percent=round(used_percent, 1), free=_human(usage.free), free_bytes=usage.free)
        if used_percent > self.warn_percent:
            problems.append(f"storage disk {used_percent:.0f} % used (over {self.warn_percent:g} %)")
        if usage.free < self.min_free_bytes:
            problems.append(f"storage disk has {_human(usage.free)} free: too little to store an upload")
        try:
            self.check()
            body["readable"] = True
        except ServiceError as exc:
            body["readable"] = False
            body["error"] = exc.message
            problems.append(f"voice store unreadable: {exc.message}")
        return body, problems


class HealthService:
    def __init__(
        self,
        loader: EngineLoader,
        scheduler: Scheduler,
        cache: AudioCache,
        *,
        max_queue: int,
        storage: StorageProbe | None = None,
    ) -> None:
        self._loader = loader
        self._scheduler = scheduler
        self._cache = cache
        self._max_queue = max_queue
        self._storage = storage
        self._draining = False

    def begin_drain(self) -> None:
        """The process is stopping (SIGTERM): /ready says so, so that balancers send new work elsewhere
        while the requests in flight finish."""
        self._draining = True

    @property
    def draining(self) -> bool:
        """Whether the process is stopping."""
        return self._draining

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

    async def report(self) -> HealthReport:
        """The /health body: the guide's fields plus the engine, storage, cache and process figures an
        operator needs; the cache backend and the store are probed now, not taken on trust."""
        cache = await self._cache.probe()
        return await anyio.to_thread.run_sync(self._report, cache)

    def _report(self, cache: dict[str, Any]) -> HealthReport:
        """Blocking part of report() (psutil, NVML, the disk)."""
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
            "cache": cache,
        }
        problems = [] if cache.get("healthy", True) else [f"cache: {cache.get('error', 'unhealthy')}"]
        if self._storage is not None:
            body["storage"], trouble = self._storage.report()
            problems.extend(trouble)
        if problems:
            body["problems"] = problems
            if body["status"] == "healthy":
                body["status"] = "degraded"
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
        """Whether this replica should get traffic: loaded and not draining. A busy replica stays ready
        (it queues, or answers 503 queue_full for a balancer to retry elsewhere): dropping it from a
        Service while it is busy would only push its load onto the others. ``queue`` shows saturation."""
        reasons = []
        status = self._status()
        if status == "starting":
            reasons.append("model not loaded")
        elif status == "failed":
            reasons.append(f"model failed to load: {self._loader.error}")
        elif status == "unavailable":
            reasons.append("synthesis workers not running")
        if self._draining:
            reasons.append("draining: the process is stopping")
        return Readiness(ready=not reasons, reasons=reasons, queue=self.queue())
