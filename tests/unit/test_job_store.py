"""The long-form job store: records and segments on disk, what expires, and what a crash leaves."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from megatts3_server.jobs.script import Segment
from megatts3_server.jobs.store import DONE, JobStore, SentenceTime


def _store(folder: Path) -> JobStore:
    store = JobStore(folder)
    store.open()
    return store


def test_finished_jobs_expire_and_their_unused_segments_go_with_them(tmp_path: Path) -> None:
    store = _store(tmp_path)
    job = store.create("t", "wav", [Segment("v", "一。", "v", 300), Segment("v", "二。", "v", 300)])
    samples = np.full(800, 0.1, np.float32)
    for index, key in enumerate(("a" * 64, "b" * 64)):
        duration = store.save_segment(key, samples, 8000, [SentenceTime("x", 0.0, 0.1)])
        store.finish_segment(job.id, index, key=key, duration=duration, reused=False, error=None)
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
