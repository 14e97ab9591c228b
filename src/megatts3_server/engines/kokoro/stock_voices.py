"""What the stock voice packs sound like, measured once.

Two measures of each pack are the same for every request: its pitch and timbre speaking a fixed
sentence (which picks the closest stock voice for a reference), and its speaker embedding and speech
measures speaking the cloning search's check sentence (which lets a search choose its start, and a
script's cast its voices, for free). They depend only on the pack, the model, the G2P's phonemes for
the sentence and, for the embedding, the speaker encoder's version: each row carries a tag of those.

The rows of the pinned packs ship with the package (data/stock_measures.npz, written by
tools/write_stock_measures.py), so a fresh install measures nothing;
a pack whose tag differs (another pack, model or G2P) is measured when first needed and kept in the
model cache.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources as resources
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from megatts3_server.engines.kokoro.speaker import SpeakerJudge
from megatts3_server.engines.kokoro.style_search import SpeechMeasures, StockCheck
from megatts3_server.engines.kokoro.voice_match import VoiceFeatures, voice_features

MATCH_SENTENCE = "The rainbow is a division of white light into many beautiful colors. 彩虹是白光分成的许多美丽颜色。"
SHIPPED = "stock_measures.npz"
_CACHED = "stock_measures.npz"
_PINNED_JUDGE = "resemblyzer 0.1.4"  # as pyproject.toml's cloning extra pins it

SpeakText = Callable[[str, np.ndarray], np.ndarray]
"""Speaks a text with a style table; returns audio at the engine's sample rate."""


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write atomically: a reader never sees half a file, two writers never clash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.npz")
    np.savez(temp, **arrays)
    temp.replace(path)


def _load_npz(source: Path | resources.abc.Traversable) -> dict[str, np.ndarray]:
    try:
        with source.open("rb") as handle, np.load(handle) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError, FileNotFoundError):
        return {}


def _judge_version() -> str:
    """The speaker encoder the check rows were heard by (the cloning extra pins it; the shipped rows
    are read without it, for casting)."""
    try:
        return f"resemblyzer {importlib.metadata.version('resemblyzer')}"
    except importlib.metadata.PackageNotFoundError:
        return _PINNED_JUDGE


def _shipped() -> resources.abc.Traversable:
    return resources.files("megatts3_server.engines.kokoro") / "data" / SHIPPED


def _rows(vectors: list[np.ndarray], dtype: type) -> np.ndarray:
    """Equal-length vectors as a matrix (no rows: an empty one)."""
    return np.array(vectors, dtype) if vectors else np.zeros((0, 0), dtype)


class _Rows:
    """Measures by (kind, tag): ``kind`` features or check; one .npz holds both kinds."""

    def __init__(self) -> None:
        self.features: dict[str, VoiceFeatures] = {}
        self.checks: dict[str, StockCheck] = {}

    def read(self, arrays: Mapping[str, np.ndarray]) -> _Rows:
        if "feature_tags" in arrays:
            for tag, f0, envelope in zip(arrays["feature_tags"], arrays["f0"], arrays["envelope"], strict=True):
                self.features[str(tag)] = VoiceFeatures(float(f0), np.asarray(envelope, np.float64))
        if "check_tags" in arrays:
            rows = zip(arrays["check_tags"], arrays["embedding"], arrays["seconds"], arrays["voiced"], strict=True)
            for tag, embedding, seconds, voiced in rows:
                self.checks[str(tag)] = StockCheck(
                    np.asarray(embedding, np.float32), SpeechMeasures(float(seconds), float(voiced))
                )
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        tags, checks = list(self.features), list(self.checks)
        return {
            "feature_tags": np.array(tags, dtype=str),
            "f0": np.array([self.features[t].median_f0 for t in tags], np.float64),
            "envelope": _rows([self.features[t].envelope for t in tags], np.float64),
            "check_tags": np.array(checks, dtype=str),
            "embedding": _rows([self.checks[t].embedding for t in checks], np.float32),
            "seconds": np.array([self.checks[t].speech.seconds for t in checks], np.float64),
            "voiced": np.array([self.checks[t].speech.voiced for t in checks], np.float64),
        }


