"""The cloning search climbs towards the target speaker, rejects damaged speech and can be cancelled.

The engine and the speaker encoder are replaced by stand-ins: a "speaker embedding" that is a fixed
projection of the style table that spoke, so the best possible pack is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from megatts3_server.engines.base import CancelToken
from megatts3_server.engines.kokoro.style_search import SearchSettings, SpeechMeasures, StockCheck, StyleSearch
from megatts3_server.errors import SynthesisCancelledError

RATE = 8_000
ROWS, WIDTH = 6, 16
_t = np.arange(int(1.6 * RATE)) / RATE
SPEECH = (0.3 * np.sin(2 * np.pi * 150 * _t) * (1 + np.sin(2 * np.pi * 2 * _t)) / 2).astype(np.float32)


class StandIns:
    """speak() remembers the table; embed() projects it (the audio itself is always the same)."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.packs = {f"pack{i}": rng.standard_normal((ROWS, WIDTH)).astype(np.float32) for i in range(3)}
        self.projection = rng.standard_normal((WIDTH, 12))
        self.target = self.embed_table(rng.standard_normal((ROWS, WIDTH)))
        self.spoken: np.ndarray | None = None
        self.damage_moves = False
        """When set, any table that is not a stock pack or a blend of two speaks far too short."""

    def starts(self) -> list[np.ndarray]:
        packs = list(self.packs.values())
        blends = [w * a + (1 - w) * b for a in packs for b in packs for w in (0.7, 0.5)]
        return packs + blends

    def embed_table(self, table: np.ndarray) -> np.ndarray:
        return table.mean(axis=0) @ self.projection

    def speak(self, table: np.ndarray) -> np.ndarray:
        self.spoken = table
        if self.damage_moves and not any(np.allclose(table, start, atol=1e-5) for start in self.starts()):
            return SPEECH[: len(SPEECH) // 3]
        return SPEECH

    def embed(self, audio: np.ndarray) -> np.ndarray:
        assert self.spoken is not None
        return self.embed_table(self.spoken)

    def search(self, budget: float = 2.0, **settings: object) -> StyleSearch:
        knobs = SearchSettings(budget_seconds=budget, dims=8, patience=50, **settings)  # type: ignore[arg-type]
        return StyleSearch(self.packs, self.speak, self.speak, self.embed, self.target, RATE, knobs)


def test_the_search_ends_closer_to_the_target_than_its_start() -> None:
    # On counted time (TimedStandIns, below): the number of steps the budget allows is the same on a loaded machine.
    stand_ins = TimedStandIns(0.01)
    result = stand_ins.search(budget=2.0).run()
    assert result.similarity > result.start_similarity + 0.05
    assert result.style.shape == (ROWS, WIDTH)
    assert result.similarity == pytest.approx(cosine_to_target(stand_ins, result.style), abs=1e-5)


def cosine_to_target(stand_ins: StandIns, table: np.ndarray) -> float:
    embedding = stand_ins.embed_table(table)
    return float(embedding @ stand_ins.target / np.linalg.norm(embedding) / np.linalg.norm(stand_ins.target))


def test_progress_is_reported_up_to_done() -> None:
    seen: list[tuple[float, float | None]] = []
    StandIns().search(budget=0.5).run(progress=lambda fraction, best: seen.append((fraction, best)))
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(best is not None for _, best in seen)


def test_candidates_whose_speech_is_damaged_are_never_chosen() -> None:
    stand_ins = StandIns()
    stand_ins.damage_moves = True
    result = stand_ins.search(budget=0.5).run()
    assert result.similarity == result.start_similarity
    assert any(np.allclose(result.style, start, atol=1e-5) for start in stand_ins.starts())


def test_a_cancelled_search_stops() -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(SynthesisCancelledError):
        StandIns().search().run(cancel=token)


def test_the_voice_changes_only_for_a_gain_on_the_check_sentence_of_at_least_min_gain() -> None:
    result = StandIns().search(min_gain=1.0).run()
    assert result.similarity == result.start_similarity


class TimedStandIns(StandIns):
    """Each synthesis takes ``seconds`` of a fake clock (the real engine: ~0.4 s scoring, ~1.3 s
    checking), so budgets are tested on counted time, not on how fast this machine is."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.now = 100.0
        self.checked: list[np.ndarray] = []

    def clock(self) -> float:
        return self.now

    def speak(self, table: np.ndarray) -> np.ndarray:
        self.now += self.seconds
        return super().speak(table)

    def speak_check(self, table: np.ndarray) -> np.ndarray:
        self.checked.append(table)
        self.now += 2.5 * self.seconds
        return super().speak(table)

    def stock(self) -> dict[str, StockCheck]:
        """The stock packs' check speech, measured beforehand as the engine does once per model."""
        measured = {}
        for name, pack in self.packs.items():
            audio = super().speak(pack)
            measured[name] = StockCheck(self.embed(audio), SpeechMeasures.of(audio, RATE), cost=2.5 * self.seconds)
        return measured

    def search(self, budget: float = 2.0, **settings: object) -> StyleSearch:
        stock = settings.pop("stock", None)
        started = settings.pop("started", None)
        knobs = SearchSettings(budget_seconds=budget, dims=8, patience=50, **settings)  # type: ignore[arg-type]
        return StyleSearch(
            self.packs,
            self.speak,
            self.speak_check,
            self.embed,
            self.target,
            RATE,
            knobs,
            stock=stock,  # type: ignore[arg-type]
            started=started,  # type: ignore[arg-type]
            clock=self.clock,
        )


def test_the_search_keeps_to_its_budget() -> None:
    stand_ins = TimedStandIns(0.05)
    result = stand_ins.search(budget=1.5).run()
    assert result.seconds <= 1.5 + 1e-9
    assert result.evaluations > 10


def test_without_measured_stock_speech_every_pack_is_checked_however_small_the_budget() -> None:
    stand_ins = TimedStandIns(0.02)
    result = stand_ins.search(budget=0.01).run()
    assert len(stand_ins.checked) == len(stand_ins.packs)
    assert result.start in stand_ins.packs
    assert result.similarity == result.start_similarity


def test_measured_stock_speech_chooses_the_start_without_speaking() -> None:
    stand_ins = TimedStandIns(0.02)
    unmeasured = TimedStandIns(0.02).search(budget=0.01).run()
    result = stand_ins.search(budget=0.01, stock=stand_ins.stock()).run()
    assert stand_ins.checked == [] and result.seconds == 0.0
    assert (result.start, result.start_similarity) == (unmeasured.start, pytest.approx(unmeasured.start_similarity))


def test_the_budget_counts_from_the_enrollments_start_and_includes_the_start() -> None:
    stand_ins = TimedStandIns(0.05)
    started = stand_ins.now - 1.0  # the reference's embedding and the rest already took a second
    result = stand_ins.search(budget=1.5, stock=stand_ins.stock(), started=started).run()
    assert result.seconds <= 1.5 + 1e-9
    assert 0 < result.evaluations <= 10


def test_a_machine_that_slows_down_mid_search_overruns_by_at_most_one_synthesis() -> None:
    stand_ins = TimedStandIns(0.05)
    original = stand_ins.speak

    def slowing(table: np.ndarray) -> np.ndarray:
        stand_ins.seconds *= 1.1  # each synthesis 10 % slower than the last (a box filling up)
        return original(table)

    stand_ins.speak = slowing  # type: ignore[method-assign]
    result = stand_ins.search(budget=3.0, stock=stand_ins.stock()).run()
    assert result.seconds <= 3.0 + 2.5 * stand_ins.seconds
