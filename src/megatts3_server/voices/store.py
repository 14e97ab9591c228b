"""Persistent voice storage: metadata in SQLite, audio and arrays in one folder per voice.

Writes are atomic: a voice's files are written and fsynced in a staging folder, then the folder is
renamed into place inside the SQLite transaction that inserts the row. A crash at any point leaves
either the whole voice or nothing; open() removes whatever a crash left half-done.

Each voice also carries the state of its enrollment job (``status``: pending, enrolling, ready or
failed; ``progress``; the ``similarity`` reached; ``error``; ``attempts``), so jobs survive restarts,
and its lease (``lease_owner``, ``lease_expires`` as Unix time): which worker runs it, until when
(service/enrollment.py). One process runs a SQLite store's jobs, so a job found enrolling at its
start-up was cut short (requeue_interrupted), whatever its lease says.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from megatts3_server.errors import VoiceExistsError
from megatts3_server.tenancy import DEFAULT_TENANT
from megatts3_server.voices.lexicon_tables import SQLiteLexiconTable
from megatts3_server.voices.records import (
    ARRAYS_DIR,
    COLUMNS,
    LATENT_FILE,
    REFERENCE_FILE,
    NewVoiceFiles,
    StoredVoice,
    attempts_spent_error,
    canonical_voice_id,
    check_job_fields,
    npy_bytes,
    replaceable,
    validate_voice_id,
    voice_from_row,
    voice_row,
)
from megatts3_server.voices.status import UNFINISHED, VoiceStatus
from megatts3_server.voices.storage_errors import storage_faults

log = logging.getLogger(__name__)

DATABASE_FILE = "voices.sqlite3"
_STAGING_PREFIX = ".staging-"
_TRASH_PREFIX = ".trash-"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS voices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL,
    engine TEXT NOT NULL,
    created_at TEXT NOT NULL,
    duration REAL NOT NULL,
    sample_rate INTEGER NOT NULL,
    source_format TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    has_latent INTEGER NOT NULL,
    meta TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT ''
)
"""
# Columns added after the first release, with their definitions: open() adds those an older database lacks.
_ADDED_COLUMNS = {
    "status": f"TEXT NOT NULL DEFAULT '{VoiceStatus.READY}'",
    "progress": "REAL NOT NULL DEFAULT 100",
    "similarity": "REAL",
    "error": "TEXT NOT NULL DEFAULT ''",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
    "lease_owner": "TEXT",
    "lease_expires": "REAL",
    "tenant": f"TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}'",  # a store older than tenancy: the default tenant's
}
# A job a worker may claim: waiting, or enrolling under a lease that has expired (or never had one).
_CLAIMABLE = "(status = ? OR (status = ? AND (lease_expires IS NULL OR lease_expires < ?)))"


