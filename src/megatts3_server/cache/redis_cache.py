"""The shared cache: Redis, with zlib compression and TTL. If Redis is unreachable (down, frozen: every
call has a timeout), requests go on uncached and /health says so (it pings Redis); reconnection is
tried again after a short back-off. A value that does not decode is a miss: it is deleted and counted."""

from __future__ import annotations

import logging
import time
import zlib
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from megatts3_server.cache.base import AudioCache, CachedAudio, CorruptEntryError
from megatts3_server.config import RedisCacheSettings

log = logging.getLogger(__name__)

# After a failure, the next this many seconds skip Redis entirely instead of waiting on timeouts.
_RETRY_AFTER_SECONDS = 5.0


class RedisCache(AudioCache):
    backend = "redis"

    def __init__(self, settings: RedisCacheSettings, ttl: int) -> None:
        self._settings = settings
        self._ttl = ttl or None
        self._prefix = settings.key_prefix
        self._client = redis.Redis.from_url(
            settings.url, socket_timeout=settings.socket_timeout, socket_connect_timeout=settings.socket_timeout
        )
        self._down_since: float | None = None
        self._last_error = ""
        self._configured = False

    async def get(self, key: str) -> CachedAudio | None:
        data = await self._call("get", self._prefix + key)
        if data is None:
            return None
        try:
            return CachedAudio.from_bytes(zlib.decompress(data) if self._settings.compression else data)
        except (zlib.error, CorruptEntryError) as exc:
            log.warning("dropping an undecodable redis cache entry %s (%s)", key, exc)
            if self.on_corrupt is not None:
                self.on_corrupt()
            await self._call("delete", self._prefix + key)
            return None

    async def put(self, key: str, value: CachedAudio, tag: str) -> None:
        data = value.to_bytes()
        if self._settings.compression:
            data = zlib.compress(data, 1)
        tag_key = f"{self._prefix}tag:{tag}"
        pipeline = self._client.pipeline(transaction=False)
        pipeline.set(self._prefix + key, data, ex=self._ttl)
        pipeline.sadd(tag_key, key)
        if self._ttl:
            pipeline.expire(tag_key, self._ttl)
        await self._call_pipeline(pipeline)

    async def invalidate(self, tag: str) -> int:
        tag_key = f"{self._prefix}tag:{tag}"
        members = await self._call("smembers", tag_key)
        if not members:
            return 0
        await self._call("delete", tag_key, *(self._prefix + m.decode() for m in members))
        return len(members)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"backend": self.backend, "healthy": self._down_since is None}
        if self._down_since is not None:
            status["error"] = f"redis unreachable, serving uncached: {self._last_error}"
        return status

    async def probe(self) -> dict[str, Any]:
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
        else:
            if self._down_since is not None:
                log.info("the redis cache at %s answers again", self._settings.url)
            self._down_since = None
        return self.status()

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, command: str, *args: Any) -> Any:
        if not await self._available():
            return None
        try:
            result = await getattr(self._client, command)(*args)
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            return None
        return result

    async def _call_pipeline(self, pipeline: Any) -> None:
        if not await self._available():
            return
        try:
            await pipeline.execute()
        except (RedisError, OSError) as exc:
            self._mark_down(exc)

    async def _available(self) -> bool:
        if self._down_since is not None:
            if time.monotonic() - self._down_since < _RETRY_AFTER_SECONDS:
                return False
            self._down_since = None
            log.info("retrying the redis cache at %s", self._settings.url)
        if not self._configured:
            await self._configure_memory()
        return self._down_since is None

    async def _configure_memory(self) -> None:
        """Apply max_memory with LRU eviction when the server has no limit of its own."""
        try:
            current = await self._client.config_get("maxmemory")
            if int(current.get("maxmemory", 0)) == 0:
                await self._client.config_set("maxmemory", int(self._settings.max_memory))
                await self._client.config_set("maxmemory-policy", "allkeys-lru")
            self._configured = True
        except ResponseError:
            self._configured = True  # a managed Redis that forbids CONFIG: its own limits apply
        except (RedisError, OSError) as exc:
            self._mark_down(exc)

    def _mark_down(self, exc: Exception) -> None:
        if self._down_since is None:
            log.warning("redis cache unreachable (%s); serving uncached", exc)
        self._down_since = time.monotonic()
        self._last_error = str(exc) or type(exc).__name__
