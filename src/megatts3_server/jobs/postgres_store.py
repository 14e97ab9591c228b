"""Long-form jobs on PostgreSQL, shared by every replica (the voice store's database, its tables made
by the same migrations: voices/postgres_store.py).

A job's row and its segments are written in one transaction, and a finished segment's audio
(``job_segment_audio``: 16-bit PCM and its sentence times, by content key) in one statement, so a
crash leaves the old state or the new one. Any replica answers for any job: its state is read from
the database, and its track, written to the disk of the replica that made it, is built again from
the stored segments by a replica asked for it that lacks it (service/jobs.py).

Which replica makes a job is decided by a lease on its row, through the leased-work queue
(storage/leased_work.py, as enrollment jobs are): claim() takes the oldest unfinished job without a
live lease, so two runners never take the same job, and a job whose runner died is taken over once
its lease expires. renew() says False once the job is cancelled (on any replica), deleted or taken
over, and the runner stops.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from megatts3_server.audio import to_pcm16
from megatts3_server.errors import JobsUnavailableError
from megatts3_server.jobs.records import (
    FINISHED,
    QUEUED,
    RUNNING,
    JobRecord,
    LocalResults,
    SegmentRow,
    SentenceTime,
    pcm16_samples,
    record_from_row,
    segment_from_row,
)
from megatts3_server.jobs.script import Segment
from megatts3_server.storage.leased_work import POSTGRES, LeasedTable, LeaseQueue
from megatts3_server.tenancy import Caller
from megatts3_server.voices.postgres_store import PostgresVoiceStore, open_pool

_SUMMARY = """
    SELECT jobs.id, jobs.title, jobs.format, jobs.status, jobs.created_at, jobs.started_at, jobs.finished_at,
           jobs.error, jobs.tenant, jobs.by_admin, COUNT(s.idx) AS segments_total,
           COUNT(*) FILTER (WHERE s.status = 'done') AS segments_done,
           COUNT(*) FILTER (WHERE s.status = 'failed') AS segments_failed,
           COALESCE(SUM(CASE WHEN s.status = 'done' THEN s.duration + CASE
               WHEN s.idx = (SELECT MAX(idx) FROM job_segments WHERE job_id = jobs.id) THEN 0
               ELSE s.pause_ms / 1000.0 END END), 0) AS audio
    FROM jobs LEFT JOIN job_segments AS s ON s.job_id = jobs.id
