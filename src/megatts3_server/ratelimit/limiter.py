"""Per-caller request budgets with the `limits` library, in memory or in Redis (shared by workers).

A token bucket of ``burst_size`` tokens refilled at ``requests_per_minute`` is expressed as two moving
windows: at most ``burst_size`` requests in the time the bucket takes to refill that many, and at
most ``requests_per_minute`` in any minute. A caller can burst, then settles to the steady rate.

A request is checked when it arrives (refused with 429 when the budget is already spent, at no cost)
and charged only when the service starts real work for it: a request refused as invalid, or answered
from the cache, costs nothing (see Quota).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import anyio
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from megatts3_server.errors import RateLimitedError

log = logging.getLogger(__name__)

_NAMESPACE = "megatts3"
# A limit store slower than this counts as down (a frozen Redis must not hold requests), and is then
# skipped for the back-off instead of making every request wait for it.
_STORAGE_TIMEOUT_SECONDS = 1.0
_STORAGE_BACKOFF_SECONDS = 5.0


@dataclass(frozen=True)
class RatePolicy:
    """One caller's budget."""

    requests_per_minute: int
    burst_size: int

    def describe(self) -> str:
        return f"{self.burst_size} at once, {self.requests_per_minute} per minute"

    def items(self) -> tuple[RateLimitItem, ...]:
        refill_seconds = max(1, math.ceil(60 * self.burst_size / self.requests_per_minute))
        return RateLimitItemPerSecond(self.burst_size, refill_seconds), RateLimitItemPerMinute(self.requests_per_minute)


class RateLimiter:
    """Counts requests per caller in the configured storage ("memory://" or a "redis://" URL)."""

    def __init__(self, storage: str) -> None:
        url = storage.removeprefix("async+")
        # limits' async Redis storage defaults to coredis; redis-py is the client the cache already uses.
        options = {"implementation": "redispy"} if url.startswith(("redis://", "rediss://")) else {}
        self._storage = storage_from_string(f"async+{url}", **options)
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._skip_until = 0.0

    async def _retry_after(self, item: RateLimitItem, caller: str) -> float:
        stats = await self._strategy.get_window_stats(item, _NAMESPACE, caller)
        return max(1.0, stats.reset_time - time.time())

    async def check(self, caller: str, policy: RatePolicy) -> None:
        """Raise 429 when ``caller``'s budget is already spent; counts nothing."""
        await self._apply(caller, policy, consume=False)

    async def charge(self, caller: str, policy: RatePolicy) -> None:
        """Count one request of ``caller``; raise 429 with Retry-After when it is over its budget."""
        await self._apply(caller, policy, consume=True)

    async def _apply(self, caller: str, policy: RatePolicy, *, consume: bool) -> None:
        # A limit store that cannot be reached lets requests through (logged): losing the limits for a
        # while is better than refusing every client.
        if time.monotonic() < self._skip_until:
            return
        for item in policy.items():
            try:
                with anyio.fail_after(_STORAGE_TIMEOUT_SECONDS):
                    allowed = await (self._strategy.hit if consume else self._strategy.test)(item, _NAMESPACE, caller)
                    if allowed:
                        continue
                    retry_after = await self._retry_after(item, caller)
            except Exception as exc:  # the storage backends raise their own connection errors
                log.warning(
                    "rate limit storage unavailable (%s); requests allowed for %g s",
                    exc or "timeout",
                    _STORAGE_BACKOFF_SECONDS,
                )
                self._skip_until = time.monotonic() + _STORAGE_BACKOFF_SECONDS
                return
            raise RateLimitedError(
                f"too many requests from this client (limit: {policy.describe()}); retry later",
                retry_after=retry_after,
            )


class Quota:
    """One request's claim on its caller's budget: checked on arrival, charged once when work starts."""

    def __init__(self, limiter: RateLimiter | None = None, caller: str = "", policy: RatePolicy | None = None) -> None:
        self._limiter = limiter if policy is not None else None
        self._caller = caller
        self._policy = policy
        self._charged = False

    async def check(self) -> None:
        if self._limiter is not None and self._policy is not None:
            await self._limiter.check(self._caller, self._policy)

    async def charge(self) -> None:
        """Count this request (the first call only): the service is about to work for it."""
        if self._charged:
            return
        self._charged = True
        if self._limiter is not None and self._policy is not None:
            await self._limiter.charge(self._caller, self._policy)


def unlimited() -> Quota:
    """The quota of a caller without limits (trusted, an unlimited key, or limits turned off)."""
    return Quota()
