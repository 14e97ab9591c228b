"""Make a Kokoro style pack sound like a reference speaker: a search guided by speaker similarity.

The pack (510 rows x 256: timbre in the first 128 numbers, prosody in the rest) starts as the best
stock pack or a blend of the two best, then a separable CMA-ES moves an offset added to every row,
in units of the stock packs' own spread. Speaker similarity is the cosine of the candidate's speaker
embedding with the reference's (computed once). Two sentences are spoken: a longer *check* sentence
(~4 s) picks the start and, at the end, chooses between the start and the search's best few
candidates (an embedding of a short clip is noisy, and a search on it alone overfits), so the voice
never ends farther from the speaker than the closest stock pack by that sentence; every search
candidate speaks only the short *scoring* sentence (~1.6 s, ~0.4 s to make). Candidates whose
speech stops looking like speech (much shorter or longer than the start's, or far less voiced) are
rejected, which keeps them intelligible. The search stops at its time budget or when it stops
improving; choosing the start (seven check syntheses) is not cut short by a tiny budget.
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

# A candidate whose speech lasts outside this ratio of the start's, or whose voiced share falls
# below this part of the start's, is rejected as damaged speech.
_DURATION_RATIO = (0.8, 1.25)
_VOICED_RATIO = 0.7
_REJECTED = -1.0
# Search candidates re-scored on the check sentence at the end.
_FINALISTS = 3


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
    """Both similarities are measured on the check sentence."""
    similarity: float
    evaluations: int
    seconds: float


Speak = Callable[[np.ndarray], np.ndarray]
"""Speaks a fixed sentence with a style table; returns audio at the engine's sample rate."""
Embed = Callable[[np.ndarray], np.ndarray]
"""The speaker embedding of audio at the engine's sample rate."""


class _Judge:
    """Scores style tables by one sentence, rejecting damaged speech once it knows the start's."""

    def __init__(self, speak: Speak, embed: Embed, target: np.ndarray, sample_rate: int) -> None:
        self._speak, self._embed, self._target, self._rate = speak, embed, target, sample_rate
        self._start: tuple[float, float] | None = None  # (seconds, voiced share) of the start's speech
        self.evaluations = 0

    def remember_start(self, table: np.ndarray) -> None:
        audio = self._speak(table)
        self._start = (len(audio) / self._rate, voiced_fraction(audio, self._rate))

    def __call__(self, table: np.ndarray) -> float:
        audio = self._speak(table)
        self.evaluations += 1
        if self._start is not None:
            seconds, voiced = self._start
            ratio = len(audio) / self._rate / max(seconds, 1e-3)
            if not _DURATION_RATIO[0] <= ratio <= _DURATION_RATIO[1]:
                return _REJECTED
            if voiced_fraction(audio, self._rate) < _VOICED_RATIO * voiced:
                return _REJECTED
        return cosine(self._embed(audio), self._target)


class StyleSearch:
    """One enrollment: call run() once."""

    def __init__(
        self,
        packs: Mapping[str, np.ndarray],
        speak: Speak,
        speak_check: Speak,
        embed: Embed,
        target: np.ndarray,
        sample_rate: int,
        settings: SearchSettings,
    ) -> None:
        self._packs = packs
        self._score = _Judge(speak, embed, target, sample_rate)
        self._check = _Judge(speak_check, embed, target, sample_rate)
        self._settings = settings

    def _start(self) -> tuple[str, np.ndarray, float]:
        """The best stock pack by the check sentence, or a blend of the two best when that scores higher."""
        scores = {name: self._check(pack) for name, pack in self._packs.items()}
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)
        name, table, score = ranked[0], self._packs[ranked[0]], scores[ranked[0]]
        if len(ranked) > 1:
            for weight in (0.7, 0.5):
                blend = weight * self._packs[ranked[0]] + (1 - weight) * self._packs[ranked[1]]
                blend_score = self._check(blend)
                if blend_score > score:
                    name, table, score = f"{weight:g}*{ranked[0]}+{1 - weight:g}*{ranked[1]}", blend, blend_score
        return name, table, score

    def _scale(self) -> np.ndarray:
        rows = np.concatenate(list(self._packs.values()), axis=0)
        return (rows.std(axis=0) + 1e-4)[: self._settings.dims].astype(np.float32)

    def run(self, progress: EnrollmentProgress | None = None, cancel: CancelToken | None = None) -> SearchResult:
        import cma

        settings = self._settings
        began = time.perf_counter()

        def elapsed(best: float | None) -> float:
            if cancel is not None and cancel.cancelled:
                raise SynthesisCancelledError("enrollment was cancelled")
            seconds = time.perf_counter() - began
            if progress is not None:
                progress(min(1.0, seconds / max(settings.budget_seconds, 1e-3)), best)
            return seconds

        start_name, start_table, start_score = self._start()
        # Time kept for the finalists' check: each costs about what a start candidate did.
        search_until = settings.budget_seconds - _FINALISTS * elapsed(start_score) / max(self._check.evaluations, 1)
        self._score.remember_start(start_table)
        self._check.remember_start(start_table)
        scale = self._scale()
        strategy = cma.CMAEvolutionStrategy(
            np.zeros(settings.dims),
            settings.sigma,
            {"popsize": settings.population, "CMA_diagonal": True, "seed": settings.seed, "verbose": -9},
        )
        seen: list[tuple[float, np.ndarray]] = []
        stale, best = 0, self._score(start_table)
        while elapsed(start_score) < search_until and stale < settings.patience:
            candidates = strategy.ask()
            losses = []
            for offset in candidates:
                table = start_table.copy()
                table[:, : settings.dims] += scale * np.asarray(offset, np.float32)
                score = self._score(table)
                losses.append(-score)
                seen.append((score, table))
                if elapsed(start_score) >= search_until:
                    break
            if len(losses) < len(candidates):
                break
            strategy.tell(candidates, losses)
            generation_best = -max(losses)
            stale = 0 if generation_best >= best + settings.min_gain else stale + 1
            best = max(best, generation_best)
        chosen, similarity = start_table, start_score
        for _, table in sorted(seen, key=lambda item: item[0], reverse=True)[:_FINALISTS]:
            score = self._check(table)
            if score > similarity:
                chosen, similarity = table, score
        if progress is not None:
            progress(1.0, similarity)
        return SearchResult(
            style=np.asarray(chosen, np.float32),
            start=start_name,
            start_similarity=start_score,
            similarity=similarity,
            evaluations=self._score.evaluations + self._check.evaluations,
            seconds=time.perf_counter() - began,
        )
