"""Enrollment jobs: uploaded references become voices on a background worker, on any replica.

Enrollment is CPU bound and may take a minute, so it never runs on the event loop and never more
than one at a time in a process. The jobs live in the voice store, and a worker takes one by a
**lease** on it, through the leased-work queue that long-form jobs use too (storage/leased_work.py:
claim, renewal, take-over and what losing a lease means are written there once), so replicas sharing
a PostgreSQL store share the jobs and a job survives the death of whoever ran it:

- *claim*: an idle worker claims the oldest pending job of its engine's voices, or an enrolling one
  whose lease has expired (its worker died). Each claim is an attempt; a job started
  ``max_attempts`` times without ending is marked failed instead of being retried for ever.
- *heartbeat*: while the job runs, a LeaseKeeper renews the lease every third of ``lease_seconds``,
  and with the progress the engine reports (at most every 0.5 s). A renewal the store refuses (the
  voice was deleted, on any replica, or another worker took the job over after the lease expired)
  cancels the run, which then writes nothing more.
- *poll*: an idle worker looks for claimable jobs every ``poll_seconds``, and at once when this
  process stores one (submit).
- *release*: stopping the worker cancels the running job and puts it back to pending, its attempts
  as they were, so another replica takes it at once rather than when the lease expires.

Start-up shows the jobs no worker runs for what they are (store.requeue_interrupted): pending again
at 0 %, or failed once out of attempts; a job another live replica holds is left alone.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

from megatts3_server.audio import decode_audio
from megatts3_server.config import CloningSettings
from megatts3_server.engines.base import CancelToken
from megatts3_server.errors import ServiceError, SynthesisCancelledError, VoiceNotFoundError
from megatts3_server.service.engine_loader import EngineLoader, EngineState
from megatts3_server.storage.leased_work import LeaseKeeper, LeaseTiming, worker_id
from megatts3_server.voices import StoredVoice, VoiceStoreInterface
from megatts3_server.voices.status import VoiceStatus

log = logging.getLogger(__name__)

# How often a worker waiting for the engine's load looks whether it is being stopped.
_STOP_CHECK = 0.2
# A run still going after twice its budget plus this is taken for hung: cancelled, and its lease no
# longer renewed, so that the job is not held for ever by a worker that will never finish it.
_OVERRUN_GRACE = 60.0


class EnrollmentJobs:
    """This process's enrollment worker: one thread that claims jobs from the store and runs them."""

    @classmethod
    def from_settings(
        cls, store: VoiceStoreInterface, loader: EngineLoader, cloning: CloningSettings
    ) -> EnrollmentJobs:
        """The enrollment jobs ``model.cloning`` describes (the API process's and the worker's alike)."""
        return cls(
            store,
            loader,
            budget_seconds=cloning.budget_seconds,
            max_attempts=cloning.max_attempts,
            lease_seconds=cloning.lease_seconds,
            poll_seconds=cloning.poll_seconds,
        )

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
        self._lease = LeaseTiming(lease_seconds)
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
            lease_seconds=self._lease.seconds,
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
        renew = functools.partial(self._store.renew_lease, voice.id, self.owner, self._lease.seconds)
        lease = LeaseKeeper(f"voice {voice.id}", renew, self._lease, token.cancel, overrun_after=overrun_after)
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
                    reference,
                    latent,
                    budget_seconds=self._budget,
                    progress=lambda fraction, similarity: lease.report(
                        progress=round(99.0 * fraction, 1), similarity=similarity
                    ),
                    cancel=token,
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
