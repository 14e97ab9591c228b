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
improving. Every stock pack is checked, however small the budget (five check syntheses, about 7 s
on 2 cores), so that the voice is never farther than the closest of them; the blends are skipped once
choosing the start has used _START_SHARE of the budget, and the finalists once the budget is spent.
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
# Share of the budget after which choosing the start tries no blends.
_START_SHARE = 0.4


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
    """Also what a finalist must gain on the check sentence to replace the start."""
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


@dataclass(frozen=True)
class _Speech:
    """What the damage guard compares with the start's speech."""

    seconds: float
    voiced: float


class _Judge:
    """Scores style tables by one sentence, rejecting damaged speech once it knows the start's."""

    def __init__(self, speak: Speak, embed: Embed, target: np.ndarray, sample_rate: int) -> None:
        self._speak, self._embed, self._target, self._rate = speak, embed, target, sample_rate
        self._start: _Speech | None = None
        self.evaluations = 0

    def use_start(self, speech: _Speech) -> None:
        self._start = speech

    def score(self, table: np.ndarray) -> tuple[float, _Speech]:
        """The similarity of the table's speech (or _REJECTED when damaged) and that speech's measures."""
        audio = self._speak(table)
        self.evaluations += 1
        speech = _Speech(len(audio) / self._rate, voiced_fraction(audio, self._rate))
        if self._start is not None:
            ratio = speech.seconds / max(self._start.seconds, 1e-3)
            if not _DURATION_RATIO[0] <= ratio <= _DURATION_RATIO[1]:
                return _REJECTED, speech
            if speech.voiced < _VOICED_RATIO * self._start.voiced:
                return _REJECTED, speech
        return cosine(self._embed(audio), self._target), speech

    def __call__(self, table: np.ndarray) -> float:
        return self.score(table)[0]


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

    def _start(self, elapsed: Callable[[], float]) -> tuple[str, np.ndarray, float, _Speech]:
        """The best stock pack by the check sentence, or a blend of the two best when that scores
        higher and the budget leaves time to try it; with its check score and speech."""
        checked = {name: (pack, *self._check.score(pack)) for name, pack in self._packs.items()}
        ranked = sorted(checked, key=lambda name: checked[name][1], reverse=True)
        best = ranked[0]
        for weight in (0.7, 0.5):
            if len(ranked) < 2 or elapsed() >= _START_SHARE * self._settings.budget_seconds:
                break
            blend = weight * self._packs[ranked[0]] + (1 - weight) * self._packs[ranked[1]]
            name = f"{weight:g}*{ranked[0]}+{1 - weight:g}*{ranked[1]}"
            checked[name] = (blend, *self._check.score(blend))
            if checked[name][1] > checked[best][1]:
                best = name
        return best, *checked[best]

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

        start_name, start_table, start_score, start_speech = self._start(lambda: time.perf_counter() - began)
        # Time kept for the finalists' check: each costs about what a start candidate did.
        search_until = settings.budget_seconds - _FINALISTS * elapsed(start_score) / max(self._check.evaluations, 1)
        self._check.use_start(start_speech)
        scale = self._scale()
        strategy = cma.CMAEvolutionStrategy(
            np.zeros(settings.dims),
            settings.sigma,
            {"popsize": settings.population, "CMA_diagonal": True, "seed": settings.seed, "verbose": -9},
        )
        seen: list[tuple[float, np.ndarray]] = []
        best, scoring_speech = self._score.score(start_table)
        self._score.use_start(scoring_speech)
        stale = 0
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
            if elapsed(similarity) >= settings.budget_seconds:
                break
            score = self._check(table)
            if score > similarity and score >= start_score + settings.min_gain:
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
