"""The small interface every TTS engine implements; the service layer knows engines only through it.

An engine turns one piece of normalized text (a sentence or clause, already within the engine's
length budget) into float32 mono audio at its own sample rate. Everything around that (text
normalization, splitting, joining, effects, encoding, storage, HTTP) belongs to other packages.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from megatts3_server.audio import DecodedAudio


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine can do, reported by /health and used to validate requests."""

    name: str
    sample_rate: int
    languages: tuple[str, ...]
    emotions: frozenset[str]
    """Emotions the engine really renders; others are accepted and reported as not applied."""
    max_batch_size: int = 1
    voice_cloning: bool = False
    """True when prepare_voice() makes the engine speak in the reference speaker's own voice."""
    accepts_latent: bool = False
    """True when prepare_voice() uses a reference's precomputed latent (.npy)."""
    device: str = "cpu"


@dataclass(frozen=True)
class BuiltinVoice:
    """A voice that ships with an engine (no upload needed)."""

    id: str
    name: str
    description: str
    language: str
    gender: str


@dataclass(frozen=True)
class VoiceContext:
    """Everything an engine needs to speak in one voice.

    ``meta`` is small JSON-serialisable data, ``arrays`` the larger numeric state, both produced by
    the engine itself (prepare_voice or a built-in voice) and stored with the voice by the voice store.
    """

    voice_id: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedVoice:
    """The result of preparing a reference recording once, at upload time."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    summary: str = ""
    """One human sentence on what the engine made of the reference (returned to the client)."""


class Engine(ABC):
    """Base class of the engines; see the module docstring for the contract."""

    @property
    @abstractmethod
    def capabilities(self) -> EngineCapabilities:
        """Static facts about the engine (valid before load())."""

    @property
    @abstractmethod
    def loaded(self) -> bool:
        """Whether load() completed and synthesize() can be called."""

    @abstractmethod
    def load(self) -> None:
        """Load weights and warm up. Raises ServiceError subclasses with a clear message on failure."""

    @abstractmethod
    def builtin_voices(self) -> list[BuiltinVoice]:
        """The voices that ship with the engine."""

    @abstractmethod
    def builtin_context(self, voice_id: str) -> VoiceContext:
        """The context of a built-in voice (KeyError when the id is not built in)."""

    @abstractmethod
    def prepare_voice(self, reference: DecodedAudio, latent: np.ndarray | None) -> PreparedVoice:
        """Turn an uploaded reference recording (and its optional latent) into a voice context."""

    @abstractmethod
    def synthesize(self, text: str, voice: VoiceContext, *, speed: float = 1.0) -> np.ndarray:
        """Speak one piece of normalized text; returns float32 mono audio at capabilities.sample_rate."""

    def synthesize_batch(self, texts: Sequence[str], voice: VoiceContext, *, speed: float = 1.0) -> list[np.ndarray]:
        """Speak several pieces in one voice; engines that batch natively override this."""
        return [self.synthesize(text, voice, speed=speed) for text in texts]

    def voice_used(self, voice: VoiceContext) -> str:
        """A short name of what the engine actually speaks with for ``voice`` (reported to clients)."""
        return voice.voice_id

    def max_piece_chars(self) -> int:
        """The longest piece of text (in characters) one synthesize() call should be given."""
        return 200
