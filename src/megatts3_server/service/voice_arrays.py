"""Each replica's copy of the engine arrays of the voices it speaks in lately, keyed by voice version.

A ready voice's arrays never change under its version (``created_at:content_sha256``: a voice stored
anew under the same id has a new one), so a copy read from the store once serves every later request,
on any replica, without a lock across replicas or an invalidation message: a voice deleted or
replaced elsewhere is simply looked up under its new version, and the old entry ages out.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

import numpy as np

Arrays = dict[str, np.ndarray]


class VoiceArrayCache:
    """A bounded LRU of loaded voice arrays; ``hits``/``misses`` count the lookups."""

    def __init__(self, max_voices: int = 128) -> None:
        self._max_voices = max_voices
        self._entries: collections.OrderedDict[tuple[str, str], Arrays] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, voice_id: str, version: str, load: Callable[[], Arrays]) -> Arrays:
        """The arrays of ``voice_id`` at ``version``: a stored copy, or ``load()``'s, kept for next time."""
        key = (voice_id, version)
        with self._lock:
            arrays = self._entries.get(key)
            if arrays is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return arrays
            self.misses += 1
        arrays = load()
        for array in arrays.values():
            array.setflags(write=False)  # shared by every request that speaks in this voice
        with self._lock:
            self._entries[key] = arrays
            while len(self._entries) > self._max_voices:
                self._entries.popitem(last=False)
        return arrays

    def forget(self, voice_id: str) -> None:
        """Drop every version of ``voice_id`` (it was deleted or replaced on this replica)."""
        with self._lock:
            for key in [key for key in self._entries if key[0] == voice_id]:
                del self._entries[key]
