"""The synthesis cache: in-process by default, Redis when configured."""

from collections.abc import Callable

from megatts3_server.cache.base import AudioCache, CachedAudio, CorruptEntryError, NoCache, cache_key
from megatts3_server.cache.memory import MemoryCache
from megatts3_server.config import CacheSettings


def build_cache(settings: CacheSettings, on_corrupt: Callable[[], None] | None = None) -> AudioCache:
    """The configured cache; ``on_corrupt`` is called for each stored entry that does not decode."""
    cache: AudioCache
    if not settings.enabled:
        cache = NoCache()
    elif settings.backend == "redis":
        from megatts3_server.cache.redis_cache import RedisCache

        cache = RedisCache(settings.redis, settings.ttl)
    else:
        cache = MemoryCache(int(settings.max_size), settings.ttl)
    cache.on_corrupt = on_corrupt
    return cache


__all__ = ["AudioCache", "CachedAudio", "CorruptEntryError", "MemoryCache", "NoCache", "build_cache", "cache_key"]