def _fsync_write(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _save_array(path: Path, array: np.ndarray) -> None:
    _fsync_write(path, npy_bytes(array))


class VoiceStore(SQLiteLexiconTable):
    """The voices users uploaded, surviving restarts (and the stored lexicon entries: lexicon_tables.py)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._db_path = root / DATABASE_FILE
        # Held open from migrate() to close(): with a connection always open, SQLite keeps its WAL
        # index, so reads still work when the disk is full (the last connection to close would
        # remove it, and the next reader could not build it again without free space).
        self._keeper: sqlite3.Connection | None = None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self._db_path, timeout=30, isolation_level=None)
        connection.row_factory = sqlite3.Row
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): committed when the block ends, rolled back if it raises."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @storage_faults
    def open(self) -> None:
        """Migrate, then recover: what the one process that writes the store does at start-up."""
        self.migrate()
        self.recover()

    @storage_faults
    def migrate(self) -> None:
        """Create the store if needed and bring its schema up to date (safe to run from a reader)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            present = {row["name"] for row in db.execute("PRAGMA table_info(voices)")}
            for column, definition in _ADDED_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE voices ADD COLUMN {column} {definition}")
        self.migrate_lexicon()
        self._lower_case_ids()
        if self._keeper is None:
            self._keeper = sqlite3.connect(self._db_path, check_same_thread=False)
            self._keeper.execute("SELECT 1 FROM voices LIMIT 1").fetchall()

    def _lower_case_ids(self) -> None:
        """Stores written before ids became case-insensitive may hold mixed-case ids: lower-case them
        (row and folder together), unless that would merge two voices (then both keep their ids)."""
        with self._connect() as db:
            ids = {row["id"] for row in db.execute("SELECT id FROM voices")}
        for voice_id in sorted(ids):
            lower = canonical_voice_id(voice_id)
            if lower == voice_id:
                continue
            if lower in ids:
                log.warning("voice %s keeps its mixed-case id: %s exists as well", voice_id, lower)
                continue
            moved = False
            try:
                with self._transaction() as db:
                    db.execute("UPDATE voices SET id = ? WHERE id = ?", (lower, voice_id))
                    if (self.root / voice_id).exists():
                        (self.root / voice_id).rename(self.root / lower)
                        moved = True
            except BaseException:
                if moved:
                    (self.root / lower).rename(self.root / voice_id)
                raise
            ids.add(lower)
            log.info("voice id %s is now %s (ids are case-insensitive)", voice_id, lower)

    def close(self) -> None:
        """Release the connection held since migrate()."""
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    @storage_faults
    def check(self) -> None:
        """Read the store once (the health probe); raises StorageUnavailableError when it cannot be read."""
        with self._connect() as db:
            db.execute("SELECT COUNT(*) FROM voices").fetchone()

    @storage_faults
    def recover(self) -> None:
        """Remove what an interrupted write or delete left behind. Only the writer may do this: a
        reader would delete the staging folder of a write still in progress."""
        with self._connect() as db:
            known = {row["id"] for row in db.execute("SELECT id FROM voices")}
            for row_id in sorted(known):
                if not (self.folder(row_id) / REFERENCE_FILE).exists():
                    log.warning("voice %s has no files on disk; removing its record", row_id)
                    db.execute("DELETE FROM voices WHERE id = ?", (row_id,))
                    known.discard(row_id)
        for entry in self.root.iterdir():
            if not entry.is_dir():
                continue
            if entry.name.startswith((_STAGING_PREFIX, _TRASH_PREFIX)) or entry.name not in known:
                log.warning("removing incomplete voice folder %s", entry)
                shutil.rmtree(entry, ignore_errors=True)

    def folder(self, voice_id: str) -> Path:
        return self.root / validate_voice_id(voice_id)

    @storage_faults
    def get(self, voice_id: str) -> StoredVoice | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM voices WHERE id = ?", (voice_id,)).fetchone()
        return voice_from_row(row) if row else None

    @storage_faults
    def list(self) -> list[StoredVoice]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM voices ORDER BY created_at, id").fetchall()
        return [voice_from_row(row) for row in rows]

    @storage_faults
    def find_by_content(self, content_sha256: str, engine: str, tenant: str) -> StoredVoice | None:
        """A voice of ``tenant`` prepared by ``engine`` from byte-identical reference audio, if any."""
        with self._connect() as db:
            row = db.execute(
                "SELECT * FROM voices WHERE content_sha256 = ? AND engine = ? AND tenant = ?"
                " ORDER BY created_at LIMIT 1",
                (content_sha256, engine, tenant),
            ).fetchone()
        return voice_from_row(row) if row else None

    @storage_faults
    def save_atomic(self, voice: StoredVoice, files: NewVoiceFiles, *, replace_failed: bool = False) -> StoredVoice:
        """Store a new voice with its files; VoiceExistsError if the id is taken. All or nothing.

        ``replace_failed``: a voice of that id and tenant whose enrollment failed is replaced (in the
        same transaction: if this write fails, the failed voice is still there as it was)."""
        final = self.folder(voice.id)
        staging = self.root / f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
        trash = self.root / f"{_TRASH_PREFIX}{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        replaced = False
        try:
            _fsync_write(staging / REFERENCE_FILE, files.reference_wav)
            if files.latent is not None:
                _save_array(staging / LATENT_FILE, files.latent)
            if files.arrays:
                (staging / ARRAYS_DIR).mkdir()
                for name, array in files.arrays.items():
                    _save_array(staging / ARRAYS_DIR / f"{validate_voice_id(name)}.npy", array)
            try:
                with self._transaction() as db:
                    row = db.execute("SELECT status, tenant FROM voices WHERE id = ?", (voice.id,)).fetchone()
                    if row is not None and replace_failed and replaceable(row, voice):
                        db.execute("DELETE FROM voices WHERE id = ?", (voice.id,))
                        if final.exists():
                            final.rename(trash)
                            replaced = True
                    elif row is not None or final.exists():
                        raise VoiceExistsError(f"a voice with id {voice.id!r} already exists")
                    db.execute(
                        f"INSERT INTO voices ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})",
                        voice_row(voice),
                    )
                    staging.rename(final)
            except BaseException:
                if replaced:  # the transaction was rolled back: so is the replacement
                    if final.exists():
                        final.rename(staging)
                    trash.rename(final)
                raise
        finally:
            for leftover in (staging, trash):
                if leftover.exists():
                    shutil.rmtree(leftover, ignore_errors=True)
        return voice

    @storage_faults
    def delete(self, voice_id: str, tenant: str | None = None) -> bool:
        """Remove a voice (``tenant``'s only, when given) and its files; False when there was no such
        voice. All or nothing: when the transaction fails (a full disk), the files are put back."""
        folder = self.folder(voice_id)
        trash = self.root / f"{_TRASH_PREFIX}{uuid.uuid4().hex}"
        moved = False
        try:
            with self._transaction() as db:
                cursor = db.execute(
                    "DELETE FROM voices WHERE id = ? AND (? IS NULL OR tenant = ?)", (voice_id, tenant, tenant)
                )
                deleted = cursor.rowcount > 0
                if deleted and folder.exists():
                    folder.rename(trash)
                    moved = True
        except BaseException:
            if moved:
                trash.rename(folder)
            raise
        shutil.rmtree(trash, ignore_errors=True)
        return deleted

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
    def claim_job(
        self, owner: str, *, engine: str, lease_seconds: float, max_attempts: int, voice_id: str | None = None
    ) -> StoredVoice | None:
        """Claim the oldest job of ``engine``'s voices a worker may take (pending, or enrolling under an
        expired lease; only ``voice_id``'s when given) for ``owner``, for ``lease_seconds``: enrolling
        at 0 %, one attempt more. A job met on the way that was started ``max_attempts`` times is
        marked failed. None when there is nothing to claim."""
        only = " AND id = ?" if voice_id is not None else ""
        query = f"SELECT * FROM voices WHERE {_CLAIMABLE} AND engine = ?{only} ORDER BY created_at, id LIMIT 1"

        def claimable(db: sqlite3.Connection, now: float) -> sqlite3.Row | None:
            values = [VoiceStatus.PENDING, VoiceStatus.ENROLLING, now, engine, *([voice_id] if only else [])]
            return db.execute(query, values).fetchone()

        while True:
            # Looked for without a write lock first: an idle worker's poll never holds up an upload.
            with self._connect() as db:
                if claimable(db, time.time()) is None:
                    return None
            with self._transaction() as db:
                now = time.time()
                row = claimable(db, now)
                if row is None:
                    return None
                voice = voice_from_row(row)
                if voice.attempts >= max_attempts:
                    self._fail_spent(db, voice)
                    continue
                db.execute(
                    "UPDATE voices SET status = ?, progress = 0, attempts = ?, error = '', lease_owner = ?,"
                    " lease_expires = ? WHERE id = ?",
                    (VoiceStatus.ENROLLING, voice.attempts + 1, owner, now + lease_seconds, voice.id),
                )
                return dataclasses.replace(
                    voice, status=VoiceStatus.ENROLLING, progress=0.0, attempts=voice.attempts + 1, error=""
                )

    @staticmethod
    def _fail_spent(db: sqlite3.Connection, voice: StoredVoice) -> StoredVoice:
        error = attempts_spent_error(voice.attempts)
        db.execute(
            "UPDATE voices SET status = ?, error = ?, lease_owner = NULL, lease_expires = NULL WHERE id = ?",
            (VoiceStatus.FAILED, error, voice.id),
        )
        log.warning("voice %s: %s; marked failed", voice.id, error)
        return dataclasses.replace(voice, status=VoiceStatus.FAILED, error=error)

    @storage_faults
    def renew_lease(self, voice_id: str, owner: str, lease_seconds: float, **changes: Any) -> bool:
        """While ``owner`` holds the voice's lease: change job fields and extend the lease to
        ``lease_seconds`` from now. False when it no longer holds it (released, taken over, deleted)."""
        check_job_fields(changes)
        assignments = "".join(f"{column} = ?, " for column in changes)
        with self._connect() as db:
            cursor = db.execute(
                f"UPDATE voices SET {assignments}lease_expires = ? WHERE id = ? AND lease_owner = ? AND status = ?",
                [*changes.values(), time.time() + lease_seconds, voice_id, owner, VoiceStatus.ENROLLING],
            )
        return cursor.rowcount > 0

    @storage_faults
    def end_lease(self, voice_id: str, owner: str, **changes: Any) -> bool:
        """While ``owner`` holds the voice's lease: change job fields and clear the lease (the job is
        released or ended). False when it no longer holds it (nothing is changed then)."""
        check_job_fields(changes)
        assignments = "".join(f"{column} = ?, " for column in changes)
        with self._connect() as db:
            cursor = db.execute(
                f"UPDATE voices SET {assignments}lease_owner = NULL, lease_expires = NULL"
                " WHERE id = ? AND lease_owner = ?",
                [*changes.values(), voice_id, owner],
            )
        return cursor.rowcount > 0

    @storage_faults
    def requeue_interrupted(self, max_attempts: int) -> list[StoredVoice]:
        """Show the jobs no worker runs for what they are: enrolling ones pending again at 0 %, and
        unfinished ones started ``max_attempts`` times failed. Here every enrolling job is one (a
        SQLite store's jobs run in one process: this one, starting). Returns the voices changed."""
        changed = []
        with self._transaction() as db:
            rows = db.execute(
                "SELECT * FROM voices WHERE status = ? OR (status = ? AND attempts >= ?) ORDER BY created_at, id",
                (VoiceStatus.ENROLLING, VoiceStatus.PENDING, max_attempts),
            ).fetchall()
            for voice in map(voice_from_row, rows):
                if voice.attempts >= max_attempts:
                    changed.append(self._fail_spent(db, voice))
                    continue
                db.execute(
                    "UPDATE voices SET status = ?, progress = 0, lease_owner = NULL, lease_expires = NULL WHERE id = ?",
                    (VoiceStatus.PENDING, voice.id),
                )
                changed.append(dataclasses.replace(voice, status=VoiceStatus.PENDING, progress=0.0))
        return changed

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
        held = " AND lease_owner = ? AND status = ?" if owner is not None else ""
        staging = folder / f"{_STAGING_PREFIX}{ARRAYS_DIR}"
        trash = self.root / f"{_TRASH_PREFIX}{uuid.uuid4().hex}"
        shutil.rmtree(staging, ignore_errors=True)
        current = folder / ARRAYS_DIR
        swapped = False
        try:
            staging.mkdir()  # fails when a delete took the folder away
            for name, array in arrays.items():
                _save_array(staging / f"{validate_voice_id(name)}.npy", array)
            try:
                with self._transaction() as db:
                    condition = [voice_id, *((owner, VoiceStatus.ENROLLING) if held else ())]
                    if not db.execute(f"SELECT 1 FROM voices WHERE id = ?{held}", condition).fetchone():
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

    @storage_faults
    def load_reference(self, voice_id: str) -> tuple[bytes, np.ndarray | None]:
        """A stored voice's canonical reference WAV and its latent (None when it has none)."""
        folder = self.folder(voice_id)
        latent = folder / LATENT_FILE
        return (folder / REFERENCE_FILE).read_bytes(), np.load(latent, allow_pickle=False) if latent.exists() else None

    @storage_faults
    def load_arrays(self, voice_id: str) -> dict[str, np.ndarray]:
        """The engine arrays stored with a voice (empty when it has none)."""
        folder = self.folder(voice_id) / ARRAYS_DIR
        if not folder.is_dir():
            return {}
        return {path.stem: np.load(path, allow_pickle=False) for path in sorted(folder.glob("*.npy"))}
