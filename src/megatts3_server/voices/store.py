"""Persistent voice storage: metadata in SQLite, audio and arrays in one folder per voice.

Writes are atomic: a voice's files are written and fsynced in a staging folder, then the folder is
renamed into place inside the SQLite transaction that inserts the row. A crash at any point leaves
either the whole voice or nothing; open() removes whatever a crash left half-done.

Each voice also carries the state of its enrollment job and its lease: the methods that claim,
renew and end them are enrollment_tables.py's (SQLiteEnrollmentTable); folder_io.py writes the files.
The database (``voices.sqlite3``, the lexicon's too: lexicon_store/) and its schema are storage/'s.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import uuid
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np

from megatts3_server.errors import VoiceExistsError
from megatts3_server.storage.faults import storage_faults
from megatts3_server.storage.schema_sqlite import CATALOGUE, CATALOGUE_FILE
from megatts3_server.storage.sqlite import SQLiteDatabase
from megatts3_server.voices.catalogue import VoiceCatalogue
from megatts3_server.voices.enrollment_tables import SQLiteEnrollmentTable
from megatts3_server.voices.folder_io import STAGING_PREFIX, TRASH_PREFIX, fsync_write, save_array
from megatts3_server.voices.records import (
    ARRAYS_DIR,
    COLUMNS,
    LATENT_FILE,
    REFERENCE_FILE,
    NewVoiceFiles,
    StoredVoice,
    replaceable,
    validate_voice_id,
    voice_row,
)

log = logging.getLogger(__name__)


class VoiceStore(VoiceCatalogue, SQLiteEnrollmentTable):
    """The voices users uploaded, surviving restarts (start-up and reads: catalogue.py; their enrollment
    jobs: enrollment_tables.py)."""

    def __init__(self, root: Path, database: SQLiteDatabase | None = None) -> None:
        """``database``: ``root``'s ``voices.sqlite3`` as the process shares it with the lexicon store
        (storage/databases.py); by default an object of the store's own."""
        self.root = root
        self._database = database or SQLiteDatabase(root / CATALOGUE_FILE, CATALOGUE)
        # Held open from migrate() to close(): with a connection always open, SQLite keeps its WAL
        # index, so reads still work when the disk is full (the last connection to close would
        # remove it, and the next reader could not build it again without free space).
        self._keeper: sqlite3.Connection | None = None

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.connect()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): committed when the block ends, rolled back if it raises."""
        return self._database.transaction()

    @storage_faults
    def migrate(self) -> None:
        """Create the store if needed and bring its schema up to date (safe to run from a reader)."""
        self._database.migrate()
        if self._keeper is None:
            self._keeper = sqlite3.connect(self._database.path, check_same_thread=False)
            self._keeper.execute("SELECT 1 FROM voices LIMIT 1").fetchall()

    def close(self) -> None:
        """Release the connection held since migrate()."""
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

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
            if entry.name.startswith((STAGING_PREFIX, TRASH_PREFIX)) or entry.name not in known:
                log.warning("removing incomplete voice folder %s", entry)
                shutil.rmtree(entry, ignore_errors=True)

    def folder(self, voice_id: str) -> Path:
        return self.root / validate_voice_id(voice_id)

    @storage_faults
    def save_atomic(self, voice: StoredVoice, files: NewVoiceFiles, *, replace_failed: bool = False) -> StoredVoice:
        """Store a new voice with its files; VoiceExistsError if the id is taken. All or nothing.

        ``replace_failed``: a voice of that id and tenant whose enrollment failed is replaced (in the
        same transaction: if this write fails, the failed voice is still there as it was)."""
        final = self.folder(voice.id)
        staging = self.root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        trash = self.root / f"{TRASH_PREFIX}{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        replaced = False
        try:
            fsync_write(staging / REFERENCE_FILE, files.reference_wav)
            if files.latent is not None:
                save_array(staging / LATENT_FILE, files.latent)
            if files.arrays:
                (staging / ARRAYS_DIR).mkdir()
                for name, array in files.arrays.items():
                    save_array(staging / ARRAYS_DIR / f"{validate_voice_id(name)}.npy", array)
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
        trash = self.root / f"{TRASH_PREFIX}{uuid.uuid4().hex}"
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
