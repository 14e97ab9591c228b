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

The database's schema and its migrations are storage/'s (schema_sqlite.py: JOBS); disk and database
faults are told as 507 / 503 (storage/faults.py), as every store's are.
"""

from __future__ import annotations

import json
import sqlite3
import threading
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
    LocalResults,
    SentenceTime,
    pcm16_samples,
    replacing,
)
from megatts3_server.jobs.rows import JobRows
from megatts3_server.storage.faults import faults_mapped
from megatts3_server.storage.schema_sqlite import JOBS, JOBS_FILE
from megatts3_server.storage.sqlite import SQLiteDatabase, connect, migrate_sqlite, write_transaction


@faults_mapped
class JobStore(LocalResults, JobRows):
    """The jobs of one server process (its jobs_dir is its own: runs on one replica only); their rows:
    rows.py."""

    _sql = staticmethod(SQLiteDatabase.sql)

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._segments = folder / "segments"
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._claimed: set[str] = set()

    def open(self) -> None:
        self._segments.mkdir(parents=True, exist_ok=True)
        db = connect(self.folder / JOBS_FILE, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        migrate_sqlite(db, JOBS, database=JOBS_FILE)
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
            with write_transaction(db):
                yield db

    # -- which runner makes a job, and what is left ---------------------------------------------

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

    # -- finished segments' audio --------------------------------------------------------------

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
