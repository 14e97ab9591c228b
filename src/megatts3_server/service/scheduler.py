"""Bounded, fair scheduling of engine work: a fixed pool of worker threads and a bounded admission.

A request becomes a job: its text pieces in order. Workers take pieces round-robin across jobs, so a
long text never holds up short requests behind it, and each job's first piece goes out alone so its
first audio comes back as early as possible. Later pieces are batched (up to ``batch_size``, from one
or several jobs) for engines that run batches. Results reach the event loop in piece order.

Background work (the segments of long-form jobs, ``background=True``) waits in a queue of its own
and does not count against ``max_queue``: a worker takes a background piece only when no interactive
piece is waiting, one piece at a time, so an interactive request waits at most for the engine
call already running.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from megatts3_server.engines.base import BatchItem, CancelToken, Engine, SamplingOptions, VoiceContext
from megatts3_server.errors import QueueFullError, ServiceError

log = logging.getLogger(__name__)

# Retry-After for a full queue, before any job has been timed.
_DEFAULT_JOB_SECONDS = 5.0
# Weight of the newest engine call in the smoothed engine speed.
_SPEED_SMOOTHING = 0.2


@dataclass(eq=False)
class SynthesisJob:
    """One request's pieces; ``results()`` yields their audio in order on the event loop."""

    pieces: Sequence[str]
    voice: VoiceContext
    speed: float
    loop: asyncio.AbstractEventLoop
    options: SamplingOptions = field(default_factory=SamplingOptions)
    cancel: CancelToken = field(default_factory=CancelToken)
    next_piece: int = 0
    background: bool = False
    started: float = field(default_factory=time.monotonic)
    _done: dict[int, np.ndarray | BaseException] = field(default_factory=dict)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def remaining(self) -> int:
        return len(self.pieces) - self.next_piece

    def deliver(self, index: int, outcome: np.ndarray | BaseException) -> None:
        """Called from a worker thread."""
        # RuntimeError: the event loop is closed (shutdown), so nobody is waiting for this any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._store, index, outcome)

    def _store(self, index: int, outcome: np.ndarray | BaseException) -> None:
        self._done[index] = outcome
        self._ready.set()

    async def results(self) -> AsyncIterator[np.ndarray]:
        for index in range(len(self.pieces)):
            while index not in self._done:
                self._ready.clear()
                await self._ready.wait()
            outcome = self._done.pop(index)
            if isinstance(outcome, BaseException):
                raise outcome
            yield outcome


