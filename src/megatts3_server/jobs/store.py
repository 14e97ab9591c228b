"""Long-form jobs on disk: their records in SQLite, finished segments as files cached by content,
and each finished job's track and timestamps in a folder of its own.

    <jobs_dir>/jobs.sqlite3            jobs and their segments (status, duration, error)
    <jobs_dir>/segments/<key>.wav      a finished segment's audio (loudness-normalized, 16-bit)
    <jobs_dir>/segments/<key>.json     its sentences' times; written last: a segment is finished
                                       when its .json exists
    <jobs_dir>/<job id>/track.<ext>    the whole track, written once every segment is finished

Every file is written beside its final name and renamed into place, so a crash leaves the old state
or the new one, never half a file. A segment's key is a hash of everything that shapes its audio
(engine, voice and version, text, parameters, loudness target): the same line in another job, or in
the same chapter sent again with another line changed, is not synthesized again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

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
    replacing,
    segment_from_row,
)
from megatts3_server.jobs.script import Segment
from megatts3_server.tenancy import DEFAULT_TENANT, Caller

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    format TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS job_segments (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    voice_id TEXT NOT NULL,
    speaker TEXT NOT NULL,
    text TEXT NOT NULL,
    pause_ms INTEGER NOT NULL,
    parameters TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    segment_key TEXT,
    duration REAL,
    reused INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    PRIMARY KEY (job_id, idx)
);
"""
# Columns added after the first release (open() adds those an older database lacks): a store older
# than tenancy holds the default tenant's jobs.
_ADDED_COLUMNS = {"tenant": f"TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}'", "by_admin": "INTEGER NOT NULL DEFAULT 0"}


