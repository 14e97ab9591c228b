"""Enrollment jobs: uploaded references become voices on one background thread.

Enrollment is CPU bound and may take a minute, so it never runs on the event loop and never more
than one at a time. The job's state lives in the voice store, so a restart resumes what was pending
or cut short; a voice whose enrollment was started ``max_attempts`` times without finishing (each
run ended by a crash) is marked failed instead of being retried for ever. Deleting a voice cancels
its job; stopping the service cancels the running one and leaves it pending for the next start.
"""

from __future__ import annotations

import collections
import logging
import threading
import time

from megatts3_server.audio import decode_audio
from megatts3_server.engines.base import CancelToken
from megatts3_server.errors import ServiceError, SynthesisCancelledError
from megatts3_server.service.engine_loader import EngineLoader, EngineState
from megatts3_server.voices import StoredVoice, VoiceStoreInterface
from megatts3_server.voices.status import UNFINISHED, VoiceStatus

log = logging.getLogger(__name__)

# Progress is written to the store at most this often (each write is an SQLite transaction).
_PROGRESS_INTERVAL = 0.5
# How often a worker waiting for the engine's load looks whether it is being stopped.
_STOP_CHECK = 0.2


class EnrollmentJobs:
    """The queue of voices to enroll and the one worker thread that enrolls them."""

    def __init__(
        self, store: VoiceStoreInterface, loader: EngineLoader, *, budget_seconds: float, max_attempts: int
    ) -> None:
        self._store = store
        self._loader = loader
        self._engine = loader.engine
        self._budget = budget_seconds
        self._max_attempts = max_attempts
        self._queue: collections.deque[str] = collections.deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._running: tuple[str, CancelToken] | None = None
        self._thread: threading.Thread | None = None

    @property
    def in_background(self) -> bool:
        """Whether uploads are enrolled here (the engine searches) rather than within the request."""
        return self._engine.enrolls_in_background(self._budget)

    def start(self) -> None:
        """Start the worker and queue the jobs a previous run left unfinished.

        A job cut short by the stop (``enrolling`` with its old progress) is shown for what it is now:
        pending again, at 0 %, or failed when it has used up its attempts; nothing claims progress
        that no worker is making."""
        for voice in self._store.unfinished():
            if voice.attempts >= self._max_attempts:
                self._give_up(voice)
                continue
            if voice.status == VoiceStatus.ENROLLING:
                self._store.update_job(voice.id, status=VoiceStatus.PENDING, progress=0.0)
            log.info("resuming the enrollment of voice %s (was %s)", voice.id, voice.status)
            self.submit(voice.id)
        self._thread = threading.Thread(target=self._work, name="enrollment", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the running job (it stays pending for the next start) and stop the worker."""
        with self._wake:
            self._stopping = True
            running = self._running
            self._wake.notify_all()
        if running is not None:
            running[1].cancel()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, voice_id: str) -> None:
        with self._wake:
            if voice_id not in self._queue:
                self._queue.append(voice_id)
            self._wake.notify_all()

    def cancel(self, voice_id: str) -> None:
        """Forget a voice's job (queued or running): called when the voice is deleted."""
        with self._wake:
            if voice_id in self._queue:
                self._queue.remove(voice_id)
            running = self._running
        if running is not None and running[0] == voice_id:
            running[1].cancel()

    def _next(self) -> str | None:
        with self._wake:
            while not self._queue and not self._stopping:
                self._wake.wait()
            return None if self._stopping else self._queue.popleft()

    def _work(self) -> None:
        while (voice_id := self._next()) is not None:
            try:
                self._enroll(voice_id)
            except Exception as exc:  # the worker must survive any one job
                log.exception("enrollment of voice %s failed", voice_id)
                message = (
                    exc.message if isinstance(exc, ServiceError) else f"internal error: {type(exc).__name__}: {exc}"
                )
                try:
                    self._store.update_job(voice_id, status=VoiceStatus.FAILED, error=message)
                except ServiceError as store_error:  # the disk itself: the job stays unfinished for the next start
                    log.error("voice %s: its failure could not be recorded (%s)", voice_id, store_error.message)

    def _give_up(self, voice: StoredVoice) -> None:
        message = f"enrollment was cut short {voice.attempts} time(s) (the service stopped while enrolling)"
        log.warning("voice %s: %s; marked failed", voice.id, message)
        self._store.update_job(voice.id, status=VoiceStatus.FAILED, error=message)

    def _wait_for_engine(self) -> bool:
        while not self._loader.wait(_STOP_CHECK) and self._loader.state is EngineState.STARTING:
            if self._stopping:
                return False
        return self._loader.state is EngineState.READY

    def _enroll(self, voice_id: str) -> None:
        voice = self._store.get(voice_id)
        if voice is None or voice.status not in UNFINISHED:
            return
        if voice.attempts >= self._max_attempts:
            self._give_up(voice)
            return
        if not self._wait_for_engine():
            if self._loader.error is not None:
                error = f"engine not loaded: {self._loader.error}"
                self._store.update_job(voice_id, status=VoiceStatus.FAILED, error=error)
            return
        token = CancelToken()
        with self._wake:
            if self._stopping:
                return
            self._running = (voice_id, token)
        try:
            self._run(voice, token)
        finally:
            with self._wake:
                self._running = None

    def _run(self, voice: StoredVoice, token: CancelToken) -> None:
        started_job = self._store.update_job(
            voice.id, status=VoiceStatus.ENROLLING, progress=0.0, attempts=voice.attempts + 1
        )
        if not started_job:
            return
        last_write = 0.0

        def report(fraction: float, similarity: float | None) -> None:
            nonlocal last_write
            if time.monotonic() - last_write >= _PROGRESS_INTERVAL:
                last_write = time.monotonic()
                self._store.update_job(voice.id, progress=round(99.0 * fraction, 1), similarity=similarity)

        wav, latent = self._store.load_reference(voice.id)
        reference = decode_audio(wav, target_rate=self._engine.capabilities.sample_rate)
        started = time.perf_counter()
        try:
            prepared = self._engine.enroll_voice(
                reference, latent, budget_seconds=self._budget, progress=report, cancel=token
            )
        except SynthesisCancelledError:
            if self._stopping:  # not this voice's fault: it runs again, from the start, next time
                self._store.update_job(voice.id, status=VoiceStatus.PENDING, progress=0.0, attempts=voice.attempts)
            return
        except ServiceError as exc:
            self._store.update_job(voice.id, status=VoiceStatus.FAILED, error=exc.message)
            return
        if self._store.complete_enrollment(
            voice.id, prepared.meta, prepared.summary, prepared.arrays, prepared.similarity
        ):
            log.info("voice %s enrolled in %.1f s", voice.id, time.perf_counter() - started)
