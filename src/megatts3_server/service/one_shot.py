"""One-shot references (synthesize_file): the voice an uploaded recording speaks with, prepared once and
reused while it is recent, or taken from a stored voice made of the same recording.

Kept per tenant: a tenant never reuses what another's reference or stored voice made, so
``X-Voice-Prepared: reused`` says nothing about what others uploaded.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np

from megatts3_server.audio import DecodedAudio
from megatts3_server.engines.base import Engine, PreparedVoice, VoiceContext
from megatts3_server.voices import VoiceStoreInterface
from megatts3_server.voices.status import VoiceStatus

# One-shot references prepared recently, by tenant and content: a client that sends the same
# reference again (a script read line by line) is not made to wait for the preparation again.
_CACHE_SIZE = 64


@dataclass(frozen=True)
class Reference:
    """A decoded reference recording with what it takes to identify and store it."""

    audio: DecodedAudio
    latent: np.ndarray | None
    content_sha256: str
    """Of the audio and the latent as uploaded: what the store keeps."""
    preparation_key: str
    """What the engine's voice depends on: the content hash, or the audio's alone where the engine
    does not use latents (the same recording with or without its latent is one voice)."""


@dataclass(frozen=True)
class OneShotVoice:
    """The voice a synthesize_file request speaks with."""

    context: VoiceContext
    reused: bool
    """True when this reference was prepared before (seen lately, or stored as a voice)."""
    summary: str


class OneShotVoices:
    """Prepares one-shot references within ``budget_seconds``, remembering the last few per tenant."""

    def __init__(self, store: VoiceStoreInterface, engine: Engine, *, budget_seconds: float) -> None:
        self._store = store
        self._engine = engine
        self._budget = budget_seconds
        self._prepared: collections.OrderedDict[tuple[str, str], PreparedVoice] = collections.OrderedDict()
        self._lock = threading.Lock()
        # One preparation per reference at a time: a second request for it waits and reuses the first's.
        self._preparing: dict[tuple[str, str], threading.Lock] = {}

    def knows(self, reference: Reference, tenant: str) -> bool:
        """Whether ``tenant``'s voice for this reference is at hand (no preparation needed)."""
        with self._lock:
            return (tenant, reference.preparation_key) in self._prepared

    def voice(self, reference: Reference, tenant: str) -> OneShotVoice:
        """The voice for a one-shot reference: prepared within the budget, or reused when ``tenant``
        sent the same reference lately or stored it as a voice (CPU work: call it off the event loop)."""
        key = (tenant, reference.preparation_key)
        with self._lock:
            lock = self._preparing.setdefault(key, threading.Lock())
        try:
            with lock:
                prepared, reused = self._prepared_voice(reference, key)
        finally:
            with self._lock:
                if not lock.locked():
                    self._preparing.pop(key, None)
        content = reference.preparation_key
        context = VoiceContext(
            voice_id=f"upload-{content[:12]}", meta=prepared.meta, arrays=prepared.arrays, version=content
        )
        return OneShotVoice(context=context, reused=reused, summary=prepared.summary)

    def _prepared_voice(self, reference: Reference, key: tuple[str, str]) -> tuple[PreparedVoice, bool]:
        with self._lock:
            prepared = self._prepared.get(key)
            if prepared is not None:
                self._prepared.move_to_end(key)
                return prepared, True
        prepared = self._stored_by_content(reference, tenant=key[0])
        reused = prepared is not None
        if prepared is None:
            prepared = self._engine.enroll_voice(reference.audio, reference.latent, budget_seconds=self._budget)
        with self._lock:
            self._prepared[key] = prepared
            while len(self._prepared) > _CACHE_SIZE:
                self._prepared.popitem(last=False)
        return prepared, reused

    def _stored_by_content(self, reference: Reference, tenant: str) -> PreparedVoice | None:
        """What enrollment made of ``tenant``'s stored, ready voice with the same reference audio, if any."""
        stored = self._store.find_by_content(reference.content_sha256, self._engine.capabilities.name, tenant)
        if stored is None or stored.status != VoiceStatus.READY:
            return None
        arrays = self._store.load_arrays(stored.id)
        return PreparedVoice(meta=stored.meta, arrays=arrays, summary=stored.summary, similarity=stored.similarity)
