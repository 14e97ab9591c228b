"""Persistent voice storage: metadata in SQLite, audio and arrays in one folder per voice.

Writes are atomic: a voice's files are written and fsynced in a staging folder, then the folder is
renamed into place inside the SQLite transaction that inserts the row. A crash at any point leaves
either the whole voice or nothing; open() removes whatever a crash left half-done.

Each voice also carries the state of its enrollment job (``status``: pending, enrolling, ready or
failed; ``progress``; the ``similarity`` reached; ``error``; ``attempts``), so jobs survive restarts.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from megatts3_server.errors import InvalidVoiceIdError, VoiceExistsError
from megatts3_server.voices.status import UNFINISHED, VoiceStatus

log = logging.getLogger(__name__)

VOICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
REFERENCE_FILE = "reference.wav"
LATENT_FILE = "latent.npy"
_ARRAYS_DIR = "arrays"
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
}
_COLUMNS = (
    "id",
    "name",
    "description",
    "type",
    "engine",
    "created_at",
    "duration",
    "sample_rate",
    "source_format",
    "content_sha256",
    "has_latent",
    "meta",
    "summary",
    *_ADDED_COLUMNS,
)
_JOB_FIELDS = frozenset({"status", "progress", "similarity", "error", "attempts"})


def validate_voice_id(voice_id: str) -> str:
    """Return the id if it is safe as a folder name and URL segment, else raise InvalidVoiceIdError."""
    if not VOICE_ID_PATTERN.fullmatch(voice_id):
        raise InvalidVoiceIdError(
            f"voice_id {voice_id!r} is not valid: use 1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return voice_id


@dataclass(frozen=True)
class StoredVoice:
    """One stored voice's metadata (its files live in ``VoiceStore.folder(id)``)."""

    id: str
    name: str
    description: str
    type: str
    engine: str
    created_at: str
    duration: float
    sample_rate: int
    source_format: str
    content_sha256: str
    has_latent: bool
    meta: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    status: str = VoiceStatus.READY
    """A VoiceStatus: pending (waiting for the enrollment worker), enrolling, ready or failed."""
    progress: float = 100.0
    similarity: float | None = None
    error: str = ""
    attempts: int = 0
    """Enrollment runs started: one more than finished means the process stopped during one."""


@dataclass(frozen=True)
class NewVoiceFiles:
    """What save_atomic writes next to the metadata."""

    reference_wav: bytes
    latent: np.ndarray | None = None
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)


