"""NVIDIA GPU figures from NVML (nvidia-ml-py), for /health and the metrics; empty without a GPU."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuStats:
    index: int
    total: int
    used: int
    free: int
    utilization: float
    """Busy fraction over NVML's last sample period, 0-1."""


@functools.cache
def _nvml() -> Any | None:
    """The initialised pynvml module, or None (no driver, library or visible device)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml if pynvml.nvmlDeviceGetCount() else None
    except Exception:  # every failure here means "no usable GPU"
        return None


def gpu_stats() -> list[GpuStats]:
    """Memory and utilization of every visible NVIDIA GPU right now ([] when there is none)."""
    nvml = _nvml()
    if nvml is None:
        return []
    stats = []
    try:
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            busy = nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100
            stats.append(GpuStats(index, int(memory.total), int(memory.used), int(memory.free), busy))
    except Exception as exc:  # a GPU that falls off the bus must not break /health or a scrape
        log.warning("NVML read failed: %s", exc)
        return []
    return stats
