"""The small interface every TTS engine implements; the service layer knows engines only through it.

An engine turns one piece of normalized text (a sentence or clause, already within the engine's
length budget) into float32 mono audio at its own sample rate. Everything around that (text
normalization, splitting, joining, effects, encoding, storage, HTTP) belongs to other packages.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from megatts3_server.audio import DecodedAudio
from megatts3_server.errors import InvalidRequestError


@dataclass(frozen=True)
class ModelInfo:
    """The model an engine runs, as /api/v1/info reports it."""

    name: str
    type: str
    """Its architecture, snake_case (``diffusion_transformer``)."""
    version: str


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
    sampling_options: frozenset[str] = frozenset()
    """Names of the SamplingOptions fields the engine honours (others are accepted and ignored)."""
    readings: bool = False
    """True when synthesize() takes text with readings marked (``[重]{chong2}``, text/pronunciation.py);
    an engine without gets the written words."""
    model: ModelInfo | None = None
    """The model the engine runs; None for an engine with no model of its own (a test's stand-in)."""


@dataclass(frozen=True)
class SamplingOptions:
    """Per-request knobs of sampling engines; None means the engine's configured default."""

    time_step: int | None = None
    """Diffusion / flow-matching steps."""
    p_w: float | None = None
    """Classifier-free guidance weight for intelligibility (text)."""
    t_w: float | None = None
    """Classifier-free guidance weight for similarity to the reference speaker."""
    seed: int | None = None
    """Sampling seed: the same seed, text, voice and options give the same audio."""


@dataclass(frozen=True)
class SynthesisParameters:
    """How to speak: speed and pitch are factors (1.0 = the voice as is)."""

    speed: float = 1.0
    pitch: float = 1.0
    emotion: str = "neutral"
    options: SamplingOptions = field(default_factory=SamplingOptions)
    """Sampling knobs of engines that have them (MegaTTS3: steps, guidance weights, seed)."""


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
    version: str = "builtin"
    """Changes whenever what the voice sounds like changes (re-upload): part of every cache key."""


class CancelToken:
    """Lets a request that is gone (client disconnected, timeout) stop engine work already running.

    Engines register a callback that aborts their current call (onnxruntime's RunOptions.terminate,
    a flag checked between diffusion steps...); ``cancel()`` runs every registered callback once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next_id = 0

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            callback()

    def register(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on cancel (at once if already cancelled); returns the unregister function."""
        with self._lock:
            if not self._cancelled:
                key = self._next_id
                self._next_id += 1
                self._callbacks[key] = callback
                return lambda: self._callbacks.pop(key, None)
        callback()
        return lambda: None


@dataclass(frozen=True)
class BatchItem:
    """One piece of a batch: batches may mix requests, so each item has its own voice and speed."""

    text: str
    voice: VoiceContext
    speed: float = 1.0
    cancel: CancelToken | None = None
    options: SamplingOptions = SamplingOptions()


@dataclass(frozen=True)
class PreparedVoice:
    """The result of preparing a reference recording once, at upload time."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    summary: str = ""
    """One human sentence on what the engine made of the reference (returned to the client)."""
    similarity: float | None = None
    """Speaker similarity (cosine, 0-1) the engine measured between the voice and the reference, if any."""


def is_blend_recipe(voice: str) -> bool:
    """Whether a voice name is a blend recipe (``af_bella(2)+af_sky(1)``, Engine.recipe_context) rather
    than a voice id: ids have neither ``+`` nor parentheses."""
    return any(mark in voice for mark in "+()")


EnrollmentProgress = Callable[[float, float | None], None]
"""Called during enrollment with the fraction done (0-1) and the best similarity so far (or None)."""


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

    def enrolls_in_background(self, budget_seconds: float) -> bool:
        """Whether enroll_voice() with this budget searches (seconds to minutes), so that an upload
        should answer at once and enroll in the background, rather than prepare within the request."""
        return False

    def enroll_voice(
        self,
        reference: DecodedAudio,
        latent: np.ndarray | None,
        *,
        budget_seconds: float = 0.0,
        progress: EnrollmentProgress | None = None,
        cancel: CancelToken | None = None,
    ) -> PreparedVoice:
        """Turn a reference into a voice, spending at most ``budget_seconds`` on making it sound like
        the reference. Engines that prepare at once keep this default: prepare_voice().

        Raises SynthesisCancelledError when ``cancel`` fires while it runs.
        """
        prepared = self.prepare_voice(reference, latent)
        if progress is not None:
            progress(1.0, prepared.similarity)
        return prepared

    @abstractmethod
    def synthesize(
        self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None
    ) -> np.ndarray:
        """Speak one piece of normalized text; returns float32 mono audio at capabilities.sample_rate.

        Raises SynthesisCancelledError when ``cancel`` fires while it runs.
        """

    def synthesize_batch(self, items: Sequence[BatchItem]) -> list[np.ndarray]:
        """Speak several pieces (from one or several requests); engines that batch override this."""
        return [self.synthesize(item.text, item.voice, speed=item.speed, cancel=item.cancel) for item in items]

    def recommended_workers(self) -> int:
        """Synthesis threads that make best use of the machine for this engine (scheduler default)."""
        return 1

    def voice_used(self, voice: VoiceContext) -> str:
        """A short name of what the engine actually speaks with for ``voice`` (reported to clients)."""
        return voice.voice_id

    def max_piece_chars(self) -> int:
        """The longest piece of text (in characters) one synthesize() call should be given."""
        return 200

    def voice_aliases(self) -> dict[str, str]:
        """Other names of built-in voices: OpenAI's voice names -> a built-in voice id (none by default)."""
        return {}

    def default_voice(self) -> str | None:
        """The voice a request that names none speaks with, unless model.default_voice names one: by
        default the first built-in voice; None for an engine without any (a request must name one)."""
        voices = self.builtin_voices()
        return voices[0].id if voices else None

    def voice_packs(self) -> dict[str, Any] | None:
        """What voice data the engine found at its load, as /api/v1/info reports it (None: nothing to say)."""
        return None

    def recipe_context(self, recipe: str) -> VoiceContext:
        """The voice a blend recipe of built-in voices names (``af_bella(2)+af_sky(1)``), its ``voice_id``
        the normalized recipe. InvalidRequestError (422), naming the bad part, for a bad recipe; an
        engine without blends refuses every recipe."""
        raise InvalidRequestError(
            f"voice {recipe!r} is a blend, and this engine ({self.capabilities.name}) has no blends; name one voice",
            code="blends_unsupported",
        )

    def speaker_embeddings(self) -> dict[str, np.ndarray]:
        """Built-in voice id -> its unit speaker embedding, what casting keeps voices apart by (none by default)."""
        return {}

    def casting_pool(self, language: str) -> list[BuiltinVoice]:
        """The built-in voices recommended to speak ``language`` ("zh", "en"...), best first."""
        return self.builtin_voices()
