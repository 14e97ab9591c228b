"""The figures /health reports: engine state, GPU presence and real memory usage."""

from __future__ import annotations

from typing import Any

import psutil

from megatts3_server import __version__
from megatts3_server.engines.base import Engine
from megatts3_server.gpu import gpu_stats


def _human(size: float) -> str:
    return f"{size / 1e9:.1f}GB" if size >= 1e8 else f"{size / 1e6:.1f}MB"


def health_report(engine: Engine, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The /health body: the seed's fields plus the engine and process figures an operator needs."""
    memory = psutil.virtual_memory()
    process = psutil.Process()
    gpus = gpu_stats()
    report: dict[str, Any] = {
        "status": "healthy" if engine.loaded else ("failed" if engine.load_error else "starting"),
        "version": __version__,
        "model_loaded": engine.loaded,
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
        },
    }
    if engine.load_error:
        report["engine"]["error"] = engine.load_error
    if gpus:
        report["gpu_memory"] = {
            "total": _human(gpus[0].total),
            "used": _human(gpus[0].used),
            "free": _human(gpus[0].free),
            "utilization": gpus[0].utilization,
        }
    report.update(extra or {})
    return report
