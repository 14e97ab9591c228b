"""What the synthesis cache stores, how entries are keyed, and the interface of its backends."""

from __future__ import annotations

import hashlib
import json
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


class CorruptEntryError(ValueError):
    """A stored cache value that does not decode (bad framing, bad compression, foreign data)."""


@dataclass(frozen=True)
class CachedAudio:
    """An encoded response and the facts its headers report."""

    audio: bytes
    duration: float
    voice_used: str

    def to_bytes(self) -> bytes:
        meta = json.dumps({k: v for k, v in asdict(self).items() if k != "audio"}).encode()
        return struct.pack("<I", len(meta)) + meta + self.audio

    @classmethod
    def from_bytes(cls, data: bytes) -> CachedAudio:
        """Decode what ``to_bytes`` wrote; CorruptEntryError for anything else."""
        try:
            (size,) = struct.unpack_from("<I", data)
            if size > len(data) - 4:
                raise ValueError(f"metadata of {size} bytes in an entry of {len(data)}")
            meta = json.loads(data[4 : 4 + size])
            entry = cls(audio=data[4 + size :], duration=float(meta["duration"]), voice_used=str(meta["voice_used"]))
        except (struct.error, ValueError, TypeError, KeyError) as exc:
            raise CorruptEntryError(f"undecodable cache entry: {exc}") from exc
        if not entry.audio:
            raise CorruptEntryError("undecodable cache entry: no audio")
        return entry


def cache_key(**parts: Any) -> str:
    """A stable key over everything that changes the output (engine, voice version, text, parameters, format)."""
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class AudioCache(ABC):
    """A bounded, expiring store of synthesized audio; entries are tagged with their voice id."""

    backend: str
    on_corrupt: Callable[[], None] | None = None
    """Called for each stored entry that did not decode (it is then dropped and read as a miss)."""

    @abstractmethod
    async def get(self, key: str) -> CachedAudio | None:
        """The entry, or None (also when the backend is unreachable: a cache never fails a request)."""

    @abstractmethod
    async def put(self, key: str, value: CachedAudio, tag: str) -> None:
        """Store an entry under ``key``, tagged (for invalidation) with ``tag``."""

    @abstractmethod
    async def invalidate(self, tag: str) -> int:
        """Drop every entry tagged ``tag``; returns how many were dropped."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """Backend, health and size, for /health."""

    async def probe(self) -> dict[str, Any]:
        """status() after checking the backend is reachable now (for /health)."""
        return self.status()

    async def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release connections."""


class NoCache(AudioCache):
    """model.cache.enabled: false."""

    backend = "none"

    async def get(self, key: str) -> CachedAudio | None:
        return None

    async def put(self, key: str, value: CachedAudio, tag: str) -> None:
        return None

    async def invalidate(self, tag: str) -> int:
        return 0

    def status(self) -> dict[str, Any]:
        return {"backend": self.backend, "healthy": True}
