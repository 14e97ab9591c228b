"""Make a Kokoro style pack sound like a reference speaker: a search guided by speaker similarity.

The pack (510 rows x 256: timbre in the first 128 numbers, prosody in the rest) starts as the best
stock pack or a blend of the two best, then a separable CMA-ES moves an offset added to every row,
in units of the stock packs' own spread. Every candidate speaks one short sentence; its speaker
embedding is compared with the reference's (computed once). Candidates whose speech stops looking
like speech (much shorter or longer than the start's, or far less voiced) are rejected, which keeps
them intelligible. The search stops at its time budget or when it stops improving.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from megatts3_server.audio.voicing import voiced_fraction
from megatts3_server.engines.base import CancelToken, EnrollmentProgress
from megatts3_server.engines.kokoro.speaker import cosine
from megatts3_server.errors import SynthesisCancelledError

# A candidate whose scoring sentence lasts outside this ratio of the start's, or whose voiced share
# falls below this part of the start's, is rejected as damaged speech.
_DURATION_RATIO = (0.8, 1.25)
_VOICED_RATIO = 0.7
_REJECTED = -1.0


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of the search (the defaults were picked with bench/clone_quality.py)."""

    budget_seconds: float
    dims: int = 128
    """How many leading style numbers are searched: 128 = the timbre half, 256 = all."""
    population: int = 8
    sigma: float = 0.5
    """Initial step, in standard deviations of the stock packs' numbers."""
    patience: int = 3
    """Generations without a gain of at least min_gain before the search stops early."""
    min_gain: float = 0.003
    seed: int = 1


@dataclass(frozen=True)
class SearchResult:
    style: np.ndarray
    start: str
    start_similarity: float
    similarity: float
    evaluations: int
    seconds: float


Speak = Callable[[np.ndarray], np.ndarray]
"""Speaks the scoring sentence with a style table; returns audio at the engine's sample rate."""
Embed = Callable[[np.ndarray], np.ndarray]
"""The speaker embedding of audio at the engine's sample rate."""


class StyleSearch:
    """One enrollment: call run() once."""

    def __init__(
        self,
        packs: Mapping[str, np.ndarray],
        speak: Speak,
        embed: Embed,
        target: np.ndarray,
        sample_rate: int,
        settings: SearchSettings,
    ) -> None:
        self._packs = packs
        self._speak = speak
        self._embed = embed
        self._target = target
        self._rate = sample_rate
        self._settings = settings
        self._reference_audio: tuple[float, float] | None = None  # (seconds, voiced share) of the start
        self.evaluations = 0

    def _score(self, table: np.ndarray) -> float:
        audio = self._speak(table)
        self.evaluations += 1
        if self._reference_audio is not None:
            seconds, voiced = self._reference_audio
            ratio = len(audio) / self._rate / max(seconds, 1e-3)
            if not _DURATION_RATIO[0] <= ratio <= _DURATION_RATIO[1]:
                return _REJECTED
            if voiced_fraction(audio, self._rate) < _VOICED_RATIO * voiced:
                return _REJECTED
        return cosine(self._embed(audio), self._target)

    def _start(self) -> tuple[str, np.ndarray, float]:
        """The best stock pack, or a blend of the two best when that scores higher."""
        scores = {name: self._score(pack) for name, pack in self._packs.items()}
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)
        name, table, score = ranked[0], self._packs[ranked[0]], scores[ranked[0]]
        if len(ranked) > 1:
            for weight in (0.7, 0.5):
                blend = weight * self._packs[ranked[0]] + (1 - weight) * self._packs[ranked[1]]
                blend_score = self._score(blend)
                if blend_score > score:
                    name, table, score = f"{weight:g}*{ranked[0]}+{1 - weight:g}*{ranked[1]}", blend, blend_score
        audio = self._speak(table)
        self._reference_audio = (len(audio) / self._rate, voiced_fraction(audio, self._rate))
        return name, table, score

    def _scale(self) -> np.ndarray:
        rows = np.concatenate(list(self._packs.values()), axis=0)
        return (rows.std(axis=0) + 1e-4)[: self._settings.dims].astype(np.float32)

    def run(self, progress: EnrollmentProgress | None = None, cancel: CancelToken | None = None) -> SearchResult:
        import cma

        settings = self._settings
        began = time.perf_counter()

        def check(best: float | None) -> float:
            if cancel is not None and cancel.cancelled:
                raise SynthesisCancelledError("enrollment was cancelled")
            elapsed = time.perf_counter() - began
            if progress is not None:
                progress(min(1.0, elapsed / max(settings.budget_seconds, 1e-3)), best)
            return elapsed

        start_name, start_table, start_score = self._start()
        best_table, best_score = start_table, start_score
        scale = self._scale()
        strategy = cma.CMAEvolutionStrategy(
            np.zeros(settings.dims),
            settings.sigma,
            {"popsize": settings.population, "CMA_diagonal": True, "seed": settings.seed, "verbose": -9},
        )
        stale, generation_best = 0, best_score
        while check(best_score) < settings.budget_seconds and stale < settings.patience:
            candidates = strategy.ask()
            losses = []
            for offset in candidates:
                table = start_table.copy()
                table[:, : settings.dims] += scale * np.asarray(offset, np.float32)
                score = self._score(table)
                losses.append(-score)
                if score > best_score:
                    best_table, best_score = table, score
                if check(best_score) >= settings.budget_seconds:
                    break
            if len(losses) < len(candidates):
                break
            strategy.tell(candidates, losses)
            if best_score >= generation_best + settings.min_gain:
                generation_best, stale = best_score, 0
            else:
                stale += 1
        if progress is not None:
            progress(1.0, best_score)
        return SearchResult(
            style=np.asarray(best_table, np.float32),
            start=start_name,
            start_similarity=start_score,
            similarity=best_score,
            evaluations=self.evaluations,
            seconds=time.perf_counter() - began,
        )
