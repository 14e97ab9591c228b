"""Long-form jobs: a chapter, a script or a screenplay made into one track with timestamps and subtitles.

A job is checked whole when it is submitted (every segment's text, every voice ready) and stored
(jobs/: SQLite on this machine, or PostgreSQL shared by the replicas); a runner task per process then
claims the oldest unfinished job (a lease it renews while it works: another replica takes the job
over if this one dies) and makes its segments in order, at background priority in the scheduler,
each loudness-normalized and stored as it finishes, and writes the track once all are done. A
restart resumes every unfinished job from its first unfinished segment; a segment already made for
any job (same voice version, text and parameters) is reused, not synthesized again. Any replica
answers for any job; one that lacks a finished job's track builds it from the stored segments.

A job belongs to the tenant that submitted it (tenancy.py): to anyone else but an admin it does not
exist (404). Its segments speak that tenant's voices, read its lexicon and reuse only its segments.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from megatts3_server.audio import AudioFormat, parse_format
from megatts3_server.config import JobsSettings
from megatts3_server.errors import (
    JobNotFinishedError,
    JobNotFoundError,
    JobsUnavailableError,
    ServiceError,
)
from megatts3_server.jobs import track
from megatts3_server.jobs.records import (
    CANCELLED,
    DONE,
    FAILED,
    FINISHED,
    RUNNING,
    JobRecord,
)
from megatts3_server.jobs.script import Segment
from megatts3_server.jobs.store_interface import JobStoreInterface
from megatts3_server.ratelimit import Quota
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.job_intake import JobIntake, JobRequest
from megatts3_server.service.job_segments import MadeSegment, SegmentMaker
from megatts3_server.service.job_views import JobView, job_view, progress_of
from megatts3_server.service.lexicon import LexiconService
from megatts3_server.service.synthesis import SynthesisService
from megatts3_server.service.voices import VoiceService
from megatts3_server.storage.leased_work import LeaseKeeper, LeaseTiming, worker_id
from megatts3_server.tenancy import Caller

log = logging.getLogger(__name__)

_SWEEP_SECONDS = 600.0


@dataclass(frozen=True)
class JobResult:
    """A finished job's result file, with the job's title (what a download is named after)."""

    path: Path
    title: str


class JobService:
    def __init__(
        self,
        store: JobStoreInterface,
        synthesis: SynthesisService,
        voices: VoiceService,
        lexicon: LexiconService,
        loader: EngineLoader,
        settings: JobsSettings,
        *,
        max_segment_chars: int,
        default_voice: str | None,
        on_segment: Callable[[str], None] | None = None,
    ) -> None:
        """``on_segment(outcome)``: each finished segment, "synthesized", "reused" or "failed" (the metrics)."""
        self._store = store
        self._loader = loader
        self._settings = settings
        self._on_segment = on_segment
        self._intake = JobIntake(
            synthesis,
            loader,
            voices,
            lexicon,
            settings,
            max_segment_chars=max_segment_chars,
            default_voice=default_voice,
        )
        self._owner = worker_id()
        self._lease = LeaseTiming(settings.lease_seconds)
        self._wake: asyncio.Event | None = None  # set when a job is submitted here
        self._building = threading.Lock()  # one replica-local build of a finished job's results at a time
        self._runner: asyncio.Task[None] | None = None
        self._current: tuple[str, asyncio.Task[None]] | None = None
        self._rates: dict[str, float] = {}
        self._segments = SegmentMaker(store, synthesis, voices, lexicon, loader, settings)

    @property
    def segments_synthesized(self) -> int:
        return self._segments.synthesized

    @property
    def segments_reused(self) -> int:
        return self._segments.reused

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the store and start the runner on the running event loop (it takes up every unfinished job)."""
        self._store.open()
        self._wake = asyncio.Event()
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="long-form-jobs")

    async def stop(self) -> None:
        """Stop the runner; a job it was making stays unfinished (resumed at the next start)."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        self._wake = None
        self._store.close()

    # -- requests --------------------------------------------------------------------------------

    async def create(self, request: JobRequest, quota: Quota, caller: Caller) -> JobRecord:
        """Check a job whole (job_intake.py), store it as ``caller``'s and queue it (quota charged once,
        when it is accepted)."""
        self._require_running()
        fmt = parse_format(request.format)
        segments = await self._intake.check(request, caller)
        await quota.charge()
        record = await anyio.to_thread.run_sync(self._store.create, request.title, fmt.value, segments, caller)
        assert self._wake is not None
        self._wake.set()
        log.info("job %s queued: %d segments, %s", record.id, len(segments), fmt.value)
        return record

    def _require_running(self) -> None:
        if self._wake is None:
            raise JobsUnavailableError("long-form jobs are turned off on this server (api.jobs.enabled)")

    def _record(self, job_id: str, caller: Caller) -> JobRecord:
        """The job, if ``caller`` sees it (another tenant's is not found, as one that does not exist)."""
        self._require_running()
        record = self._store.get(job_id)
        if record is None or not caller.sees(record.tenant):
            raise JobNotFoundError(f"no job {job_id!r}; GET /api/v1/tts/jobs lists them")
        return record

    def view(self, job_id: str, caller: Caller) -> JobView:
        return self._view(self._record(job_id, caller))

    async def watch(self, job_id: str, every: float, caller: Caller) -> AsyncIterator[JobView]:
        """The job's view now (a missing job raises here, before any is yielded), then again each time
        its status or a segment's outcome changes, looked at every ``every`` seconds, until it ends or
        is deleted. Between changes only the job's own row is read, not its segments."""
        view = await anyio.to_thread.run_sync(self.view, job_id, caller)

        async def changes() -> AsyncIterator[JobView]:
            current = view
            yield current
            while current.record.status not in FINISHED:
                await asyncio.sleep(every)
                record = await anyio.to_thread.run_sync(self._store.get, job_id)
                if record is None:  # deleted meanwhile (by another replica, or expired)
                    return
                if progress_of(record) != progress_of(current.record):
                    current = await anyio.to_thread.run_sync(self._view, record)
                    yield current

        return changes()

    def _view(self, record: JobRecord) -> JobView:
        return job_view(record, self._store.segments(record.id), self._rates.get(record.id))

    def views(self, caller: Caller) -> list[JobView]:
        """The view of every stored job ``caller`` sees, oldest first."""
        self._require_running()
        return [self._view(record) for record in self._store.list() if caller.sees(record.tenant)]

    async def delete(self, job_id: str, caller: Caller) -> str:
        """Cancel an unfinished job ("cancelled"), or delete a finished one ("deleted")."""
        record = self._record(job_id, caller)
        if record.status in FINISHED:
            await anyio.to_thread.run_sync(self._store.delete, job_id)
            return "deleted"
        self._store.set_status(job_id, CANCELLED, "cancelled by the client")
        if self._current is not None and self._current[0] == job_id:
            self._current[1].cancel()
        return "cancelled"

    def result(self, job_id: str, name: str, caller: Caller) -> JobResult:
        """A finished job's result file (``track`` or ``timestamps.json``), built from the stored
        segments first where this machine lacks it (another replica made the job)."""
        record = self._record(job_id, caller)
        if record.status != DONE:
            raise JobNotFinishedError(
                f"job {job_id!r} is {record.status}; its results exist once it is done",
                details={"status": record.status},
            )
        fmt = AudioFormat(record.format)
        if not self._store.result_path(job_id, "timestamps.json").exists():  # written last
            with self._building:
                if not self._store.result_path(job_id, "timestamps.json").exists():
                    log.info("job %s: building its results here from the stored segments", job_id)
                    rate = self._loader.engine.capabilities.sample_rate
                    track.write_results(self._store, job_id, self._store.segments(job_id), fmt, rate)
        path = self._store.result_path(job_id, track.track_name(fmt) if name == "track" else name)
        return JobResult(path, record.title)

    def timestamps(self, job_id: str, caller: Caller) -> dict:
        """The job's title, its duration and the times of its segments and sentences."""
        title = self.result(job_id, "timestamps.json", caller).title
        stamps = track.read_timestamps(self._store, job_id)
        assert stamps is not None
        return {"title": title, **stamps}

    # -- the runner ------------------------------------------------------------------------------

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        # Abandoned on cancel: a stop while the engine is still loading must not wait for the load.
        await anyio.to_thread.run_sync(self._loader.wait, abandon_on_cancel=True)
        sweeper = asyncio.get_running_loop().create_task(self._sweep_now_and_then(), name="job-expiry")
        try:
            while True:
                wake.clear()  # before the claim: a job submitted meanwhile wakes the next wait
                try:
                    job_id = await anyio.to_thread.run_sync(self._store.claim, self._owner, self._lease.seconds)
                except ServiceError as exc:  # the database is unreachable: try again later
                    log.warning("long-form jobs: cannot look for work: %s", exc.message)
                    job_id = None
                if job_id is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), self._settings.poll_seconds)
                    continue
                try:
                    await self._run_one(job_id)
                finally:
                    with contextlib.suppress(ServiceError):
                        await anyio.to_thread.run_sync(self._store.release, job_id, self._owner)
        finally:
            sweeper.cancel()
            # Waited for: a sweep running in its thread must end before the store is closed.
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _sweep_now_and_then(self) -> None:
        while True:
            try:
                await anyio.to_thread.run_sync(self._sweep)
            except Exception:  # a store fault: expired results wait for the next sweep
                log.exception("the expiry sweep of long-form jobs failed")
            await asyncio.sleep(_SWEEP_SECONDS)

    async def _run_one(self, job_id: str) -> None:
        loop = asyncio.get_running_loop()
        renew = functools.partial(self._store.renew, job_id, self._owner, self._lease.seconds)
        lease = LeaseKeeper(f"job {job_id}", renew, self._lease, lambda: loop.call_soon_threadsafe(task.cancel))
        task = loop.create_task(self._make(job_id, lease))
        lease.start()
        self._current = (job_id, task)
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # the runner itself is stopping, not the job
                raise
        except Exception as exc:  # a fault of the service (disk full...): the job ends failed, saying why
            log.exception("job %s failed", job_id)
            message = exc.message if isinstance(exc, ServiceError) else f"internal error: {exc}"
            self._store.set_status(job_id, FAILED, message)
        finally:
            await anyio.to_thread.run_sync(lease.stop)
            self._current = None
            self._rates.pop(job_id, None)

    async def _make(self, job_id: str, lease: LeaseKeeper) -> None:
        record = self._store.get(job_id)
        if record is None or record.status in FINISHED or not self._store.set_status(job_id, RUNNING):
            return
        rows = [row for row in self._store.segments(job_id) if row.status == "pending"]
        began, spoken = time.monotonic(), 0
        owner = Caller(record.tenant, admin=record.by_admin)
        # One segment ahead: the engine speaks segment n + 1 while segment n is normalized and stored,
        # so the job keeps the engine as busy as back-to-back requests would.
        ahead = self._start_segment(rows[0].segment, None, owner) if rows else None
        try:
            for number, row in enumerate(rows):
                assert ahead is not None
                made = await ahead
                following = rows[number + 1].segment if number + 1 < len(rows) else None
                ahead = self._start_segment(following, made, owner) if following is not None else None
                stored = await self._segments.store(made)
                if not await anyio.to_thread.run_sync(lease.renew_now):  # cancelled, deleted or taken over
                    return
                await anyio.to_thread.run_sync(
                    functools.partial(
                        self._store.finish_segment,
                        job_id,
                        row.index,
                        key=stored.key,
                        duration=stored.duration,
                        reused=stored.reused,
                        error=stored.error,
                    )
                )
                if self._on_segment is not None:
                    self._on_segment("failed" if stored.error else "reused" if stored.reused else "synthesized")
                if not stored.reused:
                    spoken += len(row.segment.text)
                    self._rates[job_id] = spoken / max(time.monotonic() - began, 1e-3)
        finally:
            if ahead is not None:
                ahead.cancel()  # the job stops: the segment being spoken ahead is dropped from the scheduler
        rows = self._store.segments(job_id)
        if not any(row.status == "done" for row in rows):
            self._store.set_status(job_id, FAILED, "no segment could be spoken (see errors)")
            return
        rate = self._loader.engine.capabilities.sample_rate
        await anyio.to_thread.run_sync(track.write_results, self._store, job_id, rows, AudioFormat(record.format), rate)
        self._store.set_status(job_id, DONE)
        log.info("job %s done: %d segments", job_id, len(rows))

    def _start_segment(self, segment: Segment, before: MadeSegment | None, owner: Caller) -> asyncio.Task[MadeSegment]:
        return asyncio.get_running_loop().create_task(self._segments.speak(segment, before, owner))

    def _sweep(self) -> None:
        cutoff = time.time() - self._settings.result_ttl_hours * 3600
        for job_id in self._store.expired(cutoff):
            self._store.delete(job_id)
            log.info("job %s expired and was deleted", job_id)
        self._store.drop_unused_segments(older_than=cutoff)
        for job_id in self._store.local_job_ids():  # results of jobs another replica deleted
            if self._store.get(job_id) is None:
                self._store.remove_results(job_id)
