"""The rows both job stores keep alike (jobs and their segments), written once for both dialects
(statements with ``?`` placeholders, as ``_sql`` gives them to the store's dialect: storage/database.py).
The stores (store.py: SQLite + segment files; postgres_store.py) add how they connect, which runner
makes a job (claims and leases) and where a finished segment's audio is kept."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from megatts3_server.jobs.records import FINISHED, QUEUED, JobRecord, SegmentRow, record_from_row, segment_from_row
from megatts3_server.jobs.script import Segment
from megatts3_server.storage.faults import faults_mapped
from megatts3_server.tenancy import Caller

_FINISHED = ", ".join(f"'{status}'" for status in FINISHED)
# A job's row and its segments' totals (the last segment's pause is no part of the audio).
_SUMMARY = """
    SELECT jobs.id, jobs.title, jobs.format, jobs.status, jobs.created_at, jobs.started_at, jobs.finished_at,
           jobs.error, jobs.tenant, jobs.by_admin, COUNT(s.idx) AS segments_total,
           COUNT(CASE WHEN s.status = 'done' THEN 1 END) AS segments_done,
           COUNT(CASE WHEN s.status = 'failed' THEN 1 END) AS segments_failed,
           COALESCE(SUM(CASE WHEN s.status = 'done' THEN s.duration + CASE
               WHEN s.idx = (SELECT MAX(idx) FROM job_segments WHERE job_id = jobs.id) THEN 0
               ELSE s.pause_ms / 1000.0 END END), 0) AS audio
    FROM jobs LEFT JOIN job_segments AS s ON s.job_id = jobs.id
"""


@faults_mapped
class JobRows:
    """Jobs and their segments, over the store's ``_transaction`` and ``_sql``."""

    # Given by the store (annotations only: nothing here may shadow LocalResults' remove_results).
    _sql: Callable[[str], str]
    _transaction: Callable[[], AbstractContextManager[Any]]
    remove_results: Callable[[str], None]

    def create(self, title: str, fmt: str, segments: list[Segment], caller: Caller) -> JobRecord:
        """Store a queued job owned by ``caller``'s tenant (and marked as an admin's when it is one)."""
        job_id = uuid.uuid4().hex
        with self._transaction() as db:
            db.execute(
                self._sql(
                    "INSERT INTO jobs (id, title, format, status, created_at, tenant, by_admin)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                (job_id, title, fmt, QUEUED, time.time(), caller.tenant, caller.admin),
            )
            db.cursor().executemany(
                self._sql(
                    "INSERT INTO job_segments (job_id, idx, voice_id, speaker, text, pause_ms, parameters)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                [
                    (job_id, n, s.voice_id, s.speaker, s.text, s.pause_ms, s.parameters.to_json())
                    for n, s in enumerate(segments)
                ],
            )
        record = self.get(job_id)
        assert record is not None
        return record

    def get(self, job_id: str) -> JobRecord | None:
        with self._transaction() as db:
            row = db.execute(self._sql(f"{_SUMMARY} WHERE jobs.id = ? GROUP BY jobs.id"), (job_id,)).fetchone()
        return record_from_row(row) if row else None

    def list(self) -> list[JobRecord]:
        with self._transaction() as db:
            rows = db.execute(f"{_SUMMARY} GROUP BY jobs.id ORDER BY jobs.created_at").fetchall()
        return [record_from_row(row) for row in rows]

    def set_status(self, job_id: str, status: str, error: str | None = None) -> bool:
        """Move a job on; a finished job stays as it ended (False)."""
        now = time.time()
        with self._transaction() as db:
            changed = db.execute(
                self._sql(
                    "UPDATE jobs SET status = ?, error = COALESCE(?, error),"
                    " started_at = CASE WHEN ? = 'running' THEN COALESCE(started_at, ?) ELSE started_at END,"
                    f" finished_at = CASE WHEN ? IN ({_FINISHED}) THEN ? ELSE finished_at END"
                    f" WHERE id = ? AND status NOT IN ({_FINISHED})"
                ),
                (status, error, status, now, status, now, job_id),
            ).rowcount
        return changed > 0

    def delete(self, job_id: str) -> bool:
        with self._transaction() as db:
            deleted = db.execute(self._sql("DELETE FROM jobs WHERE id = ?"), (job_id,)).rowcount
        self.remove_results(job_id)
        return deleted > 0

    def expired(self, older_than: float) -> list[str]:
        """The finished jobs that finished before ``older_than`` (Unix time)."""
        with self._transaction() as db:
            rows = db.execute(
                self._sql(f"SELECT id FROM jobs WHERE status IN ({_FINISHED}) AND finished_at < ?"), (older_than,)
            ).fetchall()
        return [row["id"] for row in rows]

    def segments(self, job_id: str) -> list[SegmentRow]:
        with self._transaction() as db:
            rows = db.execute(self._sql("SELECT * FROM job_segments WHERE job_id = ? ORDER BY idx"), (job_id,))
            return [segment_from_row(row) for row in rows.fetchall()]

    def finish_segment(
        self, job_id: str, index: int, *, key: str | None, duration: float | None, reused: bool, error: str | None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                self._sql(
                    "UPDATE job_segments SET status = ?, segment_key = ?, duration = ?, reused = ?, error = ?"
                    " WHERE job_id = ? AND idx = ?"
                ),
                ("failed" if error else "done", key, duration, reused, error, job_id, index),
            )
