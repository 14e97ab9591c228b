"""The default cache: in this process, least recently used entries evicted past ``max_size`` bytes."""

from __future__ import annotations

import collections
import time
from typing import Any

from megatts3_server.cache.base import AudioCache, CachedAudio


class MemoryCache(AudioCache):
    backend = "memory"

    def __init__(self, max_bytes: int, ttl: float) -> None:
        self._max_bytes = max_bytes
        self._ttl = ttl
        self._entries: collections.OrderedDict[str, tuple[CachedAudio, float, str]] = collections.OrderedDict()
        self._tags: dict[str, set[str]] = collections.defaultdict(set)
        self._bytes = 0

    async def get(self, key: str) -> CachedAudio | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires, _ = entry
        if expires and expires < time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def put(self, key: str, value: CachedAudio, tag: str) -> None:
        size = len(value.audio)
        if size > self._max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        expires = time.monotonic() + self._ttl if self._ttl else 0.0
        self._entries[key] = (value, expires, tag)
        self._tags[tag].add(key)
        self._bytes += size
        while self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    async def invalidate(self, tag: str) -> int:
        keys = self._tags.pop(tag, set())
        for key in keys:
            self._drop(key)
        return len(keys)

    def status(self) -> dict[str, Any]:
        return {"backend": self.backend, "healthy": True, "entries": len(self._entries), "bytes": self._bytes}

    def _drop(self, key: str) -> None:
        value, _, tag = self._entries.pop(key)
        self._bytes -= len(value.audio)
        keys = self._tags.get(tag)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._tags[tag]
