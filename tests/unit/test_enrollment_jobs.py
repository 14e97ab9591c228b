"""The enrollment worker: jobs finish, fail clearly, are cancelled by delete and shutdown, resume after a crash;
the store's job leases: claimed once, renewed and ended only by their owner, claimable again once expired.

Every test runs on both store backends (SQLite + files, PostgreSQL); several replicas on one
PostgreSQL store: test_enrollment_replicas.py.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from megatts3_server.engines.base import Engine
from megatts3_server.errors import EngineNotReadyError, InvalidRequestError
from megatts3_server.service import enrollment
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.enrollment import EnrollmentJobs
from megatts3_server.voices import StoredVoice, VoiceStoreInterface
from tests.support.enrollment import SearchingEngine
from tests.support.voices import STORE_BACKENDS, backend_store, silent_reference, stored_files, stored_voice
from tests.support.waiting import wait_until


def _pending(store: VoiceStoreInterface, voice_id: str, **job: object) -> None:
    fields = {"engine": "fake", "status": "pending", "progress": 0.0, **job}
    store.save_atomic(stored_voice(voice_id, **fields), silent_reference())


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
        wait_until(lambda: store.get("v1").status == "ready")
    voice = store.get("v1")
    assert (voice.progress, voice.similarity, voice.attempts, voice.meta) == (100.0, 0.9, 1, {"searched": True})
    assert store.load_arrays("v1")["style"][0, 0] == pytest.approx(2.0)


def test_an_engine_error_fails_the_job_with_its_message(store: VoiceStoreInterface) -> None:
    with _running_jobs(store, SearchingEngine(error=InvalidRequestError("the reference is unusable"))) as jobs:
        _pending(store, "bad")
        jobs.submit("bad")
        wait_until(lambda: store.get("bad").status == "failed")
    assert store.get("bad").error == "the reference is unusable"


def test_deleting_a_voice_cancels_its_running_job(store: VoiceStoreInterface) -> None:
    engine = SearchingEngine(steps=1000)
    with _running_jobs(store, engine) as jobs:
        _pending(store, "gone")
        jobs.submit("gone")
        wait_until(lambda: store.get("gone").status == "enrolling")
        jobs.cancel("gone")
        store.delete("gone")
        _pending(store, "next")
        jobs.submit("next")
        engine.steps = 2
        wait_until(lambda: store.get("next").status == "ready")
    assert store.get("gone") is None
    assert "gone" not in stored_files(store)


def test_shutdown_leaves_the_running_job_pending_and_a_restart_finishes_it(store: VoiceStoreInterface) -> None:
    engine = SearchingEngine(steps=1000)
    with _running_jobs(store, engine) as jobs:
        _pending(store, "v2")
        jobs.submit("v2")
        wait_until(lambda: store.get("v2").status == "enrolling")
    assert (store.get("v2").status, store.get("v2").attempts) == ("pending", 0)
    engine.steps = 2
    with _running_jobs(store, engine):
        wait_until(lambda: store.get("v2").status == "ready")


def test_a_job_cut_short_by_a_crash_resumes_then_fails_once_out_of_attempts(store: VoiceStoreInterface) -> None:
    _pending(store, "crashed", status="enrolling", progress=42.0, attempts=1)
    with _running_jobs(store, SearchingEngine(steps=2), max_attempts=2):
        wait_until(lambda: store.get("crashed").status == "ready")
    assert store.get("crashed").attempts == 2

    _pending(store, "crash_loop", status="enrolling", progress=42.0, attempts=2)
    engine = SearchingEngine(steps=2)
    with _running_jobs(store, engine, max_attempts=2):
        wait_until(lambda: store.get("crash_loop").status == "failed")
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
        wait_until(lambda: store.get("stale").status == "ready")
    finally:
        jobs.stop()
    assert store.get("stale").attempts == 2


def _claim(
    store: VoiceStoreInterface,
    owner: str,
    *,
    lease: float = 30.0,
    max_attempts: int = 2,
    voice_id: str | None = None,
    engine: str = "fake",
) -> StoredVoice | None:
    return store.claim_job(owner, engine=engine, lease_seconds=lease, max_attempts=max_attempts, voice_id=voice_id)


def test_a_job_is_claimed_once_and_its_lease_is_only_its_owners(store: VoiceStoreInterface) -> None:
    _pending(store, "a1")
    _pending(store, "b2")
    first = _claim(store, "one")
    assert first is not None and (first.id, first.status, first.progress, first.attempts) == ("a1", "enrolling", 0, 1)
    assert _claim(store, "two").id == "b2"
    assert _claim(store, "three") is None
    assert store.renew_lease("a1", "one", 30, progress=40.0, similarity=0.5)
    assert not store.renew_lease("a1", "two", 30, progress=99.0)
    assert not store.end_lease("a1", "two", status="failed", error="not yours")
    assert not store.complete_enrollment("a1", {"x": 1}, "", {}, None, owner="two")
    voice = store.get("a1")
    assert (voice.status, voice.progress, voice.similarity, voice.error) == ("enrolling", 40.0, 0.5, "")
    assert store.end_lease("a1", "one", status="pending", progress=0.0, attempts=0)
    assert not store.renew_lease("a1", "one", 30)  # released: no longer its
    assert _claim(store, "other-engine", engine="another") is None
    assert _claim(store, "three", voice_id="a1").attempts == 1


def test_an_expired_lease_is_taken_over_and_its_old_owner_writes_nothing(store: VoiceStoreInterface) -> None:
    _pending(store, "v")
    assert _claim(store, "dead", lease=0.0) is not None  # a lease that is over at once
    claims = [_claim(store, "alive")]
    wait_until(lambda: claims[-1] is not None or claims.append(_claim(store, "alive")))
    assert (claims[-1].id, claims[-1].attempts) == ("v", 2)
    assert not store.renew_lease("v", "dead", 30, progress=50.0)
    assert not store.complete_enrollment("v", {"by": "dead"}, "", {}, None, owner="dead")
    style = np.ones((2, 2), np.float32)
    assert store.complete_enrollment("v", {"by": "alive"}, "done", {"style": style}, 0.8, owner="alive")
    voice = store.get("v")
    assert (voice.status, voice.meta, voice.attempts) == ("ready", {"by": "alive"}, 2)
    assert not store.renew_lease("v", "alive", 30)  # ended with the job
    assert _claim(store, "third", lease=0.0) is None


def test_a_deleted_voice_has_no_lease_to_renew_or_complete(store: VoiceStoreInterface) -> None:
    _pending(store, "gone")
    assert _claim(store, "one") is not None
    assert store.delete("gone")
    assert not store.renew_lease("gone", "one", 30, progress=10.0)
    assert not store.complete_enrollment("gone", {}, "", {"style": np.ones(2, np.float32)}, None, owner="one")
    assert store.get("gone") is None
    assert "gone" not in stored_files(store)


def test_a_claim_fails_the_jobs_out_of_attempts_it_meets(store: VoiceStoreInterface) -> None:
    _pending(store, "a_spent", attempts=2)
    _pending(store, "b_fresh")
    assert _claim(store, "one", max_attempts=2).id == "b_fresh"
    spent = store.get("a_spent")
    assert spent.status == "failed" and "cut short 2 time(s)" in spent.error


class _BrokenEngine(SearchingEngine):
    def load(self) -> None:
        raise EngineNotReadyError("no weights here")


def test_a_worker_whose_engine_failed_fails_only_the_voices_stored_through_it(store: VoiceStoreInterface) -> None:
    _pending(store, "elsewhere")  # another replica's upload: left for a worker that can enroll it
    loader = EngineLoader(_BrokenEngine())
    loader.start()
    loader.wait()
    jobs = EnrollmentJobs(store, loader, budget_seconds=5, max_attempts=2, poll_seconds=0.05)
    jobs.start()
    try:
        _pending(store, "here")
        jobs.submit("here")
        wait_until(lambda: store.get("here").status == "failed")
    finally:
        jobs.stop()
    assert "engine not loaded: no weights here" in store.get("here").error
    assert store.get("elsewhere").status == "pending"


def test_a_run_far_past_its_budget_is_stopped_and_fails(
    store: VoiceStoreInterface, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enrollment, "_OVERRUN_GRACE", 0.3)
    engine = SearchingEngine(steps=100_000, tick=0.01)
    loader = EngineLoader(engine)
    loader.load_now()
    jobs = EnrollmentJobs(store, loader, budget_seconds=0.1, max_attempts=2, poll_seconds=0.05)
    jobs.start()
    try:
        _pending(store, "endless")
        jobs.submit("endless")
        wait_until(lambda: store.get("endless").status == "failed")
    finally:
        jobs.stop()
    assert engine.cancelled.is_set()
    assert "ran for more than 0.5 s (its budget is 0.1 s)" in store.get("endless").error
