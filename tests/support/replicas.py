"""Several real ``megatts3-server serve`` replicas sharing one PostgreSQL voice store and one Redis
(audio cache and rate limits), as docker-compose.scale.yml runs them."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.server import ServerProcess, write_configs


@contextmanager
def running_replicas(
    folder: Path,
    model_cache: Path,
    count: int,
    *,
    database_url: str,
    redis_url: str,
    threads: int = 1,
    cache: bool = True,
    api: dict[str, Any] | None = None,
    cloning: dict[str, Any] | None = None,
) -> Iterator[list[ServerProcess]]:
    """``count`` replicas started together, each with ``threads`` inference threads and one synthesis
    worker (``cloning``: model.cloning, default no search); stopped (SIGTERM) when the block ends."""
    servers = []
    for number in range(count):
        own = folder / f"replica-{number}"
        model_config, api_config = write_configs(
            own,
            storage=own / "storage",
            cache=model_cache,
            api={"scheduler": {"workers": 1}, "rate_limit": {"enabled": False}, **(api or {})},
            model={
                "inference": {"device": "cpu", "max_length": 1000, "threads": threads},
                "cache": {"enabled": cache, "backend": "redis", "redis": {"url": redis_url}},
                **({"cloning": cloning} if cloning else {}),
            },
            storage_extra={"backend": "postgres", "database_url": database_url},
        )
        servers.append(ServerProcess(model_config, api_config))
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda server: server.start(timeout=300), servers))
        yield servers
    finally:
        for server in servers:
            server.stop()
