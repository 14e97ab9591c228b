"""Long-form jobs on PostgreSQL, shared by every replica (the voice store's database, and the same
PostgresDatabase object and pool in a process; its pool, schema and migrations are storage/'s:
postgres.py, schema_postgres.py; its faults are told as 507 / 503 by storage/faults.py, as every
store's are).

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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from megatts3_server.audio import to_pcm16
from megatts3_server.errors import JobsUnavailableError
from megatts3_server.jobs.records import (
    QUEUED,
    RUNNING,
    LocalResults,
    SentenceTime,
    pcm16_samples,
)
from megatts3_server.jobs.rows import JobRows
from megatts3_server.storage.faults import faults_mapped
from megatts3_server.storage.leased_work import POSTGRES, LeasedTable, LeaseQueue
from megatts3_server.storage.postgres import PostgresDatabase

# A job is held under a lease until it finishes (a queued job's lease is its runner's while it starts).
_QUEUE = LeaseQueue(LeasedTable("jobs", waiting=(), held=(QUEUED, RUNNING), columns="id"), POSTGRES)


@faults_mapped
class PostgresJobStore(LocalResults, JobRows):
    """The same interface as JobStore (store.py), on the database every replica shares; the jobs' rows:
    rows.py."""

    _sql = staticmethod(PostgresDatabase.sql)

    def __init__(self, database: PostgresDatabase, folder: Path) -> None:
        """``database``: the process's one PostgresDatabase (storage/databases.py), shared with the
        other stores and closed by its builder; ``folder``: this machine's result files (tracks,
        timestamps)."""
        self.url = database.url
        self.folder = folder
        self._database = database
        self._opened = False

    def open(self) -> None:
        self._database.migrate()  # one schema for the whole database (storage/schema_postgres.py), once
        self.folder.mkdir(parents=True, exist_ok=True)
        self.drop_partial_files()
        self._opened = True

    def close(self) -> None:
        """Refuse further use (the runner stops); the pool is the database's, closed by its builder."""
        self._opened = False

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        if not self._opened:
            raise JobsUnavailableError("the job store is closed (the server is stopping)")
        with self._database.transaction() as connection:
            yield connection

    # -- which runner makes a job, and what is left ---------------------------------------------

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

    def drop_unused_segments(self, older_than: float) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM job_segment_audio AS a WHERE a.created_at < %s"
                " AND NOT EXISTS (SELECT 1 FROM job_segments AS s WHERE s.segment_key = a.key)",
                (older_than,),
            )
        return cursor.rowcount

    # -- finished segments' audio --------------------------------------------------------------

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