class StockMeasures:
    """The packs' measures: shipped, cached in ``folder``, or measured on first use (then cached)."""

    def __init__(
        self,
        folder: Path,
        packs: Mapping[str, np.ndarray],
        speak: SpeakText,
        phonemize: Callable[[str], str],
        model_sha256: str,
        sample_rate: int,
    ) -> None:
        self._folder = folder
        self._packs = packs
        self._speak = speak
        self._phonemize = phonemize
        self._model = model_sha256
        self._rate = sample_rate
        self._lock = threading.Lock()
        self._rows: _Rows | None = None
        self._features: dict[str, VoiceFeatures] | None = None
        self._checks: dict[str, StockCheck] | None = None

    def _tag(self, kind: str, sentence: str, pack: str) -> str:
        """What a row depends on: the pack's numbers, the model, the sentence's phonemes (and the judge)."""
        judge = _judge_version() if kind == "check" else ""
        digest = hashlib.sha256(f"{kind}|{self._model}|{self._phonemize(sentence)}|{judge}|".encode())
        digest.update(np.ascontiguousarray(self._packs[pack], np.float32).tobytes())
        return digest.hexdigest()[:20]

    def _known(self) -> _Rows:
        if self._rows is None:
            self._rows = _Rows().read(_load_npz(_shipped())).read(_load_npz(self._folder / _CACHED))
        return self._rows

    def _keep(self) -> None:
        """Add this run's measures to the model cache's file."""
        cached = _Rows().read(_load_npz(self._folder / _CACHED))
        rows = self._known()
        cached.features.update(rows.features)
        cached.checks.update(rows.checks)
        _save_npz(self._folder / _CACHED, cached.arrays())

    def _feature_row(self, pack: str) -> str:
        """The tag of ``pack``'s features row, measured now if unknown."""
        rows, tag = self._known(), self._tag("features", MATCH_SENTENCE, pack)
        if tag not in rows.features:
            rows.features[tag] = voice_features(self._speak(MATCH_SENTENCE, self._packs[pack]), self._rate)
        return tag

    def _check_row(
        self, sentence: str, pack: str, judge: SpeakerJudge, *, remeasure: bool = False
    ) -> tuple[str, float]:
        """The tag of ``pack``'s check row, measured now if unknown (or ``remeasure``), and the seconds
        that took (0 when not measured)."""
        rows, tag = self._known(), self._tag("check", sentence, pack)
        if tag in rows.checks and not remeasure:
            return tag, 0.0
        began = time.perf_counter()
        audio = self._speak(sentence, self._packs[pack])
        check = StockCheck(judge.embed(audio, self._rate), SpeechMeasures.of(audio, self._rate))
        rows.checks.setdefault(tag, check)
        return tag, time.perf_counter() - began

    def features(self) -> dict[str, VoiceFeatures]:
        """Pitch and timbre of each stock pack speaking a fixed sentence (closest-voice matching)."""
        with self._lock:
            if self._features is None:
                known = len(self._known().features)
                tags = {pack: self._feature_row(pack) for pack in self._packs}
                if len(self._known().features) > known:
                    self._keep()
                self._features = {pack: self._known().features[tag] for pack, tag in tags.items()}
            return self._features

    def check_speech(self, sentence: str, judge: SpeakerJudge) -> dict[str, StockCheck]:
        """Each pack speaking ``sentence`` (the cloning search's check sentence), as the search's judge
        hears it: the same for every reference. Each carries what speaking and judging one such
        sentence costs on this machine now (the first pack is always spoken: the search's first guess)."""
        with self._lock:
            if self._checks is None:
                known = len(self._known().checks)
                tags, cost = {}, 0.0
                for index, pack in enumerate(self._packs):
                    tags[pack], seconds = self._check_row(sentence, pack, judge, remeasure=index == 0)
                    cost = cost or seconds
                if len(self._known().checks) > known:
                    self._keep()
                rows = self._known().checks
                self._checks = {
                    pack: StockCheck(rows[tag].embedding, rows[tag].speech, cost) for pack, tag in tags.items()
                }
            return self._checks

    def embeddings(self, sentence: str) -> dict[str, np.ndarray]:
        """Each pack's speaker embedding speaking ``sentence``, where it is known (shipped, or measured
        before): nothing is measured here."""
        with self._lock:
            rows = self._known().checks
            tags = {pack: self._tag("check", sentence, pack) for pack in self._packs}
            return {pack: rows[tag].embedding for pack, tag in tags.items() if tag in rows}

    def write_shipped(self, judge: SpeakerJudge, sentences: tuple[str, ...], target: Path) -> int:
        """Write the rows the package ships, for every pack and check sentence (measuring what is not
        known yet); returns the row count."""
        shipped = _Rows()
        for pack in self._packs:
            tag = self._feature_row(pack)
            shipped.features[tag] = self._known().features[tag]
            for sentence in sentences:
                tag, _ = self._check_row(sentence, pack, judge)
                shipped.checks[tag] = self._known().checks[tag]
        _save_npz(target, shipped.arrays())
        return len(shipped.features) + len(shipped.checks)