"""
# A job is held under a lease until it finishes (a queued job's lease is its runner's while it starts).
_QUEUE = LeaseQueue(LeasedTable("jobs", waiting=(), held=(QUEUED, RUNNING), columns="id"), POSTGRES)


class PostgresJobStore(LocalResults):
    """The same interface as JobStore (store.py), on the database every replica shares."""

    def __init__(self, url: str, folder: Path, *, max_connections: int = 4, timeout: float = 10.0) -> None:
        """``folder``: this machine's result files (tracks, timestamps)."""
        self.url = url
        self.folder = folder
        self._max_connections = max_connections
        self._timeout = timeout
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        PostgresVoiceStore(self.url, timeout=self._timeout).migrate()  # one schema for the whole database
        self.folder.mkdir(parents=True, exist_ok=True)
        self.drop_partial_files()
        with self._lock:
            if self._pool is None:
                self._pool = open_pool(
                    self.url, name="job-store", max_size=self._max_connections, timeout=self._timeout
                )

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        pool = self._pool
        if pool is None:
            raise JobsUnavailableError("the job store is closed (the server is stopping)")
        try:
            with pool.connection() as connection:
                yield connection
        except psycopg.OperationalError as exc:
            raise JobsUnavailableError(f"the job database cannot be reached: {exc}") from exc

    # -- jobs ------------------------------------------------------------------------------------

    def create(self, title: str, fmt: str, segments: list[Segment], caller: Caller) -> JobRecord:
        job_id = uuid.uuid4().hex
        with self._transaction() as db:
            db.execute(
                "INSERT INTO jobs (id, title, format, status, created_at, tenant, by_admin)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (job_id, title, fmt, QUEUED, time.time(), caller.tenant, caller.admin),
            )
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO job_segments (job_id, idx, voice_id, speaker, text, pause_ms, parameters)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [
                        (job_id, n, s.voice_id, s.speaker, s.text, s.pause_ms, json.dumps(s.parameters))
                        for n, s in enumerate(segments)
                    ],
                )
        record = self.get(job_id)
        assert record is not None
        return record

    def get(self, job_id: str) -> JobRecord | None:
        with self._transaction() as db:
            row = db.execute(f"{_SUMMARY} WHERE jobs.id = %s GROUP BY jobs.id", (job_id,)).fetchone()
        return record_from_row(row) if row else None

    def list(self) -> list[JobRecord]:
        with self._transaction() as db:
            rows = db.execute(f"{_SUMMARY} GROUP BY jobs.id ORDER BY jobs.created_at").fetchall()
        return [record_from_row(row) for row in rows]

    def claim(self, owner: str, lease_seconds: float) -> str | None:
        with self._transaction() as db:
            row = _QUEUE.claim(db, owner, lease_seconds)
        return None if row is None else str(row["id"])

    def renew(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        with self._transaction() as db:
            return _QUEUE.renew(db, job_id, owner, lease_seconds)

    def release(self, job_id: str, owner: str) -> None:
        with self._transaction() as db:
            _QUEUE.end(db, job_id, owner)

    def set_status(self, job_id: str, status: str, error: str | None = None) -> bool:
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET status = %(status)s, error = COALESCE(%(error)s, error),"
                " started_at = CASE WHEN %(status)s = 'running' THEN COALESCE(started_at, %(now)s) ELSE started_at END,"
                " finished_at = CASE WHEN %(status)s IN ('done', 'failed', 'cancelled') THEN %(now)s"
                " ELSE finished_at END WHERE id = %(id)s AND status <> ALL(%(finished)s)",
                {"status": status, "error": error, "now": now, "id": job_id, "finished": list(FINISHED)},
            )
        return cursor.rowcount > 0

    def delete(self, job_id: str) -> bool:
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM jobs WHERE id = %s", (job_id,)).rowcount
        self.remove_results(job_id)
        return deleted > 0

    def expired(self, older_than: float) -> list[str]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE status = ANY(%s) AND finished_at < %s", (list(FINISHED), older_than)
            ).fetchall()
        return [row["id"] for row in rows]

    def drop_unused_segments(self, older_than: float) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM job_segment_audio AS a WHERE a.created_at < %s"
                " AND NOT EXISTS (SELECT 1 FROM job_segments AS s WHERE s.segment_key = a.key)",
                (older_than,),
            )
        return cursor.rowcount

    # -- segments --------------------------------------------------------------------------------

    def segments(self, job_id: str) -> list[SegmentRow]:
        with self._transaction() as db:
            rows = db.execute("SELECT * FROM job_segments WHERE job_id = %s ORDER BY idx", (job_id,)).fetchall()
        return [segment_from_row(row) for row in rows]

    def finish_segment(
        self, job_id: str, index: int, *, key: str | None, duration: float | None, reused: bool, error: str | None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE job_segments SET status = %s, segment_key = %s, duration = %s, reused = %s, error = %s"
                " WHERE job_id = %s AND idx = %s",
                ("failed" if error else "done", key, duration, reused, error, job_id, index),
            )

    def has_segment(self, key: str) -> bool:
        with self._transaction() as db:
            return db.execute("SELECT 1 FROM job_segment_audio WHERE key = %s", (key,)).fetchone() is not None

    def save_segment(self, key: str, samples: np.ndarray, sample_rate: int, sentences: list[SentenceTime]) -> float:
        duration = samples.size / sample_rate
        with self._transaction() as db:
            db.execute(
                "INSERT INTO job_segment_audio (key, sample_rate, duration, sentences, pcm16, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                (
                    key,
                    sample_rate,
                    duration,
                    json.dumps([asdict(s) for s in sentences], ensure_ascii=False),
                    to_pcm16(samples).tobytes(),
                    time.time(),
                ),
            )
        return duration

    def _segment(self, key: str, column: str) -> Any:
        with self._transaction() as db:
            row = db.execute(f"SELECT {column} FROM job_segment_audio WHERE key = %s", (key,)).fetchone()
        if row is None:
            raise FileNotFoundError(f"no stored segment {key}")
        return row[column]

    def segment_duration(self, key: str) -> float:
        return float(self._segment(key, "duration"))

    def segment_sentences(self, key: str) -> list[SentenceTime]:
        return [SentenceTime(**sentence) for sentence in self._segment(key, "sentences")]

    def segment_audio(self, key: str) -> np.ndarray:
        return pcm16_samples(bytes(self._segment(key, "pcm16")))