def _fsync_write(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _save_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


class VoiceStore:
    """The voices users uploaded, surviving restarts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._db_path = root / "voices.sqlite3"

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

    def open(self) -> None:
        """Migrate, then recover: what the one process that writes the store does at start-up."""
        self.migrate()
        self.recover()

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

    def get(self, voice_id: str) -> StoredVoice | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM voices WHERE id = ?", (voice_id,)).fetchone()
        return self._from_row(row) if row else None

    def list(self) -> list[StoredVoice]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM voices ORDER BY created_at, id").fetchall()
        return [self._from_row(row) for row in rows]

    def find_by_content(self, content_sha256: str, engine: str) -> StoredVoice | None:
        """A voice prepared by ``engine`` from byte-identical reference audio, if any."""
        with self._connect() as db:
            row = db.execute(
                "SELECT * FROM voices WHERE content_sha256 = ? AND engine = ? ORDER BY created_at LIMIT 1",
                (content_sha256, engine),
            ).fetchone()
        return self._from_row(row) if row else None

    @staticmethod
    def _from_row(row: sqlite3.Row) -> StoredVoice:
        values = dict(row)
        values["meta"] = json.loads(values["meta"])
        values["has_latent"] = bool(values["has_latent"])
        return StoredVoice(**values)

    def save_atomic(self, voice: StoredVoice, files: NewVoiceFiles) -> StoredVoice:
        """Store a new voice with its files; VoiceExistsError if the id is taken. All or nothing."""
        final = self.folder(voice.id)
        staging = self.root / f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            _fsync_write(staging / REFERENCE_FILE, files.reference_wav)
            if files.latent is not None:
                _save_array(staging / LATENT_FILE, files.latent)
            if files.arrays:
                (staging / _ARRAYS_DIR).mkdir()
                for name, array in files.arrays.items():
                    _save_array(staging / _ARRAYS_DIR / f"{validate_voice_id(name)}.npy", array)
            with self._transaction() as db:
                if db.execute("SELECT 1 FROM voices WHERE id = ?", (voice.id,)).fetchone() or final.exists():
                    raise VoiceExistsError(f"a voice with id {voice.id!r} already exists")
                values = {**asdict(voice), "has_latent": int(voice.has_latent), "meta": json.dumps(voice.meta)}
                db.execute(
                    f"INSERT INTO voices ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                    [values[column] for column in _COLUMNS],
                )
                staging.rename(final)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return voice

    def delete(self, voice_id: str) -> bool:
        """Remove a voice and its files; False when there was no such voice."""
        folder = self.folder(voice_id)
        trash = self.root / f"{_TRASH_PREFIX}{uuid.uuid4().hex}"
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM voices WHERE id = ?", (voice_id,)).rowcount > 0
            if deleted and folder.exists():
                folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return deleted

    def unfinished(self) -> list[StoredVoice]:
        """Voices whose enrollment has not ended (pending, or enrolling when the process stopped)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM voices WHERE status IN (?, ?) ORDER BY created_at, id", UNFINISHED
            ).fetchall()
        return [self._from_row(row) for row in rows]

    def update_job(self, voice_id: str, **changes: Any) -> bool:
        """Change a voice's job fields (status, progress, similarity, error, attempts); False if it is gone."""
        unknown = set(changes) - _JOB_FIELDS
        if unknown:
            raise ValueError(f"not job fields: {sorted(unknown)}")
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._connect() as db:
            cursor = db.execute(f"UPDATE voices SET {assignments} WHERE id = ?", [*changes.values(), voice_id])
        return cursor.rowcount > 0

    def complete_enrollment(
        self,
        voice_id: str,
        meta: Mapping[str, Any],
        summary: str,
        arrays: Mapping[str, np.ndarray],
        similarity: float | None,
    ) -> bool:
        """Store what enrollment made (atomically: arrays and row together) and mark the voice ready.
        False when the voice was deleted meanwhile (nothing is written then)."""
        folder = self.folder(voice_id)
        staging = folder / f"{_STAGING_PREFIX}{_ARRAYS_DIR}"
        trash = self.root / f"{_TRASH_PREFIX}{uuid.uuid4().hex}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            staging.mkdir()  # fails when a delete took the folder away
            for name, array in arrays.items():
                _save_array(staging / f"{validate_voice_id(name)}.npy", array)
            with self._transaction() as db:
                if not db.execute("SELECT 1 FROM voices WHERE id = ?", (voice_id,)).fetchone():
                    return False  # deleted meanwhile: nothing was written
                db.execute(
                    "UPDATE voices SET meta = ?, summary = ?, similarity = ?, status = ?, progress = 100,"
                    " error = '' WHERE id = ?",
                    (json.dumps(dict(meta)), summary, similarity, VoiceStatus.READY, voice_id),
                )
                if (folder / _ARRAYS_DIR).exists():
                    (folder / _ARRAYS_DIR).rename(trash)
                staging.rename(folder / _ARRAYS_DIR)
        except FileNotFoundError:
            return False
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(trash, ignore_errors=True)
        return True

    def load_reference(self, voice_id: str) -> tuple[bytes, np.ndarray | None]:
        """A stored voice's canonical reference WAV and its latent (None when it has none)."""
        folder = self.folder(voice_id)
        latent = folder / LATENT_FILE
        return (folder / REFERENCE_FILE).read_bytes(), np.load(latent, allow_pickle=False) if latent.exists() else None

    def load_arrays(self, voice_id: str) -> dict[str, np.ndarray]:
        """The engine arrays stored with a voice (empty when it has none)."""
        folder = self.folder(voice_id) / _ARRAYS_DIR
        if not folder.is_dir():
            return {}
        return {path.stem: np.load(path, allow_pickle=False) for path in sorted(folder.glob("*.npy"))}


def now_iso() -> str:
    """Timestamps stored with voices: UTC, ISO 8601, second precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