class JobStore(LocalResults):
    """The jobs of one server process (its jobs_dir is its own: runs on one replica only)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._segments = folder / "segments"
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._claimed: set[str] = set()

    def open(self) -> None:
        self._segments.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.folder / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(_SCHEMA)
        present = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
        for column, definition in _ADDED_COLUMNS.items():
            if column not in present:
                db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {definition}")
        self._db = db
        self._claimed.clear()
        self.drop_partial_files()

    def close(self) -> None:
        with self._lock:  # after any transaction in progress on another thread
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db
            if db is None:
                raise JobsUnavailableError("the job store is closed (the server is stopping)")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- jobs ------------------------------------------------------------------------------------

    def create(self, title: str, fmt: str, segments: list[Segment], caller: Caller) -> JobRecord:
        job_id = uuid.uuid4().hex
        with self._transaction() as db:
            db.execute(
                "INSERT INTO jobs (id, title, format, status, created_at, tenant, by_admin)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, title, fmt, QUEUED, time.time(), caller.tenant, int(caller.admin)),
            )
            db.executemany(
                "INSERT INTO job_segments (job_id, idx, voice_id, speaker, text, pause_ms, parameters)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (job_id, n, s.voice_id, s.speaker, s.text, s.pause_ms, s.parameters.to_json())
                    for n, s in enumerate(segments)
                ],
            )
        record = self.get(job_id)
        assert record is not None
        return record

    _SUMMARY = """
        SELECT jobs.*, COUNT(s.idx) AS segments_total,
               SUM(s.status = 'done') AS segments_done, SUM(s.status = 'failed') AS segments_failed,
               COALESCE(SUM(CASE WHEN s.status = 'done' THEN s.duration + CASE
                   WHEN s.idx = (SELECT MAX(idx) FROM job_segments WHERE job_id = jobs.id) THEN 0
                   ELSE s.pause_ms / 1000.0 END END), 0) AS audio
        FROM jobs LEFT JOIN job_segments AS s ON s.job_id = jobs.id
    """

    def get(self, job_id: str) -> JobRecord | None:
        with self._transaction() as db:
            row = db.execute(f"{self._SUMMARY} WHERE jobs.id = ? GROUP BY jobs.id", (job_id,)).fetchone()
        return record_from_row(row) if row else None

    def list(self) -> list[JobRecord]:
        with self._transaction() as db:
            rows = db.execute(f"{self._SUMMARY} GROUP BY jobs.id ORDER BY jobs.created_at").fetchall()
        return [record_from_row(row) for row in rows]

    def unfinished(self) -> list[str]:
        """Queued and running jobs, oldest first (what a restart resumes)."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE status IN (?, ?) ORDER BY created_at", (QUEUED, RUNNING)
            ).fetchall()
        return [row["id"] for row in rows]

    def claim(self, owner: str, lease_seconds: float) -> str | None:
        """The oldest unfinished job this process has not taken up since it opened the store (one
        process owns the folder, so ``owner`` and the lease play no part; a job is tried once per run)."""
        for job_id in self.unfinished():
            if job_id not in self._claimed:
                self._claimed.add(job_id)
                return job_id
        return None

    def renew(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        """Whether the job is still to be made (False once it is cancelled or deleted)."""
        with self._transaction() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row is not None and row["status"] not in FINISHED

    def release(self, job_id: str, owner: str) -> None:
        """Nothing to hand back: another process never shares this folder."""

    def set_status(self, job_id: str, status: str, error: str | None = None) -> bool:
        """Move a job on; a finished job stays as it ended (False)."""
        now = time.time()
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE jobs SET status = ?, error = COALESCE(?, error),"
                " started_at = CASE WHEN ? = 'running' THEN COALESCE(started_at, ?) ELSE started_at END,"
                " finished_at = CASE WHEN ? IN ('done', 'failed', 'cancelled') THEN ? ELSE finished_at END"
                " WHERE id = ? AND status NOT IN ('done', 'failed', 'cancelled')",
                (status, error, status, now, status, now, job_id),
            ).rowcount
        return bool(changed)

    def delete(self, job_id: str) -> bool:
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount
        self.remove_results(job_id)
        return bool(deleted)

    def expired(self, older_than: float) -> list[str]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE status IN ('done', 'failed', 'cancelled') AND finished_at < ?",
                (older_than,),
            ).fetchall()
        return [row["id"] for row in rows]

    def drop_unused_segments(self, older_than: float) -> int:
        """Delete the cached segments no stored job refers to, written before ``older_than`` (a segment
        just made for a running job is not recorded yet); returns how many."""
        with self._transaction() as db:
            used = {row[0] for row in db.execute("SELECT DISTINCT segment_key FROM job_segments")}
        dropped = 0
        for path in self._segments.glob("*.json"):
            if path.stem not in used and path.stat().st_mtime < older_than:
                path.unlink(missing_ok=True)
                path.with_suffix(".wav").unlink(missing_ok=True)
                dropped += 1
        return dropped

    # -- segments --------------------------------------------------------------------------------

    def segments(self, job_id: str) -> list[SegmentRow]:
        with self._transaction() as db:
            rows = db.execute("SELECT * FROM job_segments WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        return [segment_from_row(row) for row in rows]

    def finish_segment(
        self, job_id: str, index: int, *, key: str | None, duration: float | None, reused: bool, error: str | None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE job_segments SET status = ?, segment_key = ?, duration = ?, reused = ?, error = ?"
                " WHERE job_id = ? AND idx = ?",
                ("failed" if error else "done", key, duration, int(reused), error, job_id, index),
            )

    def has_segment(self, key: str) -> bool:
        return (self._segments / f"{key}.json").exists()

    def save_segment(self, key: str, samples: np.ndarray, sample_rate: int, sentences: list[SentenceTime]) -> float:
        """Store a finished segment's audio and sentence times; returns its duration."""
        wav = self._segments / f"{key}.wav"
        with replacing(wav) as partial, wave.open(str(partial), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(to_pcm16(samples).tobytes())
        duration = samples.size / sample_rate
        meta = {"duration": duration, "sample_rate": sample_rate, "sentences": [s.__dict__ for s in sentences]}
        with replacing(self._segments / f"{key}.json") as partial:
            partial.write_text(json.dumps(meta, ensure_ascii=False))
        return duration

    def segment_duration(self, key: str) -> float:
        return float(json.loads((self._segments / f"{key}.json").read_text())["duration"])

    def segment_sentences(self, key: str) -> list[SentenceTime]:
        meta = json.loads((self._segments / f"{key}.json").read_text())
        return [SentenceTime(**sentence) for sentence in meta["sentences"]]

    def segment_audio(self, key: str) -> np.ndarray:
        """A finished segment's samples (float32): one segment at a time is ever in memory."""
        with wave.open(str(self._segments / f"{key}.wav"), "rb") as source:
            return pcm16_samples(source.readframes(source.getnframes()))
