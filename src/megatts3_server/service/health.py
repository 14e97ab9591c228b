"""The figures /health reports: engine state, GPU presence and real memory usage."""

from __future__ import annotations

import functools
import os
from typing import Any

import psutil

from megatts3_server import __version__
from megatts3_server.engines.base import Engine


def _human(size: float) -> str:
    return f"{size / 1e9:.1f}GB" if size >= 1e8 else f"{size / 1e6:.1f}MB"


@functools.cache
def _nvml_device() -> Any | None:
    """The NVML handle of the first visible NVIDIA GPU, or None (no driver, library or device)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByIndex(0) if pynvml.nvmlDeviceGetCount() else None
    except Exception:  # every failure here means "no usable GPU"
        return None


def gpu_memory() -> dict[str, int] | None:
    """Total/used/free bytes of the first visible NVIDIA GPU right now, or None when there is none."""
    device = _nvml_device()
    if device is None:
        return None
    import pynvml

    info = pynvml.nvmlDeviceGetMemoryInfo(device)
    return {"total": int(info.total), "used": int(info.used), "free": int(info.free)}


def health_report(engine: Engine) -> dict[str, Any]:
    """The /health body: the seed's fields plus the engine and process figures an operator needs."""
    memory = psutil.virtual_memory()
    process = psutil.Process()
    gpu = gpu_memory()
    report: dict[str, Any] = {
        "status": "healthy" if engine.loaded else "starting",
        "version": __version__,
        "model_loaded": engine.loaded,
        "gpu_available": gpu is not None,
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
    if gpu is not None:
        report["gpu_memory"] = {key: _human(value) for key, value in gpu.items()}
    return report
