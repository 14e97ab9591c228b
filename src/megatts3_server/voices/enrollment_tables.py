"""Enrollment jobs and their leases, kept on each voice's row: one table of methods per backend,
mixed into its voice store (store.py, postgres_store.py), which provides the connections and the
voice's files (service/enrollment.py runs the jobs).

A voice carries its job's state (``status``: pending, enrolling, ready or failed; ``progress``; the
``similarity`` reached; ``error``; ``attempts``), so jobs survive restarts, and its lease
(``lease_owner``, ``lease_expires``): which worker runs it, until when. A job is claimable when
pending, or enrolling under a lease that has expired (or never had one).

The claim, renewal and end of a lease are the leased-work queue's (storage/leased_work.py: the
same statements as the long-form jobs'); EnrollmentLeases adds what is enrollment's own: a claim is
an attempt, and a job started ``max_attempts`` times is marked failed instead of claimed.

SQLite: one process runs a SQLite store's jobs, so a job found enrolling at its start-up was cut
short (requeue_interrupted), whatever its lease says. PostgreSQL: the jobs are shared by the
replicas; start-up requeues only the jobs whose lease has expired.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from megatts3_server.storage.faults import storage_faults
from megatts3_server.storage.leased_work import POSTGRES, SQLITE, LeasedTable, LeaseQueue
from megatts3_server.voices.folder_io import STAGING_PREFIX, TRASH_PREFIX, save_array
from megatts3_server.voices.records import (
    ARRAY_BLOBS,
    ARRAYS_DIR,
    COLUMNS,
    SELECT_VOICES,
    StoredVoice,
    array_file_name,
    attempts_spent_error,
    canonical_voice_id,
    check_job_fields,
    npy_bytes,
    validate_voice_id,
    voice_from_row,
)
from megatts3_server.voices.status import UNFINISHED, VoiceStatus

log = logging.getLogger(__name__)

_Connection = sqlite3.Connection | psycopg.Connection
# A voice's job waits for a worker while pending, and is held under a lease while enrolling.
_VOICE_JOBS = LeasedTable(
    "voices", waiting=(VoiceStatus.PENDING,), held=(VoiceStatus.ENROLLING,), columns=", ".join(COLUMNS)
)


def _claimed(voice: StoredVoice) -> StoredVoice:
    """``voice`` as claim_job leaves it: enrolling at 0 %, one attempt more."""
    return dataclasses.replace(voice, status=VoiceStatus.ENROLLING, progress=0.0, attempts=voice.attempts + 1, error="")


def _fail_spent(db: _Connection, voice: StoredVoice, mark: str) -> StoredVoice:
    """Mark ``voice`` failed, out of attempts, its lease cleared (``mark``: the dialect's placeholder)."""
    error = attempts_spent_error(voice.attempts)
    db.execute(
        f"UPDATE voices SET status = {mark}, error = {mark}, lease_owner = NULL, lease_expires = NULL"
        f" WHERE id = {mark}",
        (VoiceStatus.FAILED, error, voice.id),
    )
    log.warning("voice %s: %s; marked failed", voice.id, error)
    return dataclasses.replace(voice, status=VoiceStatus.FAILED, error=error)


def _requeue(db: _Connection, voices: Iterable[StoredVoice], max_attempts: int, mark: str) -> list[StoredVoice]:
    """requeue_interrupted's changes to ``voices``: failed when started ``max_attempts`` times, else
    pending again at 0 %, the lease cleared. Returns the voices changed."""
    changed = []
    for voice in voices:
        if voice.attempts >= max_attempts:
            changed.append(_fail_spent(db, voice, mark))
            continue
        db.execute(
            f"UPDATE voices SET status = {mark}, progress = 0, lease_owner = NULL, lease_expires = NULL"
            f" WHERE id = {mark}",
            (VoiceStatus.PENDING, voice.id),
        )
        changed.append(dataclasses.replace(voice, status=VoiceStatus.PENDING, progress=0.0))
    return changed


class EnrollmentLeases:
    """The lease methods of a voice store (EnrollmentQueueInterface), for either dialect: the
    leased-work queue's statements (``_queue``) in the store's transactions."""

    _queue: LeaseQueue

    def _transaction(self) -> AbstractContextManager[Any]: ...

    def _key(self, voice_id: str) -> str:
        """``voice_id`` as the store's rows spell it."""
        return voice_id

    def _holds(self, db: Any, voice_id: str, owner: str | None) -> bool:
        """Whether the voice is there (and, when ``owner`` is given, its job's lease is that
        owner's), locked for the transaction: complete_enrollment's check before it writes."""
        if owner is not None:
            return self._queue.holds(db, voice_id, owner)
        mark = self._queue.dialect.mark
        return (
            db.execute(f"SELECT 1 FROM voices WHERE id = {mark}{self._queue.dialect.lock}", [voice_id]).fetchone()
            is not None
        )

    def _may_claim(self, where: Mapping[str, Any]) -> bool:
        """Whether a claim may find a job (looked at before a claim takes the store's write lock)."""
        return True

    @storage_faults
    def claim_job(
        self, owner: str, *, engine: str, lease_seconds: float, max_attempts: int, voice_id: str | None = None
    ) -> StoredVoice | None:
        """See EnrollmentQueueInterface: the oldest claimable job of ``engine``'s voices, leased to
        ``owner``, enrolling at 0 %, one attempt more (spent ones met on the way are marked failed)."""
        where = {"engine": engine, **({"id": self._key(voice_id)} if voice_id is not None else {})}
        if not self._may_claim(where):
            return None
        with self._transaction() as db:
            while (row := self._queue.oldest_claimable(db, **where)) is not None:
                voice = voice_from_row(row)
                if voice.attempts >= max_attempts:
                    _fail_spent(db, voice, self._queue.dialect.mark)
                    continue
                changes = {"status": VoiceStatus.ENROLLING, "progress": 0, "attempts": voice.attempts + 1, "error": ""}
                self._queue.take(db, voice.id, owner, lease_seconds, **changes)
                return _claimed(voice)
        return None

    @storage_faults
    def renew_lease(self, voice_id: str, owner: str, lease_seconds: float, **changes: Any) -> bool:
        """See EnrollmentQueueInterface (``changes``: job fields written with the renewal)."""
        check_job_fields(changes)
        with self._transaction() as db:
            return self._queue.renew(db, self._key(voice_id), owner, lease_seconds, **changes)

    @storage_faults
    def end_lease(self, voice_id: str, owner: str, **changes: Any) -> bool:
        """See EnrollmentQueueInterface (``changes``: job fields written as the lease is cleared)."""
        check_job_fields(changes)
        with self._transaction() as db:
            return self._queue.end(db, self._key(voice_id), owner, **changes)


class SQLiteEnrollmentTable(EnrollmentLeases):
    """The enrollment job and lease methods of the SQLite voice store."""

    root: Path
    _queue = LeaseQueue(_VOICE_JOBS, SQLITE)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]: ...
    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...
    def folder(self, voice_id: str) -> Path: ...

    def _may_claim(self, where: Mapping[str, Any]) -> bool:
        # Looked for without a write lock first: an idle worker's poll never holds up an upload.
        with self._connect() as db:
            return self._queue.oldest_claimable(db, **where) is not None

    @storage_faults
    def unfinished(self) -> list[StoredVoice]:
        """Voices whose enrollment has not ended (pending, or enrolling when the process stopped)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM voices WHERE status IN (?, ?) ORDER BY created_at, id", UNFINISHED
            ).fetchall()
        return [voice_from_row(row) for row in rows]

    @storage_faults
    def update_job(self, voice_id: str, **changes: Any) -> bool:
        """Change a voice's job fields (status, progress, similarity, error, attempts); False if it is gone."""
        check_job_fields(changes)
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._connect() as db:
            cursor = db.execute(f"UPDATE voices SET {assignments} WHERE id = ?", [*changes.values(), voice_id])
        return cursor.rowcount > 0

    @storage_faults
    def requeue_interrupted(self, max_attempts: int) -> list[StoredVoice]:
        """Show the jobs no worker runs for what they are: enrolling ones pending again at 0 %, and
        unfinished ones started ``max_attempts`` times failed. Here every enrolling job is one (a
        SQLite store's jobs run in one process: this one, starting). Returns the voices changed."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT * FROM voices WHERE status = ? OR (status = ? AND attempts >= ?) ORDER BY created_at, id",
                (VoiceStatus.ENROLLING, VoiceStatus.PENDING, max_attempts),
            ).fetchall()
            return _requeue(db, map(voice_from_row, rows), max_attempts, "?")

    @storage_faults
    def complete_enrollment(
        self,
        voice_id: str,
        meta: Mapping[str, Any],
        summary: str,
        arrays: Mapping[str, np.ndarray],
        similarity: float | None,
        *,
        owner: str | None = None,
    ) -> bool:
        """Store what enrollment made (atomically: arrays and row together) and mark the voice ready.
        False when the voice was deleted meanwhile, or ``owner`` (when given) no longer holds its
        job's lease (nothing is written then)."""
        folder = self.folder(voice_id)
        staging = folder / f"{STAGING_PREFIX}{ARRAYS_DIR}"
        trash = self.root / f"{TRASH_PREFIX}{uuid.uuid4().hex}"
        shutil.rmtree(staging, ignore_errors=True)
        current = folder / ARRAYS_DIR
        swapped = False
        try:
            staging.mkdir()  # fails when a delete took the folder away
            for name, array in arrays.items():
                save_array(staging / f"{validate_voice_id(name)}.npy", array)
            try:
                with self._transaction() as db:
                    if not self._holds(db, voice_id, owner):
                        return False  # deleted (or taken over) meanwhile: nothing was written
                    db.execute(
                        "UPDATE voices SET meta = ?, summary = ?, similarity = ?, status = ?, progress = 100,"
                        " error = '', lease_owner = NULL, lease_expires = NULL WHERE id = ?",
                        (json.dumps(dict(meta)), summary, similarity, VoiceStatus.READY, voice_id),
                    )
                    if current.exists():
                        current.rename(trash)
                    swapped = True
                    staging.rename(current)
            except BaseException:
                if swapped:  # the row was rolled back: so are the files
                    if current.exists():
                        current.rename(staging)
                    if trash.exists():
                        trash.rename(current)
                raise
        except FileNotFoundError:
            return False
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(trash, ignore_errors=True)
        return True


