"""The synthesis cache: in-process by default, Redis when configured."""

from megatts3_server.cache.base import AudioCache, CachedAudio, NoCache, cache_key
from megatts3_server.cache.memory import MemoryCache
from megatts3_server.config import CacheSettings


def build_cache(settings: CacheSettings) -> AudioCache:
    if not settings.enabled:
        return NoCache()
    if settings.backend == "redis":
        from megatts3_server.cache.redis_cache import RedisCache

        return RedisCache(settings.redis, settings.ttl)
    return MemoryCache(int(settings.max_size), settings.ttl)


__all__ = ["AudioCache", "CachedAudio", "MemoryCache", "NoCache", "build_cache", "cache_key"]
