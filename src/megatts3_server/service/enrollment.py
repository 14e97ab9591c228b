"""Enrollment jobs: uploaded references become voices on a background worker, on any replica.

Enrollment is CPU bound and may take a minute, so it never runs on the event loop and never more
than one at a time in a process. The jobs live in the voice store, and a worker takes one by a
**lease** on it (its owner id, ``host-pid-random``, and an expiry), so replicas sharing a PostgreSQL
store share the jobs and a job survives the death of whoever ran it:

- *claim*: an idle worker claims the oldest pending job of its engine's voices, or an enrolling one
  whose lease has expired (its worker died), in one transaction (PostgreSQL: ``FOR UPDATE SKIP
  LOCKED``, so no job is claimed twice). Each claim is an attempt; a job started ``max_attempts``
  times without ending is marked failed instead of being retried for ever.
- *heartbeat*: while the job runs, the lease is renewed every third of ``lease_seconds``, and with
  the progress the engine reports (at most every 0.5 s). A renewal the store refuses (the voice was
  deleted, on any replica, or another worker took the job over after the lease expired) cancels the
  run, which then writes nothing more.
- *poll*: an idle worker looks for claimable jobs every ``poll_seconds``, and at once when this
  process stores one (submit).
- *release*: stopping the worker cancels the running job and puts it back to pending, its attempts
  as they were, so another replica takes it at once rather than when the lease expires.

Start-up shows the jobs no worker runs for what they are (store.requeue_interrupted): pending again
at 0 %, or failed once out of attempts; a job another live replica holds is left alone.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from types import TracebackType

from megatts3_server.audio import decode_audio
from megatts3_server.engines.base import CancelToken
from megatts3_server.errors import ServiceError, SynthesisCancelledError, VoiceNotFoundError
from megatts3_server.service.engine_loader import EngineLoader, EngineState
from megatts3_server.voices import StoredVoice, VoiceStoreInterface
from megatts3_server.voices.status import VoiceStatus

log = logging.getLogger(__name__)

# Progress is written to the store at most this often.
_PROGRESS_INTERVAL = 0.5
# How often a worker waiting for the engine's load looks whether it is being stopped.
_STOP_CHECK = 0.2
# A run still going after twice its budget plus this is taken for hung: cancelled, and its lease no
# longer renewed, so that the job is not held for ever by a worker that will never finish it.
_OVERRUN_GRACE = 60.0


def worker_id() -> str:
    """This worker's lease owner: host, process and a random part (a restarted process is another)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class _Lease:
    """The lease on the job being run, renewed on a thread of its own while the engine works.

    ``lost``: the store refused a renewal; the job is not this worker's any more and the run's
    token is cancelled. ``overran``: the run went on far past its budget (see _OVERRUN_GRACE)."""

    def __init__(
        self,
        store: VoiceStoreInterface,
        voice_id: str,
        owner: str,
        seconds: float,
        token: CancelToken,
        overrun_after: float,
    ) -> None:
        self._store, self._voice_id, self._owner = store, voice_id, owner
        self._seconds, self._token, self._overrun_after = seconds, token, overrun_after
        self.lost = False
        self.overran = False
        self._latest: dict[str, float | None] | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"lease-{voice_id}", daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join()

    def report(self, fraction: float, similarity: float | None) -> None:
        """The engine's progress callback: kept for the next heartbeat."""
        with self._lock:
            self._latest = {"progress": round(99.0 * fraction, 1), "similarity": similarity}

    def _keep(self) -> None:
        started = renewed = time.monotonic()
        renew_every = self._seconds / 3
        while not self._done.wait(min(_PROGRESS_INTERVAL, renew_every)):
            now = time.monotonic()
            if now - started > self._overrun_after:
                self.overran = True
                self._token.cancel()
                log.error("voice %s: enrollment still running after %.0f s; cancelled", self._voice_id, now - started)
                return
            with self._lock:
                changes, self._latest = self._latest, None
            if changes is None and now - renewed < renew_every:
                continue
            try:
                held = self._store.renew_lease(self._voice_id, self._owner, self._seconds, **(changes or {}))
            except Exception as exc:  # a store fault: try again at the next tick (the lease may run out)
                log.warning("voice %s: its lease could not be renewed (%s)", self._voice_id, exc)
                with self._lock:
                    if self._latest is None:
                        self._latest = changes
                continue
            if not held:
                self.lost = True
                self._token.cancel()
                log.info("voice %s: its job is no longer this worker's (deleted or taken over)", self._voice_id)
                return
            renewed = now