class PostgresEnrollmentTable(EnrollmentLeases):
    """The enrollment job and lease methods of the PostgreSQL voice store."""

    _queue = LeaseQueue(_VOICE_JOBS, POSTGRES)

    def _key(self, voice_id: str) -> str:
        return canonical_voice_id(voice_id)

    def _transaction(self) -> AbstractContextManager[psycopg.Connection]: ...
    @staticmethod
    def _insert_blobs(db: psycopg.Connection, voice_id: str, blobs: list[tuple[str, bytes]]) -> None: ...

    @storage_faults
    def unfinished(self) -> list[StoredVoice]:
        """Voices whose enrollment has not ended (pending, or enrolling when the process stopped)."""
        with self._transaction() as db:
            rows = db.execute(
                f"{SELECT_VOICES} WHERE status IN (%s, %s) ORDER BY created_at, id", UNFINISHED
            ).fetchall()
        return [voice_from_row(row) for row in rows]

    @storage_faults
    def update_job(self, voice_id: str, **changes: Any) -> bool:
        """Change a voice's job fields (status, progress, similarity, error, attempts); False if it is gone."""
        check_job_fields(changes)
        assignments = ", ".join(f"{column} = %s" for column in changes)
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE voices SET {assignments} WHERE id = %s", [*changes.values(), canonical_voice_id(voice_id)]
            )
        return cursor.rowcount > 0

    @storage_faults
    def requeue_interrupted(self, max_attempts: int) -> list[StoredVoice]:
        """Show the jobs no worker runs for what they are: enrolling ones whose lease has expired
        pending again at 0 %, and unfinished ones started ``max_attempts`` times failed. A job another
        replica holds a live lease on is left alone. Returns the voices changed."""
        with self._transaction() as db:
            expired, expired_args = self._queue.expired()
            rows = db.execute(
                f"{SELECT_VOICES} WHERE {expired} OR (status = %s AND attempts >= %s)"
                " ORDER BY created_at, id FOR UPDATE SKIP LOCKED",
                (*expired_args, VoiceStatus.PENDING, max_attempts),
            ).fetchall()
            return _requeue(db, map(voice_from_row, rows), max_attempts, "%s")

    @storage_faults
    def complete_enrollment(
        self,
        voice_id: str,
        meta: Mapping[str, Any],
        summary: str,
        arrays: Mapping[str, np.ndarray],
        similarity: float | None,
        *,
        owner: str | None = None,
    ) -> bool:
        """Store what enrollment made (atomically: arrays and row together) and mark the voice ready.
        False when the voice was deleted meanwhile, or ``owner`` (when given) no longer holds its
        job's lease (nothing is written then)."""
        voice_id = canonical_voice_id(validate_voice_id(voice_id))
        blobs = [(array_file_name(name), npy_bytes(array)) for name, array in arrays.items()]
        with self._transaction() as db:
            if not self._holds(db, voice_id, owner):
                return False
            db.execute(
                "UPDATE voices SET meta = %s, summary = %s, similarity = %s, status = %s, progress = 100,"
                " error = '', lease_owner = NULL, lease_expires = NULL WHERE id = %s",
                (json.dumps(dict(meta)), summary, similarity, VoiceStatus.READY, voice_id),
            )
            db.execute("DELETE FROM voice_blobs WHERE voice_id = %s AND name LIKE %s", (voice_id, ARRAY_BLOBS))
            self._insert_blobs(db, voice_id, blobs)
        return True
