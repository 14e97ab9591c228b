"""The enrollment worker: jobs finish, fail clearly, are cancelled by delete and shutdown, resume after a crash.

Every test runs on both store backends (SQLite + files, PostgreSQL).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from megatts3_server.audio import DecodedAudio
from megatts3_server.engines.base import (
    BuiltinVoice,
    CancelToken,
    Engine,
    EngineCapabilities,
    EnrollmentProgress,
    PreparedVoice,
    VoiceContext,
)
from megatts3_server.errors import InvalidRequestError, SynthesisCancelledError
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.enrollment import EnrollmentJobs
from megatts3_server.voices import VoiceStoreInterface
from tests.support.voices import STORE_BACKENDS, backend_store, silent_reference, stored_files, stored_voice

RATE = 24_000


class SearchingEngine(Engine):
    """Enrolls in ``steps`` ticks of ``tick`` seconds, or raises ``error``; started runs are counted."""

    def __init__(self, steps: int = 5, tick: float = 0.02, error: Exception | None = None) -> None:
        self.steps, self.tick, self.error = steps, tick, error
        self.started = threading.Event()
        self.runs = 0

    capabilities = EngineCapabilities("fake", RATE, ("en",), frozenset({"neutral"}))
    loaded = True

    def load(self) -> None: ...

    def builtin_voices(self) -> list[BuiltinVoice]:
        return []

    def builtin_context(self, voice_id: str) -> VoiceContext:
        raise KeyError(voice_id)

    def prepare_voice(self, reference: DecodedAudio, latent: np.ndarray | None) -> PreparedVoice:
        return PreparedVoice(meta={})

    def synthesize(self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None):
        return np.zeros(RATE, np.float32)

    def enrolls_in_background(self, budget_seconds: float) -> bool:
        return True

    def enroll_voice(
        self,
        reference: DecodedAudio,
        latent: np.ndarray | None,
        *,
        budget_seconds: float = 0.0,
        progress: EnrollmentProgress | None = None,
        cancel: CancelToken | None = None,
    ) -> PreparedVoice:
        self.runs += 1
        self.started.set()
        if self.error is not None:
            raise self.error
        for step in range(self.steps):
            if cancel is not None and cancel.cancelled:
                raise SynthesisCancelledError("cancelled")
            if progress is not None:
                progress(step / self.steps, 0.5 + step / 100)
            time.sleep(self.tick)
        style = np.full((4, 8), len(reference.samples) / RATE, np.float32)
        return PreparedVoice(meta={"searched": True}, arrays={"style": style}, summary="searched", similarity=0.9)


def _pending(store: VoiceStoreInterface, voice_id: str, **job: object) -> None:
    fields = {"engine": "fake", "status": "pending", "progress": 0.0, **job}
    store.save_atomic(stored_voice(voice_id, **fields), silent_reference())


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> VoiceStoreInterface:
    return backend_store(request, tmp_path / "voices")


@contextlib.contextmanager
def _running_jobs(store: VoiceStoreInterface, engine: Engine, max_attempts: int = 2) -> Iterator[EnrollmentJobs]:
    """The job worker, started, and stopped (as at shutdown) when the block ends."""
    loader = EngineLoader(engine)
    loader.load_now()
    jobs = EnrollmentJobs(store, loader, budget_seconds=5, max_attempts=max_attempts)
    jobs.start()
    try:
        yield jobs
    finally:
        jobs.stop()


def test_a_job_enrolls_the_voice_and_stores_its_arrays(store: VoiceStoreInterface) -> None:
    with _running_jobs(store, SearchingEngine()) as jobs:
        _pending(store, "v1")
        jobs.submit("v1")
        _wait(lambda: store.get("v1").status == "ready")
    voice = store.get("v1")
    assert (voice.progress, voice.similarity, voice.attempts, voice.meta) == (100.0, 0.9, 1, {"searched": True})
    assert store.load_arrays("v1")["style"][0, 0] == pytest.approx(2.0)


def test_an_engine_error_fails_the_job_with_its_message(store: VoiceStoreInterface) -> None:
    with _running_jobs(store, SearchingEngine(error=InvalidRequestError("the reference is unusable"))) as jobs:
        _pending(store, "bad")
        jobs.submit("bad")
        _wait(lambda: store.get("bad").status == "failed")
    assert store.get("bad").error == "the reference is unusable"


def test_deleting_a_voice_cancels_its_running_job(store: VoiceStoreInterface) -> None:
    engine = SearchingEngine(steps=1000)
    with _running_jobs(store, engine) as jobs:
        _pending(store, "gone")
        jobs.submit("gone")
        _wait(lambda: store.get("gone").status == "enrolling")
        jobs.cancel("gone")
        store.delete("gone")
        _pending(store, "next")
        jobs.submit("next")
        engine.steps = 2
        _wait(lambda: store.get("next").status == "ready")
    assert store.get("gone") is None
    assert "gone" not in stored_files(store)


def test_shutdown_leaves_the_running_job_pending_and_a_restart_finishes_it(store: VoiceStoreInterface) -> None:
    engine = SearchingEngine(steps=1000)
    with _running_jobs(store, engine) as jobs:
        _pending(store, "v2")
        jobs.submit("v2")
        _wait(lambda: store.get("v2").status == "enrolling")
    assert (store.get("v2").status, store.get("v2").attempts) == ("pending", 0)
    engine.steps = 2
    with _running_jobs(store, engine):
        _wait(lambda: store.get("v2").status == "ready")


def test_a_job_cut_short_by_a_crash_resumes_then_fails_once_out_of_attempts(store: VoiceStoreInterface) -> None:
    _pending(store, "crashed", status="enrolling", progress=42.0, attempts=1)
    with _running_jobs(store, SearchingEngine(steps=2), max_attempts=2):
        _wait(lambda: store.get("crashed").status == "ready")
    assert store.get("crashed").attempts == 2

    _pending(store, "crash_loop", status="enrolling", progress=42.0, attempts=2)
    engine = SearchingEngine(steps=2)
    with _running_jobs(store, engine, max_attempts=2):
        _wait(lambda: store.get("crash_loop").status == "failed")
    assert "cut short 2 time(s)" in store.get("crash_loop").error
    assert engine.runs == 0


class _HeldEngine(SearchingEngine):
    """Its load waits for ``release``: the worker cannot start any job before it."""

    def __init__(self) -> None:
        super().__init__(steps=2)
        self.release = threading.Event()

    def load(self) -> None:
        self.release.wait(10)


def test_after_a_crash_nothing_claims_progress_no_worker_is_making(store: VoiceStoreInterface) -> None:
    _pending(store, "stale", status="enrolling", progress=44.0, attempts=1)
    _pending(store, "spent", status="enrolling", progress=80.0, attempts=2)
    engine = _HeldEngine()
    loader = EngineLoader(engine)
    loader.start()
    jobs = EnrollmentJobs(store, loader, budget_seconds=5, max_attempts=2)
    jobs.start()
    try:
        # The engine is still loading: the interrupted job is waiting again, at 0 %, not "enrolling 44 %".
        assert (store.get("stale").status, store.get("stale").progress) == ("pending", 0.0)
        assert store.get("spent").status == "failed" and "cut short 2 time(s)" in store.get("spent").error
        engine.release.set()
        _wait(lambda: store.get("stale").status == "ready")
    finally:
        jobs.stop()
    assert store.get("stale").attempts == 2
