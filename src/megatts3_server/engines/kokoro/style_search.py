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
rejected, which keeps them intelligible.

The whole run keeps to its time budget, counted from ``started`` (the engine's enrollment start):
a synthesis is begun only when its expected cost, measured as the run goes (so a loaded machine is
accounted for), still fits. The stock packs' check-sentence speech is the same for every reference,
so the engine measures it once (``stock``) and the stock packs are then compared for free; without
it each stock pack is spoken, whatever the budget, so that the voice is never farther than the
closest of them. Blends are tried while choosing the start has used less than _START_SHARE of the
budget, and the search stops early when it stops improving.
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
# The blends of the best stock packs a start tries, in order: weights of the first, second... best.
_START_BLENDS: tuple[tuple[float, ...], ...] = ((0.7, 0.3), (0.5, 0.5), (0.5, 0.25, 0.25), (0.4, 0.3, 0.3))
_TIMBRE_DIMS = 128
# Share of the budget after which choosing the start tries no blends.
_START_SHARE = 0.4
# At most this share of the budget is kept back for the finalists' check (a small one-shot budget
# still leaves the search some time).
_FINALIST_SHARE = 0.35
# Before the check sentence has been spoken in this run, its cost is guessed from the scoring
# sentence's: it is ~2.5 times longer.
_CHECK_COST_RATIO = 2.5


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


Clock = Callable[[], float]
Speak = Callable[[np.ndarray], np.ndarray]
"""Speaks a fixed sentence with a style table; returns audio at the engine's sample rate."""
Embed = Callable[[np.ndarray], np.ndarray]
"""The speaker embedding of audio at the engine's sample rate."""


@dataclass(frozen=True)
class SpeechMeasures:
    """What the damage guard compares with the start's speech."""

    seconds: float
    voiced: float

    @classmethod
    def of(cls, audio: np.ndarray, sample_rate: int) -> SpeechMeasures:
        return cls(len(audio) / sample_rate, voiced_fraction(audio, sample_rate))


@dataclass(frozen=True)
class StockCheck:
    """A stock pack speaking the check sentence, measured once: its speaker embedding and measures."""

    embedding: np.ndarray
    speech: SpeechMeasures
    cost: float = 0.0
    """Seconds that synthesis and embedding took: the first guess of a check's cost in a run."""


class _Judge:
    """Scores style tables by one sentence, rejecting damaged speech once it knows the start's."""

    def __init__(self, speak: Speak, embed: Embed, target: np.ndarray, sample_rate: int, clock: Clock) -> None:
        self._speak, self._embed, self._target, self._rate = speak, embed, target, sample_rate
        self._clock = clock
        self._start: SpeechMeasures | None = None
        self._seconds = 0.0
        self.evaluations = 0

    @property
    def mean_cost(self) -> float | None:
        """Seconds one evaluation has taken in this run, on average (None before the first)."""
        return self._seconds / self.evaluations if self.evaluations else None

    def use_start(self, speech: SpeechMeasures) -> None:
        self._start = speech

    def similarity(self, embedding: np.ndarray) -> float:
        return cosine(embedding, self._target)

    def score(self, table: np.ndarray) -> tuple[float, SpeechMeasures]:
        """The similarity of the table's speech (or _REJECTED when damaged) and that speech's measures."""
        began = self._clock()
        try:
            audio = self._speak(table)
            speech = SpeechMeasures.of(audio, self._rate)
            if self._damaged(speech):
                return _REJECTED, speech
            return self.similarity(self._embed(audio)), speech
        finally:
            self._seconds += self._clock() - began
            self.evaluations += 1

    def _damaged(self, speech: SpeechMeasures) -> bool:
        if self._start is None:
            return False
        ratio = speech.seconds / max(self._start.seconds, 1e-3)
        too_short_or_long = not _DURATION_RATIO[0] <= ratio <= _DURATION_RATIO[1]
        return too_short_or_long or speech.voiced < _VOICED_RATIO * self._start.voiced

    def __call__(self, table: np.ndarray) -> float:
        return self.score(table)[0]


class _Budget:
    """The run's clock: time spent since ``started``, whether a cost still fits, cancel and progress."""

    def __init__(
        self,
        seconds: float,
        started: float,
        clock: Clock,
        progress: EnrollmentProgress | None,
        cancel: CancelToken | None,
    ) -> None:
        self.seconds, self._started, self._clock = seconds, started, clock
        self._progress, self._cancel = progress, cancel

    def elapsed(self, best: float | None = None) -> float:
        if self._cancel is not None and self._cancel.cancelled:
            raise SynthesisCancelledError("enrollment was cancelled")
        spent = self._clock() - self._started
        if self._progress is not None and best is not None:
            self._progress(min(1.0, spent / max(self.seconds, 1e-3)), best)
        return spent

    def fits(self, cost: float, best: float | None = None, *, until: float | None = None) -> bool:
        """Whether work expected to take ``cost`` seconds ends before ``until`` (default: the budget)."""
        return self.elapsed(best) + cost <= (self.seconds if until is None else until)


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
        *,
        stock: Mapping[str, StockCheck] | None = None,
        started: float | None = None,
        clock: Clock = time.perf_counter,
    ) -> None:
        """``stock``: the packs' check-sentence speech measured beforehand (see StockCheck);
        ``started``: when the budget began (default: now); ``clock``: seconds, monotonic."""
        self._packs = packs
        self._score = _Judge(speak, embed, target, sample_rate, clock)
        self._check = _Judge(speak_check, embed, target, sample_rate, clock)
        self._settings = settings
        self._stock = stock
        self._clock = clock
        self._started = clock() if started is None else started

    def _check_cost(self) -> float:
        """What one check-sentence evaluation is expected to take now: measured in this run when it
        can be, else guessed from the scoring sentence's cost or from the stock packs' measurement."""
        if self._check.mean_cost is not None:
            return self._check.mean_cost
        if self._score.mean_cost is not None:
            return _CHECK_COST_RATIO * self._score.mean_cost
        costs = [check.cost for check in (self._stock or {}).values()]
        return float(np.median(costs)) if costs else 0.0

    def _score_cost(self) -> float:
        if self._score.mean_cost is not None:
            return self._score.mean_cost
        return self._check_cost() / _CHECK_COST_RATIO

    def _stock_scores(self) -> dict[str, tuple[np.ndarray, float, SpeechMeasures]]:
        if self._stock is not None and set(self._stock) >= set(self._packs):
            return {
                name: (pack, self._check.similarity(self._stock[name].embedding), self._stock[name].speech)
                for name, pack in self._packs.items()
            }
        return {name: (pack, *self._check.score(pack)) for name, pack in self._packs.items()}

    def _start(self, budget: _Budget) -> tuple[str, np.ndarray, float, SpeechMeasures]:
        """The best stock pack by the check sentence, or a blend of the best few (their timbre halves,
        the best pack's prosody) when one scores higher and the budget leaves time to try it; with its
        check score and speech."""
        checked = self._stock_scores()
        ranked = sorted(checked, key=lambda name: checked[name][1], reverse=True)
        best = ranked[0]
        for weights in _START_BLENDS:
            if len(ranked) < len(weights) or not budget.fits(self._check_cost(), until=_START_SHARE * budget.seconds):
                break
            parts = list(zip(weights, ranked, strict=False))
            blend = np.array(self._packs[ranked[0]], np.float32, copy=True)
            blend[:, :_TIMBRE_DIMS] = sum(weight * self._packs[name][:, :_TIMBRE_DIMS] for weight, name in parts)
            name = "+".join(f"{weight:g}*{pack}" for weight, pack in parts)
            checked[name] = (blend, *self._check.score(blend))
            if checked[name][1] > checked[best][1]:
                best = name
        return best, *checked[best]

    def _scale(self) -> np.ndarray:
        rows = np.concatenate(list(self._packs.values()), axis=0)
        return (rows.std(axis=0) + 1e-4)[: self._settings.dims].astype(np.float32)

    def run(self, progress: EnrollmentProgress | None = None, cancel: CancelToken | None = None) -> SearchResult:
        settings = self._settings
        budget = _Budget(settings.budget_seconds, self._started, self._clock, progress, cancel)
        budget.elapsed()
        start_name, start_table, start_score, start_speech = self._start(budget)
        chosen, similarity = start_table, start_score
        self._check.use_start(start_speech)
        seen = self._search(start_table, start_score, budget)
        for _, table in sorted(seen, key=lambda item: item[0], reverse=True)[:_FINALISTS]:
            if not budget.fits(self._check_cost(), similarity):
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
            seconds=self._clock() - self._started,
        )

    def _search(self, start_table: np.ndarray, start_score: float, budget: _Budget) -> list[tuple[float, np.ndarray]]:
        """CMA-ES candidates around the start, each scored on the short sentence, while time is left
        for them and for the finalists' check; the scored candidates."""
        import cma

        settings = self._settings
        seen: list[tuple[float, np.ndarray]] = []
        # The start's own scoring speech is what the damage guard compares candidates with; its cost
        # is the first measure of what a candidate costs. A budget too small for it ends the run here.
        if not budget.fits(self._score_cost(), start_score):
            return seen
        best, scoring_speech = self._score.score(start_table)
        self._score.use_start(scoring_speech)

        def search_until() -> float:
            reserve = min(_FINALISTS * self._check_cost(), _FINALIST_SHARE * settings.budget_seconds)
            return settings.budget_seconds - reserve

        scale = self._scale()
        strategy = cma.CMAEvolutionStrategy(
            np.zeros(settings.dims),
            settings.sigma,
            {"popsize": settings.population, "CMA_diagonal": True, "seed": settings.seed, "verbose": -9},
        )
        stale = 0
        while stale < settings.patience:
            candidates = strategy.ask()
            losses = []
            for offset in candidates:
                if not budget.fits(self._score_cost(), start_score, until=search_until()):
                    return seen
                table = start_table.copy()
                table[:, : settings.dims] += scale * np.asarray(offset, np.float32)
                score = self._score(table)
                losses.append(-score)
                seen.append((score, table))
            strategy.tell(candidates, losses)
            generation_best = -max(losses)
            stale = 0 if generation_best >= best + settings.min_gain else stale + 1
            best = max(best, generation_best)
        return seen