class EnrollmentJobs:
    """This process's enrollment worker: one thread that claims jobs from the store and runs them."""

    def __init__(
        self,
        store: VoiceStoreInterface,
        loader: EngineLoader,
        *,
        budget_seconds: float,
        max_attempts: int,
        lease_seconds: float = 30.0,
        poll_seconds: float = 5.0,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._loader = loader
        self._engine = loader.engine
        self._budget = budget_seconds
        self._max_attempts = max_attempts
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self.owner = owner or worker_id()
        """Who holds the leases this worker takes."""
        self._submitted: set[str] = set()
        """Voices stored by this process since the worker last looked."""
        self._wake = threading.Condition()
        self._stopping = False
        self._running: tuple[str, CancelToken] | None = None
        self._thread: threading.Thread | None = None
        self._store_fault: str | None = None
        """The store's last error, while the worker cannot reach it."""

    @property
    def in_background(self) -> bool:
        """Whether uploads are enrolled here (the engine searches) rather than within the request."""
        return self._engine.enrolls_in_background(self._budget)

    def start(self) -> None:
        """Show the jobs nobody runs for what they are (a job cut short by a stop or a crash is
        pending again, at 0 %, or failed once out of attempts; nothing claims progress no worker is
        making), then start the worker, which claims them."""
        for voice in self._store.requeue_interrupted(self._max_attempts):
            if voice.status == VoiceStatus.PENDING:
                log.info("voice %s: its enrollment was interrupted; pending again", voice.id)
        self._thread = threading.Thread(target=self._work, name="enrollment", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the running job (released: pending again, for any worker) and stop the worker."""
        with self._wake:
            self._stopping = True
            running = self._running
            self._wake.notify_all()
        if running is not None:
            running[1].cancel()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, voice_id: str) -> None:
        """A voice was stored pending here: look for jobs now rather than at the next poll."""
        with self._wake:
            self._submitted.add(voice_id)
            self._wake.notify_all()

    def requeue(self, voice_id: str) -> bool:
        """Enroll a stored voice anew, by this engine within this budget: pending again from 0 %, its
        attempts, error and similarity cleared, for any worker; False when the voice is gone."""
        requeued = self._store.update_job(
            voice_id,
            status=VoiceStatus.PENDING,
            progress=0.0,
            similarity=None,
            error="",
            attempts=0,
            engine=self._engine.capabilities.name,
        )
        if requeued:
            self.submit(voice_id)
        return requeued

    def cancel(self, voice_id: str) -> None:
        """Stop a voice's running job here (called when the voice is deleted; a job running on
        another replica stops at its next heartbeat, when the store refuses the renewal)."""
        with self._wake:
            self._submitted.discard(voice_id)
            running = self._running
        if running is not None and running[0] == voice_id:
            running[1].cancel()

    def _wait_for_engine(self) -> bool:
        while not self._loader.wait(_STOP_CHECK) and self._loader.state is EngineState.STARTING:
            if self._stopping:
                return False
        return self._loader.state is EngineState.READY

    def _work(self) -> None:
        ready = self._wait_for_engine()
        while True:
            with self._wake:
                if self._stopping:
                    return
                submitted, self._submitted = self._submitted, set()
            worked = False
            try:
                worked = self._claim_and_run() if ready else self._refuse(submitted)
                self._store_fault = None
            except ServiceError as exc:  # the store cannot be reached: try again at the next poll
                if exc.message != self._store_fault:  # said once, not at every poll
                    log.error("enrollment worker: %s; trying again every %g s", exc.message, self._poll_seconds)
                self._store_fault = exc.message
            except Exception:  # a bug: the worker must survive it
                log.exception("enrollment worker: looking for a job failed")
            if not worked:
                with self._wake:
                    if not self._submitted and not self._stopping:
                        self._wake.wait(self._poll_seconds)

    def _refuse(self, submitted: set[str]) -> bool:
        """The engine failed to load: the voices stored here fail with the reason (those of other
        replicas are left for workers that can enroll them)."""
        for voice_id in sorted(submitted):
            voice = self._claim(voice_id)
            if voice is not None:
                error = f"engine not loaded: {self._loader.error}"
                self._store.end_lease(voice.id, self.owner, status=VoiceStatus.FAILED, error=error)
        return False

    def _claim(self, voice_id: str | None = None) -> StoredVoice | None:
        return self._store.claim_job(
            self.owner,
            engine=self._engine.capabilities.name,
            lease_seconds=self._lease_seconds,
            max_attempts=self._max_attempts,
            voice_id=voice_id,
        )

    def _release(self, voice: StoredVoice) -> None:
        """Give a claimed job back, untouched: pending, its attempts as before the claim."""
        self._store.end_lease(
            voice.id, self.owner, status=VoiceStatus.PENDING, progress=0.0, attempts=voice.attempts - 1
        )

    def _claim_and_run(self) -> bool:
        """Run one claimed job; False when there was none to claim."""
        voice = self._claim()
        if voice is None:
            return False
        token = CancelToken()
        with self._wake:
            stopping = self._stopping
            if not stopping:
                self._running = (voice.id, token)
        if stopping:
            self._release(voice)
            return True
        try:
            self._run(voice, token)
        except Exception as exc:  # the worker must survive any one job
            log.exception("enrollment of voice %s failed", voice.id)
            message = exc.message if isinstance(exc, ServiceError) else f"internal error: {type(exc).__name__}: {exc}"
            try:
                self._store.end_lease(voice.id, self.owner, status=VoiceStatus.FAILED, error=message)
            except ServiceError as store_error:  # the store itself: the lease runs out, the job is tried again
                log.error("voice %s: its failure could not be recorded (%s)", voice.id, store_error.message)
        finally:
            with self._wake:
                self._running = None
        return True

    def _run(self, voice: StoredVoice, token: CancelToken) -> None:
        log.info("enrolling voice %s (attempt %d, worker %s)", voice.id, voice.attempts, self.owner)
        overrun_after = 2 * self._budget + _OVERRUN_GRACE
        lease = _Lease(self._store, voice.id, self.owner, self._lease_seconds, token, overrun_after)
        prepared, failure = None, None
        started = time.perf_counter()
        with lease:
            try:
                try:
                    wav, latent = self._store.load_reference(voice.id)
                except FileNotFoundError:  # deleted since it was claimed (its files went with it), or lost
                    if self._store.get(voice.id) is None:
                        log.info("voice %s was deleted as its enrollment started; nothing to enroll", voice.id)
                        return
                    raise VoiceNotFoundError("the voice's reference recording is missing from the store") from None
                reference = decode_audio(wav, target_rate=self._engine.capabilities.sample_rate)
                prepared = self._engine.enroll_voice(
                    reference, latent, budget_seconds=self._budget, progress=lease.report, cancel=token
                )
            except SynthesisCancelledError:
                pass
            except ServiceError as exc:  # the reference is unusable (or the voice gone): said, not a bug
                failure = exc.message
        if lease.lost:  # deleted, or taken over: whatever this run made is not wanted
            return
        if failure is not None:
            self._store.end_lease(voice.id, self.owner, status=VoiceStatus.FAILED, error=failure)
        elif prepared is not None:
            if self._store.complete_enrollment(
                voice.id, prepared.meta, prepared.summary, prepared.arrays, prepared.similarity, owner=self.owner
            ):
                log.info("voice %s enrolled in %.1f s", voice.id, time.perf_counter() - started)
        elif lease.overran:
            error = f"enrollment ran for more than {overrun_after:g} s (its budget is {self._budget:g} s)"
            self._store.end_lease(voice.id, self.owner, status=VoiceStatus.FAILED, error=error)
        else:  # cancelled by the stop, or by a delete here: not this voice's fault
            self._release(voice)
