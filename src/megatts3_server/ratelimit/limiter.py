"""Per-client rate limits with the `limits` library, in memory or in Redis (shared by workers).

A token bucket of ``burst_size`` tokens refilled at ``requests_per_minute`` is expressed as two moving
windows: at most ``burst_size`` requests in the time the bucket takes to refill that many, and at
most ``requests_per_minute`` in any minute. A client can burst, then settles to the steady rate.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from megatts3_server.config import RateLimitSettings
from megatts3_server.errors import RateLimitedError

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, settings: RateLimitSettings) -> None:
        url = settings.storage.removeprefix("async+")
        # limits' async Redis storage defaults to coredis; redis-py is the client the cache already uses.
        options = {"implementation": "redispy"} if url.startswith(("redis://", "rediss://")) else {}
        self._storage = storage_from_string(f"async+{url}", **options)
        self._strategy = MovingWindowRateLimiter(self._storage)
        refill_seconds = max(1, math.ceil(60 * settings.burst_size / settings.requests_per_minute))
        self._items = [
            RateLimitItemPerSecond(settings.burst_size, refill_seconds),
            RateLimitItemPerMinute(settings.requests_per_minute),
        ]
        self._describe = f"{settings.burst_size} at once, {settings.requests_per_minute} per minute"

    async def check(self, client: str) -> None:
        """Count a request of ``client``; raise 429 with Retry-After when over a limit.

        A limit store that cannot be reached lets requests through (logged): losing the limits for a
        while is better than refusing every client.
        """
        for item in self._items:
            try:
                allowed = await self._strategy.hit(item, "megatts3", client)
                if allowed:
                    continue
                stats = await self._strategy.get_window_stats(item, "megatts3", client)
            except Exception as exc:  # the storage backends raise their own connection errors
                log.warning("rate limit storage unavailable (%s); request allowed", exc)
                return
            raise RateLimitedError(
                f"too many requests from this client (limit: {self._describe}); retry later",
                retry_after=max(1.0, stats.reset_time - time.time()),
            )