class Scheduler:
    """Runs synthesis jobs on ``workers`` threads with at most ``max_queue`` jobs admitted at once."""

    def __init__(
        self,
        engine: Engine,
        *,
        workers: int,
        max_queue: int,
        batch_size: int,
        on_depth_change: Callable[[int], None] | None = None,
        on_pieces: Callable[[str, int], None] | None = None,
        on_engine_seconds: Callable[[str, float], None] | None = None,
    ) -> None:
        """``on_pieces(outcome, count)``: pieces "spoken" by the engine, or "dropped" by a cancel
        before it ran them; ``on_engine_seconds(work, seconds)``: time spent in engine calls on
        "interactive" or "background" work (what the metrics count)."""
        self._engine = engine
        self._workers = max(1, workers)
        self._max_queue = max_queue
        self._batch_size = max(1, batch_size)
        self._on_depth_change = on_depth_change
        self._on_pieces = on_pieces
        self._on_engine_seconds = on_engine_seconds
        self._waiting: collections.deque[SynthesisJob] = collections.deque()
        self._background: collections.deque[SynthesisJob] = collections.deque()
        self._admitted: set[SynthesisJob] = set()
        self._background_jobs: set[SynthesisJob] = set()
        self._condition = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._job_seconds = _DEFAULT_JOB_SECONDS
        self._speed: float | None = None

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def speed(self) -> float | None:
        """Seconds of audio one engine call makes per second it runs (smoothed over recent calls,
        as this machine runs them now); None until the engine has been measured."""
        return self._speed

    def calibrate(self, voice: VoiceContext, text: str) -> None:
        """Measure the engine's speed on ``text`` before any request does (blocking: the engine runs
        on this thread)."""
        began = time.perf_counter()
        audio = self._engine.synthesize(text, voice, speed=1.0)
        self._record_speed(len(audio), time.perf_counter() - began)

    def _record_speed(self, samples: int, elapsed: float) -> None:
        if samples <= 0 or elapsed <= 0:
            return
        speed = samples / self._engine.capabilities.sample_rate / elapsed
        with self._condition:
            previous = self._speed
            self._speed = speed if previous is None else (1 - _SPEED_SMOOTHING) * previous + _SPEED_SMOOTHING * speed

    @property
    def depth(self) -> int:
        """Jobs admitted and not finished (running or waiting)."""
        return len(self._admitted)

    @property
    def background_depth(self) -> int:
        """Background jobs (long-form segments) submitted and not finished."""
        return len(self._background_jobs)

    @property
    def saturated(self) -> bool:
        return self.depth >= self._max_queue

    @property
    def running(self) -> bool:
        """Whether every worker thread is alive (a stopped or crashed scheduler cannot serve)."""
        return bool(self._threads) and not self._stopping and all(thread.is_alive() for thread in self._threads)

    def start(self) -> None:
        for number in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"synthesis-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            jobs = [*self._admitted, *self._background_jobs]
            self._condition.notify_all()
        if jobs:
            pieces = sum(job.remaining for job in jobs)
            log.warning("stopping with %d synthesis jobs in flight: %d pieces left unspoken", len(jobs), pieces)
        for job in jobs:
            self.cancel(job)
        for thread in self._threads:
            thread.join(timeout=5)

    def submit(
        self,
        pieces: Sequence[str],
        voice: VoiceContext,
        speed: float,
        options: SamplingOptions = SamplingOptions(),
        *,
        background: bool = False,
    ) -> SynthesisJob:
        """Admit a job or refuse it at once with 503 and an estimate of when to retry. A ``background``
        job is always admitted and runs only when no interactive piece waits (the module docstring)."""
        job = SynthesisJob(
            pieces=pieces,
            voice=voice,
            speed=speed,
            loop=asyncio.get_running_loop(),
            options=options,
            background=background,
        )
        if background:
            with self._condition:
                self._background_jobs.add(job)
                if pieces:
                    self._background.append(job)
                    self._condition.notify()
            if not pieces:
                self._finish(job)
            return job
        with self._condition:
            if len(self._admitted) >= self._max_queue:
                wait = self._job_seconds * len(self._admitted) / self._workers
                raise QueueFullError(
                    f"the service is busy ({len(self._admitted)} requests in progress); retry in a few seconds",
                    retry_after=wait,
                )
            self._admitted.add(job)
            if pieces:
                self._waiting.append(job)
                self._condition.notify()
            depth = len(self._admitted)
        if not pieces:
            self._finish(job)
        self._report_depth(depth)
        return job

    def cancel(self, job: SynthesisJob) -> None:
        """Stop a job: running engine calls are aborted, waiting pieces dropped, its place freed."""
        job.cancel.cancel()
        with self._condition:
            dropped = job.remaining if job in self._admitted or job in self._background_jobs else 0
            for queue in (self._waiting, self._background):
                if job in queue:
                    queue.remove(job)
        self._finish(job)
        if dropped:
            self._count("dropped", dropped)

    def _count(self, outcome: str, pieces: int) -> None:
        if self._on_pieces is not None:
            self._on_pieces(outcome, pieces)

    def _finish(self, job: SynthesisJob) -> None:
        with self._condition:
            if job in self._background_jobs:
                self._background_jobs.discard(job)
                return
            if job not in self._admitted:
                return
            self._admitted.discard(job)
            depth = len(self._admitted)
            if not job.cancel.cancelled:
                # Smoothed time per job, for Retry-After.
                self._job_seconds = 0.8 * self._job_seconds + 0.2 * (time.monotonic() - job.started)
        self._report_depth(depth)

    def _report_depth(self, depth: int) -> None:
        if self._on_depth_change is not None:
            self._on_depth_change(depth)

    def _take_batch(self) -> list[tuple[SynthesisJob, int]]:
        """Pieces for one engine call; called with the condition held and a job waiting."""
        if not self._waiting:  # only background work: one piece, so interactive work never waits long
            job = self._background.popleft()
            index = job.next_piece
            job.next_piece += 1
            if job.remaining:
                self._background.append(job)
            return [(job, index)]
        batch: list[tuple[SynthesisJob, int]] = []
        while self._waiting and len(batch) < self._batch_size:
            job = self._waiting.popleft()
            first = job.next_piece == 0
            take = 1 if first or len(self._waiting) > 0 else min(job.remaining, self._batch_size - len(batch))
            for _ in range(take):
                batch.append((job, job.next_piece))
                job.next_piece += 1
            if job.remaining:
                self._waiting.append(job)
            if first:
                break
        return batch

    def _work(self) -> None:
        while True:
            with self._condition:
                while not self._waiting and not self._background and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                batch = self._take_batch()
            self._run(batch)

    def _run(self, batch: list[tuple[SynthesisJob, int]]) -> None:
        live = [(job, index) for job, index in batch if not job.cancel.cancelled]
        if not live:
            return
        items = [BatchItem(job.pieces[index], job.voice, job.speed, job.cancel, job.options) for job, index in live]
        began = time.perf_counter()
        outcomes = self._synthesize(items)
        elapsed = time.perf_counter() - began
        made = sum(len(outcome) for outcome in outcomes if not isinstance(outcome, BaseException))
        self._record_speed(made, elapsed)
        if self._on_engine_seconds is not None:
            self._on_engine_seconds("background" if live[0][0].background else "interactive", elapsed)
        if len(items) > 1 and any(isinstance(outcome, BaseException) for outcome in outcomes):
            # One failing item (a cancelled request, a bad voice) must not take the others down with it.
            outcomes = [self._synthesize([item])[0] for item in items]
        self._count("spoken", sum(not isinstance(outcome, BaseException) for outcome in outcomes))
        for (job, index), outcome in zip(live, outcomes, strict=True):
            # A finished or failed job leaves the queue before its consumer sees the outcome, so a
            # client holding all its audio never finds its request still counted.
            if isinstance(outcome, BaseException):
                with self._condition:
                    for queue in (self._waiting, self._background):
                        if job in queue:
                            queue.remove(job)
            if isinstance(outcome, BaseException) or index == len(job.pieces) - 1:
                self._finish(job)
            job.deliver(index, outcome)

    def _synthesize(self, items: list[BatchItem]) -> list[np.ndarray | BaseException]:
        try:
            return list(self._engine.synthesize_batch(items))
        except ServiceError as exc:
            return [exc] * len(items)
        except Exception as exc:
            log.exception("engine failure on a batch of %d pieces", len(items))
            return [exc] * len(items)
