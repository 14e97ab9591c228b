"""Enrollment jobs shared by replicas on one PostgreSQL store, through leases: a job is run by exactly
one worker; a worker that dies loses it to another once its lease expires; a delete on any replica
stops it; a worker that stops hands it back at once; start-up leaves the jobs of live replicas alone.

Each replica is an EnrollmentJobs on a store object of its own over one database; the one that dies
is a process of its own, killed with SIGKILL mid-job (tests/support/enrollment.py). Leases are short
(1 s) or long (60 s, where a test must show that nothing waited for one to expire); every wait is a
bounded poll with a generous timeout.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from megatts3_server.engines.base import Engine
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.enrollment import EnrollmentJobs
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.voices import PostgresVoiceStore
from tests.support.enrollment import SearchingEngine
from tests.support.voices import silent_reference, stored_files, stored_voice
from tests.support.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
SHORT_LEASE = 1.0
LONG_LEASE = 60.0


@pytest.fixture
def stores(postgres_databases: Callable[[], PostgresDatabase]) -> Callable[[], PostgresVoiceStore]:
    """Makes opened stores on one fresh database, one per replica (each its own pool, closed after the test)."""

    def replica() -> PostgresVoiceStore:
        store = PostgresVoiceStore(postgres_databases())
        store.open()
        return store

    return replica


def _pending(store: PostgresVoiceStore, voice_id: str) -> None:
    store.save_atomic(stored_voice(voice_id, engine="fake", status="pending", progress=0.0), silent_reference())


def _lease(store: PostgresVoiceStore, voice_id: str) -> tuple[str | None, Any]:
    with psycopg.connect(store.url) as db:
        row = db.execute("SELECT lease_owner, lease_expires FROM voices WHERE id = %s", (voice_id,)).fetchone()
    return (row[0], row[1]) if row else (None, None)


def _set_job(store: PostgresVoiceStore, voice_id: str, sql: str, *values: Any) -> None:
    with psycopg.connect(store.url) as db:
        db.execute(f"UPDATE voices SET {sql} WHERE id = %s", (*values, voice_id))


def _jobs(store: PostgresVoiceStore, engine: Engine, *, lease: float = SHORT_LEASE, max_attempts: int = 2):
    loader = EngineLoader(engine)
    loader.load_now()
    return EnrollmentJobs(
        store, loader, budget_seconds=5, max_attempts=max_attempts, lease_seconds=lease, poll_seconds=0.1
    )


@contextlib.contextmanager
def _running(*workers: EnrollmentJobs) -> Iterator[None]:
    for jobs in workers:
        jobs.start()
    try:
        yield
    finally:
        for jobs in workers:
            jobs.stop()


def test_of_two_replicas_exactly_one_runs_a_job(stores) -> None:
    first, second = stores(), stores()
    engines = [SearchingEngine(steps=20), SearchingEngine(steps=20)]
    with _running(_jobs(first, engines[0]), _jobs(second, engines[1])):
        _pending(first, "v1")
        wait_until(lambda: second.get("v1").status == "ready")
    assert sum(engine.runs for engine in engines) == 1
    assert first.get("v1").attempts == 1
    assert _lease(first, "v1") == (None, None)


def test_concurrent_claims_hand_a_job_to_exactly_one_replica(stores) -> None:
    replicas = [stores() for _ in range(6)]
    _pending(replicas[0], "contested")
    start = threading.Barrier(len(replicas))
    claims: list[Any] = [None] * len(replicas)

    def claim(index: int) -> None:
        start.wait()
        claims[index] = replicas[index].claim_job(f"r{index}", engine="fake", lease_seconds=30, max_attempts=2)

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(len(replicas))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [index for index, voice in enumerate(claims) if voice is not None]
    assert len(winners) == 1
    assert _lease(replicas[0], "contested")[0] == f"r{winners[0]}"
    assert replicas[0].get("contested").attempts == 1


def test_a_replica_that_dies_loses_its_job_to_another_once_the_lease_expires(stores) -> None:
    store = stores()
    _pending(store, "orphan")
    dying = subprocess.Popen(
        [sys.executable, "-m", "tests.support.enrollment", store.url, str(SHORT_LEASE)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        owner = dying.stdout.readline().strip()
        assert owner, "the replica did not start"
        wait_until(lambda: _lease(store, "orphan")[0] == owner)
        first_expiry = _lease(store, "orphan")[1]
        survivor_engine = SearchingEngine(steps=3)
        survivor = _jobs(stores(), survivor_engine)
        with _running(survivor):
            # While the dying replica lives it renews its lease past the first expiry: nobody takes the job.
            wait_until(lambda: (_lease(store, "orphan")[1] - first_expiry).total_seconds() > 2 * SHORT_LEASE)
            assert _lease(store, "orphan")[0] == owner and survivor_engine.runs == 0
            assert store.get("orphan").progress == pytest.approx(99 * 0.25, abs=0.1)
            dying.kill()  # SIGKILL: nothing released
            dying.wait(30)
            wait_until(lambda: store.get("orphan").status == "ready")
        voice = store.get("orphan")
        assert (voice.attempts, voice.meta, survivor_engine.runs) == (2, {"searched": True}, 1)
        assert survivor.owner != owner and _lease(store, "orphan") == (None, None)
    finally:
        dying.kill()
        dying.wait(30)


def test_deleting_a_voice_on_another_replica_stops_its_job_at_the_next_heartbeat(stores) -> None:
    running_store, other = stores(), stores()
    engine = SearchingEngine(steps=100_000, tick=0.01)
    jobs = _jobs(running_store, engine)
    with _running(jobs):
        _pending(other, "gone")
        wait_until(lambda: _lease(other, "gone")[0] == jobs.owner)
        assert other.delete("gone")  # not through the running replica: it only learns from its heartbeat
        assert engine.cancelled.wait(30)
        _pending(other, "next")  # the worker is free again
        engine.steps = 2
        wait_until(lambda: other.get("next").status == "ready")
    assert other.get("gone") is None
    assert "gone" not in stored_files(other)
    assert engine.runs == 2


def test_a_stopping_replica_hands_its_job_back_and_another_takes_it_at_once(stores) -> None:
    # Long leases: the second replica cannot be waiting for one to expire.
    first, second = stores(), stores()
    slow, quick = SearchingEngine(steps=100_000, tick=0.01), SearchingEngine(steps=2)
    leaving = _jobs(first, slow, lease=LONG_LEASE)
    with _running(leaving):
        _pending(first, "handed")
        wait_until(lambda: _lease(first, "handed")[0] == leaving.owner)
        staying = _jobs(second, quick, lease=LONG_LEASE)
        with _running(staying):
            # Start-up recovery leaves a live replica's job alone, and the new worker does not claim it.
            assert second.get("handed").status == "enrolling"
            time.sleep(0.5)  # several of the staying worker's polls
            assert _lease(second, "handed")[0] == leaving.owner and quick.runs == 0
            leaving.stop()
            assert slow.cancelled.is_set()
            wait_until(lambda: second.get("handed").status == "ready", timeout=LONG_LEASE / 3)
    voice = second.get("handed")
    assert (voice.attempts, quick.runs, slow.runs) == (1, 1, 1)  # the handed-back run did not count


def test_start_up_requeues_expired_jobs_fails_spent_ones_and_spares_live_leases(stores) -> None:
    store = stores()
    for voice_id in ("crashed", "spent", "live"):
        _pending(store, voice_id)
    _set_job(
        store,
        "crashed",
        "status = 'enrolling', progress = 40, attempts = 1, lease_owner = 'dead-1',"
        " lease_expires = now() - interval '5 seconds'",
    )
    _set_job(
        store,
        "spent",
        "status = 'enrolling', progress = 70, attempts = 2, lease_owner = 'dead-2',"
        " lease_expires = now() - interval '5 seconds'",
    )
    _set_job(
        store,
        "live",
        "status = 'enrolling', progress = 30, attempts = 1, lease_owner = 'alive',"
        " lease_expires = now() + interval '1 hour'",
    )
    held = SearchingEngine(steps=2)
    loader = EngineLoader(held)  # not loaded yet: the worker cannot claim anything before it is
    jobs = EnrollmentJobs(store, loader, budget_seconds=5, max_attempts=2, lease_seconds=SHORT_LEASE, poll_seconds=0.1)
    jobs.start()
    try:
        crashed, spent, live = (store.get(voice_id) for voice_id in ("crashed", "spent", "live"))
        assert (crashed.status, crashed.progress, _lease(store, "crashed")[0]) == ("pending", 0.0, None)
        assert spent.status == "failed" and "cut short 2 time(s)" in spent.error
        assert (live.status, live.progress, _lease(store, "live")[0]) == ("enrolling", 30.0, "alive")
        loader.load_now()
        wait_until(lambda: store.get("crashed").status == "ready")
    finally:
        jobs.stop()
    assert store.get("crashed").attempts == 2
    assert (store.get("live").status, held.runs) == ("enrolling", 1)


def test_a_job_whose_worker_died_on_its_last_attempt_fails_when_claimed(stores) -> None:
    store = stores()
    _pending(store, "doomed")
    # Its worker's lease is still running when this replica starts: start-up leaves it alone, and the
    # claim after it expires finds its attempts spent.
    _set_job(
        store,
        "doomed",
        "status = 'enrolling', attempts = 2, lease_owner = 'dead', lease_expires = now() + interval '1 second'",
    )
    engine = SearchingEngine(steps=2)
    with _running(_jobs(store, engine, max_attempts=2)):
        wait_until(lambda: store.get("doomed").status == "failed")
    assert "cut short 2 time(s)" in store.get("doomed").error
    assert engine.runs == 0 and _lease(store, "doomed") == (None, None)
