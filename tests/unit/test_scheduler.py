"""The scheduler with a stand-in engine: order, fairness, batching, admission and cancellation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from megatts3_server.engines.base import BatchItem, CancelToken, Engine, EngineCapabilities, VoiceContext
from megatts3_server.errors import QueueFullError, SynthesisCancelledError
from megatts3_server.service.scheduler import Scheduler

VOICE = VoiceContext("v")


class RecordingEngine(Engine):
    """Returns one sample per character after ``delay`` seconds, and records every call."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    @property
    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities("fake", 10, ("en",), frozenset({"neutral"}), max_batch_size=4)

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None: ...

    def builtin_voices(self) -> list:
        return []

    def builtin_context(self, voice_id: str) -> VoiceContext:
        return VOICE

    def prepare_voice(self, reference, latent):
        raise NotImplementedError

    def synthesize(self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None):
        deadline = time.monotonic() + self.delay
        while time.monotonic() < deadline:
            if cancel is not None and cancel.cancelled:
                raise SynthesisCancelledError("cancelled")
            time.sleep(0.001)
        return np.full(len(text), ord(text[0]), np.float32)

    def synthesize_batch(self, items: Sequence[BatchItem]) -> list[np.ndarray]:
        with self.lock:
            self.calls.append([item.text for item in items])
        return super().synthesize_batch(items)


async def _collect(scheduler: Scheduler, pieces: list[str]) -> list[str]:
    job = scheduler.submit(pieces, VOICE, 1.0)
    return [chr(int(audio[0])) async for audio in job.results()]


def _run(scheduler: Scheduler, coroutine):
    scheduler.start()
    try:
        return asyncio.run(coroutine)
    finally:
        scheduler.stop()


def test_results_come_in_piece_order() -> None:
    scheduler = Scheduler(RecordingEngine(), workers=2, max_queue=4, batch_size=3)
    assert _run(scheduler, _collect(scheduler, list("abcdefg"))) == list("abcdefg")


def test_first_piece_goes_alone_then_pieces_are_batched() -> None:
    engine = RecordingEngine()
    scheduler = Scheduler(engine, workers=1, max_queue=4, batch_size=3)
    _run(scheduler, _collect(scheduler, list("abcdefg")))
    assert engine.calls == [["a"], ["b", "c", "d"], ["e", "f", "g"]]


def test_a_short_request_is_not_stuck_behind_a_long_one() -> None:
    engine = RecordingEngine(delay=0.02)
    scheduler = Scheduler(engine, workers=1, max_queue=4, batch_size=1)

    async def both() -> tuple[float, float]:
        started = time.monotonic()
        long_job = asyncio.create_task(_collect(scheduler, ["L"] * 30))
        await asyncio.sleep(0.05)
        await _collect(scheduler, ["s", "t"])
        short_done = time.monotonic() - started
        await long_job
        return short_done, time.monotonic() - started

    short_done, long_done = _run(scheduler, both())
    assert short_done < 0.5 * long_done


def test_admission_is_bounded() -> None:
    scheduler = Scheduler(RecordingEngine(delay=0.05), workers=1, max_queue=2, batch_size=1)

    async def flood() -> None:
        jobs = [scheduler.submit(["x"] * 5, VOICE, 1.0) for _ in range(2)]
        with pytest.raises(QueueFullError) as refused:
            scheduler.submit(["y"], VOICE, 1.0)
        assert refused.value.retry_after is not None and refused.value.retry_after > 0
        for job in jobs:
            async for _ in job.results():
                pass
        assert scheduler.depth == 0
        scheduler.submit(["z"], VOICE, 1.0)

    _run(scheduler, flood())


def test_cancel_stops_the_work_and_frees_the_place() -> None:
    engine = RecordingEngine(delay=0.05)
    scheduler = Scheduler(engine, workers=1, max_queue=1, batch_size=1)

    async def cancel_midway() -> None:
        job = scheduler.submit(["p"] * 40, VOICE, 1.0)
        results = job.results()
        await anext(results)
        scheduler.cancel(job)
        assert scheduler.depth == 0
        await asyncio.sleep(0.2)
        calls_after_cancel = len(engine.calls)
        await asyncio.sleep(0.2)
        assert len(engine.calls) == calls_after_cancel  # nothing more runs for it
        assert calls_after_cancel < 10

    _run(scheduler, cancel_midway())


def test_background_work_yields_to_interactive_requests_after_the_piece_it_is_running() -> None:
    engine = RecordingEngine(delay=0.02)
    scheduler = Scheduler(engine, workers=1, max_queue=1, batch_size=4)
    calls_at_submit: list[int] = []

    async def job_then_request() -> None:
        background = scheduler.submit(["B"] * 20, VOICE, 1.0, background=True)
        assert (scheduler.depth, scheduler.background_depth) == (0, 1)  # not counted against max_queue
        results = background.results()
        await anext(results)  # background work is running
        with engine.lock:
            calls_at_submit.append(len(engine.calls))
            request = scheduler.submit(["i", "j"], VOICE, 1.0)
        assert [chr(int(audio[0])) async for audio in request.results()] == ["i", "j"]
        rest = [audio async for audio in results]
        assert len(rest) == 19 and scheduler.background_depth == 0

    _run(scheduler, job_then_request())
    first_interactive = next(n for n, call in enumerate(engine.calls) if "i" in call)
    # Only the background piece already in the engine when the request came ran before it.
    assert first_interactive <= calls_at_submit[0] + 1
    assert all(call == ["B"] for call in engine.calls if "B" in call), "background pieces go one per engine call"
