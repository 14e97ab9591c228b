"""The long-form job stores (SQLite on this machine, PostgreSQL shared by replicas): records and
segments, what expires, what a crash leaves, and which runner makes a job (claims and leases)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from megatts3_server.errors import StorageUnavailableError
from megatts3_server.jobs.postgres_store import PostgresJobStore
from megatts3_server.jobs.records import CANCELLED, DONE, SentenceTime
from megatts3_server.jobs.script import Segment
from megatts3_server.jobs.store import JobStore
from megatts3_server.jobs.store_interface import JobStoreInterface
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.tenancy import Caller
from tests.support.server import free_port


def _store(folder: Path) -> JobStore:
    store = JobStore(folder)
    store.open()
    return store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStoreInterface]:
    opened: JobStoreInterface
    if request.param == "postgres":
        opened = PostgresJobStore(request.getfixturevalue("postgres_database"), tmp_path / "results")
        opened.open()
    else:
        opened = _store(tmp_path)
    yield opened
    opened.close()


def _two_segments(store: JobStoreInterface) -> str:
    return store.create("t", "wav", [Segment("v", "一。", "v", 300), Segment("v", "二。", "v", 300)], Caller()).id


def test_finished_jobs_expire_and_their_unused_segments_go_with_them(store: JobStoreInterface) -> None:
    job = store.get(_two_segments(store))
    assert job is not None
    samples = np.full(800, 0.1, np.float32)
    for index, key in enumerate(("a" * 64, "b" * 64)):
        duration = store.save_segment(key, samples, 8000, [SentenceTime("x", 0.0, 0.1)])
        store.finish_segment(job.id, index, key=key, duration=duration, reused=False, error=None)
    assert store.segment_audio("a" * 64) == pytest.approx(samples, abs=1e-4)
    assert store.segment_sentences("b" * 64) == [SentenceTime("x", 0.0, 0.1)]
    assert [row.status for row in store.segments(job.id)] == ["done", "done"]
    assert store.set_status(job.id, DONE) and not store.set_status(job.id, "running"), "a finished job stays so"
    record = store.get(job.id)
    assert record is not None and record.segments_done == 2
    assert record.audio_seconds == pytest.approx(0.1 + 0.3 + 0.1)  # the pause after the last segment is not counted

    assert store.expired(older_than=time.time() - 3600) == []
    assert store.expired(older_than=time.time() + 1) == [job.id]
    assert store.delete(job.id) and store.get(job.id) is None
    fresh = "c" * 64
    store.save_segment(fresh, samples, 8000, [])  # made for a job that has not recorded it yet
    cutoff = time.time() - 60
    assert store.drop_unused_segments(older_than=cutoff) == 0, "nothing that new is dropped"
    assert store.drop_unused_segments(older_than=time.time() + 1) == 3
    assert not any(store.has_segment(key) for key in ("a" * 64, "b" * 64, fresh))


def test_a_write_cut_short_leaves_nothing_a_reader_would_take_for_a_segment(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (tmp_path / "segments" / f"{'d' * 64}.json.partial").write_text("{")
    store.close()
    reopened = _store(tmp_path)
    assert not reopened.has_segment("d" * 64)
    assert not list((tmp_path / "segments").glob("*.partial"))


def test_a_cancelled_job_is_no_longer_its_runners(store: JobStoreInterface) -> None:
    job_id = _two_segments(store)
    assert store.claim("runner-a", 30) == job_id
    assert store.claim("runner-b", 30) is None, "one runner per job"
    assert store.renew(job_id, "runner-a", 30)
    assert store.set_status(job_id, CANCELLED, "cancelled by the client")
    assert not store.renew(job_id, "runner-a", 30)
    store.release(job_id, "runner-a")
    assert store.claim("runner-b", 30) is None, "a cancelled job is not made"


def test_replicas_share_jobs_and_a_dead_runners_job_is_taken_over_when_its_lease_ends(
    postgres_databases: Callable[[], PostgresDatabase], tmp_path: Path
) -> None:
    one = PostgresJobStore(postgres_databases(), tmp_path / "one")
    two = PostgresJobStore(postgres_databases(), tmp_path / "two")
    one.open()
    two.open()
    try:
        job_id = _two_segments(one)
        assert [record.id for record in two.list()] == [job_id]
        assert two.claim("runner-b", 30) == job_id
        assert one.claim("runner-a", 30) is None, "a job under a live lease is passed over"
        assert not one.renew(job_id, "runner-a", 30), "only the holder renews"
        assert two.renew(job_id, "runner-b", 0.001)  # then runner-b dies: its lease runs out
        deadline = time.monotonic() + 30
        while (taken := one.claim("runner-a", 30)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert taken == job_id
        assert not two.renew(job_id, "runner-b", 30), "the job is runner-a's now"
        one.release(job_id, "runner-a")
        assert two.claim("runner-b", 30) == job_id, "a released job is claimable at once"
        key = "e" * 64
        two.save_segment(key, np.zeros(80, np.float32), 8000, [])
        assert one.has_segment(key) and one.segment_duration(key) == pytest.approx(0.01)
        two.save_segment(key, np.ones(80, np.float32), 8000, [])  # the same content key: kept as first stored
        assert one.segment_audio(key) == pytest.approx(np.zeros(80))
    finally:
        one.close()
        two.close()


def test_an_unreachable_job_database_is_storage_unavailable(tmp_path: Path) -> None:
    database = PostgresDatabase(f"postgresql://postgres@127.0.0.1:{free_port()}/jobs", timeout=1)
    with pytest.raises(StorageUnavailableError) as error:  # the fault mapping every store shares: a 503
        PostgresJobStore(database, tmp_path).open()
    assert error.value.retry_after == 30
    database.close()
