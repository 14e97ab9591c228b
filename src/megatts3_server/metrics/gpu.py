"""GPU utilization and memory gauges, read at scrape time; absent on a machine without a GPU."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from megatts3_server.gpu import gpu_stats


class GpuCollector(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = gpu_stats()
        if not stats:
            return
        utilization = GaugeMetricFamily("megatts3_gpu_utilization_ratio", "GPU busy fraction", labels=["gpu"])
        used = GaugeMetricFamily("megatts3_gpu_memory_used_bytes", "GPU memory in use", labels=["gpu"])
        total = GaugeMetricFamily("megatts3_gpu_memory_total_bytes", "GPU memory", labels=["gpu"])
        for gpu in stats:
            utilization.add_metric([str(gpu.index)], gpu.utilization)
            used.add_metric([str(gpu.index)], gpu.used)
            total.add_metric([str(gpu.index)], gpu.total)
        yield from (utilization, used, total)
