"""The five stock voices that ship with the model data, and what they sound like (the catalogue of
built-in voices is catalogue.py).

Two measures of the stock packs are the same for every request, so they are taken once per model
cache and kept beside the model (atomically written .npz files): the pitch/timbre features that pick
the closest stock voice for a reference, and each pack speaking the cloning search's check sentence
(its speaker embedding, speech measures and cost), which lets a search choose its start for free.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from megatts3_server.engines.kokoro.speaker import SpeakerJudge
from megatts3_server.engines.kokoro.style_search import SpeechMeasures, StockCheck
from megatts3_server.engines.kokoro.voice_match import VoiceFeatures, voice_features

# The five packs, with what they sound like (the voices a reference is matched against without a search).
STOCK_VOICES: tuple[tuple[str, str, str], ...] = (
    ("jf_alpha", "female", "bright, clear female voice"),
    ("jf_gongitsune", "female", "soft storytelling female voice"),
    ("jf_nezumi", "female", "light, youthful female voice"),
    ("jf_tebukuro", "female", "warm, calm female voice"),
    ("jm_kumo", "male", "deep, steady male voice"),
)
# How each pack speaks Mandarin: these are Japanese speakers, and some render Mandarin tones poorly.
# For Chinese text a pack's whole style table is moved part of the way toward the pack Whisper-base
# understands best in Chinese among those of its gender (jf_gongitsune; jm_kumo is the only male and
# already the best). bench/intelligibility.py, chosen on set A and confirmed on set B: jf_alpha's CER
# 0.258 -> 0.168 (A), 0.307 -> 0.243 (B); the speaker embedding of the result stays 0.98 of the pack's
# own (the two packs themselves are 0.73 apart). Weight 0.3 over 0.5: the voice stays itself (README).
MANDARIN_BLEND: Mapping[str, tuple[str, float]] = {
    "jf_alpha": ("jf_gongitsune", 0.3),
    "jf_nezumi": ("jf_gongitsune", 0.3),
    "jf_tebukuro": ("jf_gongitsune", 0.3),
}
_MATCH_SENTENCE = "The rainbow is a division of white light into many beautiful colors. 彩虹是白光分成的许多美丽颜色。"

SpeakText = Callable[[str, np.ndarray], np.ndarray]
"""Speaks a text with a style table; returns audio at the engine's sample rate."""


def mandarin_tables(packs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The style table each pack speaks Chinese with, where it differs from the pack (MANDARIN_BLEND)."""
    return {
        pack: ((1.0 - weight) * packs[pack] + weight * packs[anchor]).astype(np.float32)
        for pack, (anchor, weight) in MANDARIN_BLEND.items()
        if pack in packs and anchor in packs
    }


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write atomically: a reader never sees half a file, two writers never clash."""
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


def _read_checks(path: Path) -> dict[str, StockCheck] | None:
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


class StockMeasures:
    """The stock packs' measures, taken on first use and kept in ``folder`` for the next start."""

    def __init__(self, folder: Path, packs: Mapping[str, np.ndarray], speak: SpeakText, sample_rate: int) -> None:
        self._folder = folder
        self._packs = packs
        self._speak = speak
        self._rate = sample_rate
        self._lock = threading.Lock()
        self._features: dict[str, VoiceFeatures] | None = None
        self._checks: dict[str, StockCheck] | None = None

    def features(self) -> dict[str, VoiceFeatures]:
        """Pitch and timbre of each stock voice speaking a fixed sentence (closest-voice matching)."""
        with self._lock:
            if self._features is None:
                path = self._folder / "stock_voice_features.npz"
                self._features = _read_features(path) or self._measure_features(path)
            return self._features

    def _measure_features(self, path: Path) -> dict[str, VoiceFeatures]:
        features = {
            pack: voice_features(self._speak(_MATCH_SENTENCE, self._packs[pack]), self._rate)
            for pack, _, _ in STOCK_VOICES
        }
        packs = list(features)
        _save_npz(
            path,
            packs=np.array(packs),
            f0=np.array([features[p].median_f0 for p in packs]),
            envelope=np.stack([features[p].envelope for p in packs]),
        )
        return features

    def check_speech(self, sentence: str, judge: SpeakerJudge) -> dict[str, StockCheck]:
        """Each pack speaking ``sentence`` (the cloning search's check sentence), as the search's judge
        hears it: the same for every reference."""
        with self._lock:
            if self._checks is None:
                tag = hashlib.sha256(f"{sentence}|{sorted(self._packs)}".encode()).hexdigest()[:12]
                path = self._folder / f"stock_check_speech_{tag}.npz"
                checks = _read_checks(path)
                if checks is None or set(checks) != set(self._packs):
                    checks = self._measure_checks(path, sentence, judge)
                self._checks = checks
            return self._checks

    def _measure_checks(self, path: Path, sentence: str, judge: SpeakerJudge) -> dict[str, StockCheck]:
        checks = {}
        for pack, table in self._packs.items():
            began = time.perf_counter()
            audio = self._speak(sentence, table)
            embedding = judge.embed(audio, self._rate)
            checks[pack] = StockCheck(embedding, SpeechMeasures.of(audio, self._rate), time.perf_counter() - began)
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
