"""What a replica keeps to itself although other replicas serve the same clients.

With the voice store on PostgreSQL (several replicas) or ``api.workers`` above 1 (several processes),
an in-memory audio cache or rate limiter is per process: each replica caches on its own and gives
every key its own full budget, so a client spread over N replicas gets N times its rate limit. Redis
(``model.cache.backend: redis``, ``api.rate_limit.storage: redis://...``) shares them.
``shared_state_warnings`` names each such part; the service logs them as warnings when it starts.
"""

from __future__ import annotations

from megatts3_server.config import Settings


def runs_beside_others(settings: Settings) -> bool:
    """Whether this process is one of several serving the same clients."""
    return settings.storage.backend == "postgres" or settings.api.workers > 1


def shared_state_warnings(settings: Settings) -> list[str]:
    """One sentence per process-local part that other replicas or workers do not share."""
    if not runs_beside_others(settings):
        return []
    why = (
        "storage.backend is postgres (several replicas)"
        if settings.storage.backend == "postgres"
        else f"api.workers is {settings.api.workers}"
    )
    warnings = []
    cache = settings.model.cache
    if cache.enabled and cache.backend == "memory":
        warnings.append(
            f"{why} but model.cache.backend is memory: each process caches audio on its own "
            "(set model.cache.backend: redis to share one cache)"
        )
    limits = settings.api.rate_limit
    if limits.enabled and limits.storage.startswith("memory://"):
        warnings.append(
            f"{why} but api.rate_limit.storage is memory://: each process gives every key its own full budget, "
            "so a client spread over N of them gets N times its rate limit (set a redis:// URL to share it)"
        )
    return warnings
