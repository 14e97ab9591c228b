"""The in-process cache: LRU eviction by bytes, TTL, invalidation by voice."""

from __future__ import annotations

import asyncio
import time

from megatts3_server.cache import CachedAudio, MemoryCache, cache_key


def _entry(size: int) -> CachedAudio:
    return CachedAudio(audio=b"x" * size, duration=1.0, voice_used="v")


def test_least_recently_used_entries_go_first_past_the_byte_bound() -> None:
    async def scenario() -> None:
        cache = MemoryCache(max_bytes=300, ttl=0)
        for key in "abc":
            await cache.put(key, _entry(100), tag="v1")
        assert await cache.get("a") is not None  # a is now the most recent
        await cache.put("d", _entry(100), tag="v1")
        assert await cache.get("b") is None
        assert all([await cache.get(key) for key in "acd"])
        assert cache.status()["bytes"] == 300

    asyncio.run(scenario())


def test_entries_expire_after_ttl() -> None:
    async def scenario() -> None:
        cache = MemoryCache(max_bytes=1000, ttl=0.05)
        await cache.put("a", _entry(10), tag="v")
        assert await cache.get("a") is not None
        time.sleep(0.06)
        assert await cache.get("a") is None
        assert cache.status()["entries"] == 0

    asyncio.run(scenario())


def test_invalidate_drops_only_that_voice() -> None:
    async def scenario() -> None:
        cache = MemoryCache(max_bytes=1000, ttl=0)
        await cache.put("a", _entry(10), tag="v1")
        await cache.put("b", _entry(10), tag="v2")
        assert await cache.invalidate("v1") == 1
        assert await cache.get("a") is None
        assert await cache.get("b") is not None

    asyncio.run(scenario())


def test_entry_round_trips_and_keys_follow_every_part() -> None:
    entry = CachedAudio(audio=b"\x00\x01RIFF", duration=2.5, voice_used="jf_alpha")
    assert CachedAudio.from_bytes(entry.to_bytes()) == entry
    base = {"engine": "e", "voice": "v", "text": "你好", "speed": 1.0}
    assert cache_key(**base) == cache_key(**dict(reversed(base.items())))
    assert all(cache_key(**{**base, k: "other"}) != cache_key(**base) for k in base)
