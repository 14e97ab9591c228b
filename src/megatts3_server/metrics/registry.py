"""The service's Prometheus metrics, in a registry of their own (one per app, so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.process_collector import ProcessCollector

from megatts3_server.metrics.gpu import GpuCollector

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0)
_RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)


class Metrics:
    """Every metric the service exports; names start with ``megatts3_``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)  # process_resident_memory_bytes, cpu seconds, open fds
        GpuCollector(registry=registry)
        self.requests = Counter("megatts3_requests", "HTTP requests handled", ["route", "status"], registry=registry)
        self.errors = Counter("megatts3_errors", "Error responses by error code", ["code"], registry=registry)
        self.synthesis_latency = Histogram(
            "megatts3_synthesis_latency_seconds",
            "Time from admission to the last audio of a synthesis",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.first_audio_latency = Histogram(
            "megatts3_first_audio_latency_seconds",
            "Time from admission to the first audio of a streamed synthesis",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.real_time_factor = Histogram(
            "megatts3_real_time_factor",
            "Synthesis seconds per second of audio produced",
            buckets=_RTF_BUCKETS,
            registry=registry,
        )
        self.syntheses = Counter("megatts3_syntheses", "Syntheses completed", ["mode"], registry=registry)
        self.characters = Counter("megatts3_characters", "Characters synthesized", registry=registry)
        self.audio_seconds = Counter("megatts3_audio_seconds", "Seconds of audio produced", registry=registry)
        self.queue_depth = Gauge(
            "megatts3_queue_depth", "Synthesis requests admitted (running + waiting)", registry=registry
        )
        self.pieces = Counter(
            "megatts3_pieces",
            "Text pieces by outcome: spoken by the engine, or dropped by a cancel before it ran them",
            ["outcome"],
            registry=registry,
        )
        self.engine_seconds = Counter(
            "megatts3_engine_seconds",
            "Seconds the engine spent synthesizing, by work: interactive requests or background (job segments)",
            ["work"],
            registry=registry,
        )
        self.streams_aborted = Counter(
            "megatts3_streams_aborted",
            "Streams cut off after their first bytes (timeout, engine failure), by reason",
            ["reason"],
            registry=registry,
        )
        self.job_segments = Counter(
            "megatts3_job_segments",
            "Long-form job segments finished, by outcome: synthesized, reused (cached by content) or failed",
            ["outcome"],
            registry=registry,
        )
        self.cache_lookups = Counter("megatts3_cache_lookups", "Cache lookups", ["result"], registry=registry)
        self.cache_corrupt = Counter(
            "megatts3_cache_corrupt_entries",
            "Cache entries that did not decode (deleted and read as misses)",
            registry=registry,
        )
        self.cache_hit_ratio = Gauge("megatts3_cache_hit_ratio", "Cache hits / lookups since start", registry=registry)
        self._hits = 0
        self._lookups = 0

    def cache_lookup(self, hit: bool) -> None:
        self.cache_lookups.labels(result="hit" if hit else "miss").inc()
        self._lookups += 1
        self._hits += int(hit)
        self.cache_hit_ratio.set(self._hits / self._lookups)

    def synthesis_done(self, *, mode: str, seconds: float, audio_seconds: float, characters: int) -> None:
        self.syntheses.labels(mode=mode).inc()
        self.synthesis_latency.observe(seconds)
        self.characters.inc(characters)
        self.audio_seconds.inc(audio_seconds)
        if audio_seconds > 0:
            self.real_time_factor.observe(seconds / audio_seconds)

    def serve(self, host: str, port: int) -> object:
        """Expose the metrics on their own listener (``api.monitoring.metrics_port``)."""
        server, _thread = _start_http_server(port, addr=host, registry=self.registry)
        return server
