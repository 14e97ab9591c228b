"""The voice store on PostgreSQL: metadata and files in one database, shared by every replica.

A voice's row (``voices``) and its files (``voice_blobs``: the reference WAV, the latent and the
engine arrays, by the names records.py gives them) are written in one transaction, so an upload or
an enrollment is stored whole or not at all, and nothing is ever left half-done for recover() to
clean. Ids are stored lower-cased (canonical_voice_id) and found whatever their case.

The pool, the transactions and the versioned migrations of the whole database are storage/'s
(postgres.py, schema_postgres.py): one PostgresDatabase per process, shared with the other stores.

Enrollment jobs are shared by the replicas through a lease on the voice's row: the methods that
claim, renew and end them are enrollment_tables.py's (PostgresEnrollmentTable).
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import psycopg

from megatts3_server.errors import VoiceExistsError, VoiceNotFoundError
from megatts3_server.storage.faults import storage_faults
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.voices.catalogue import VoiceCatalogue
from megatts3_server.voices.enrollment_tables import PostgresEnrollmentTable
from megatts3_server.voices.records import (
    ARRAY_BLOBS,
    ARRAYS_DIR,
    COLUMNS,
    LATENT_FILE,
    REFERENCE_FILE,
    NewVoiceFiles,
    StoredVoice,
    array_file_name,
    canonical_voice_id,
    npy_array,
    npy_bytes,
    replaceable,
    validate_voice_id,
    voice_row,
)


class PostgresVoiceStore(VoiceCatalogue, PostgresEnrollmentTable):
    """The voices users uploaded, in PostgreSQL; the same interface and errors as VoiceStore (start-up
    and reads: catalogue.py; their enrollment jobs: enrollment_tables.py)."""

    def __init__(self, database: PostgresDatabase) -> None:
        """``database``: the process's one PostgresDatabase (storage/databases.py), shared with the
        other stores; its builder closes it."""
        self.url = database.url
        self._database = database

    def _stored_id(self, voice_id: str) -> str:
        return canonical_voice_id(voice_id)

    def _transaction(self) -> AbstractContextManager[psycopg.Connection]:
        """One connection of the pool, in one transaction: committed when the block ends, rolled back if it raises."""
        return self._database.transaction()

    @storage_faults
    def migrate(self) -> None:
        """Create the tables if needed and apply the migrations this database lacks (the whole
        database's: storage/schema_postgres.py; safe from several replicas at once)."""
        self._database.migrate()

    def recover(self) -> None:
        """Nothing to do: every write is one transaction, which a crash rolls back whole."""

    def close(self) -> None:
        """Nothing of its own to release: the pool is the database's, closed by its builder."""

    @storage_faults
    def save_atomic(self, voice: StoredVoice, files: NewVoiceFiles, *, replace_failed: bool = False) -> StoredVoice:
        """Store a new voice with its files; VoiceExistsError if the id is taken. All or nothing.

        ``replace_failed``: a voice of that id and tenant whose enrollment failed is replaced (in the
        same transaction: if this write fails, the failed voice is still there as it was)."""
        voice_id = canonical_voice_id(validate_voice_id(voice.id))
        if voice_id != voice.id:
            voice = dataclasses.replace(voice, id=voice_id)
        blobs = [(REFERENCE_FILE, files.reference_wav)]
        if files.latent is not None:
            blobs.append((LATENT_FILE, npy_bytes(files.latent)))
        blobs += [(array_file_name(name), npy_bytes(array)) for name, array in files.arrays.items()]
        with self._transaction() as db:
            row = db.execute("SELECT status, tenant FROM voices WHERE id = %s FOR UPDATE", (voice_id,)).fetchone()
            if row is not None and replace_failed and replaceable(row, voice):
                db.execute("DELETE FROM voices WHERE id = %s", (voice_id,))  # its blobs go with it
            elif row is not None:
                raise VoiceExistsError(f"a voice with id {voice_id!r} already exists")
            # ON CONFLICT: a replica storing the same id at the same moment; this one waits for its
            # commit, then finds the id taken.
            inserted = db.execute(
                f"INSERT INTO voices ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
                " ON CONFLICT (id) DO NOTHING",
                voice_row(voice),
            )
            if inserted.rowcount == 0:
                raise VoiceExistsError(f"a voice with id {voice_id!r} already exists")
            self._insert_blobs(db, voice_id, blobs)
        return voice

    @staticmethod
    def _insert_blobs(db: psycopg.Connection, voice_id: str, blobs: list[tuple[str, bytes]]) -> None:
        with db.cursor() as cursor:
            # %b: the bytes travel in binary, not as twice as long hex text.
            cursor.executemany(
                "INSERT INTO voice_blobs (voice_id, name, data) VALUES (%s, %s, %b)",
                [(voice_id, name, data) for name, data in blobs],
            )

    @storage_faults
    def delete(self, voice_id: str, tenant: str | None = None) -> bool:
        """Remove a voice (``tenant``'s only, when given) and its files; False when there was no such voice."""
        voice_id = canonical_voice_id(validate_voice_id(voice_id))
        with self._transaction() as db:
            condition = "id = %s AND (%s::text IS NULL OR tenant = %s)"
            return db.execute(f"DELETE FROM voices WHERE {condition}", (voice_id, tenant, tenant)).rowcount > 0

    def _blobs(self, voice_id: str, condition: str, values: tuple[Any, ...]) -> dict[str, bytes]:
        with self._transaction() as db, db.cursor(binary=True) as cursor:
            cursor.execute(
                f"SELECT name, data FROM voice_blobs WHERE voice_id = %s AND {condition} ORDER BY name",
                (canonical_voice_id(validate_voice_id(voice_id)), *values),
            )
            return {row["name"]: row["data"] for row in cursor.fetchall()}

    @storage_faults
    def load_reference(self, voice_id: str) -> tuple[bytes, np.ndarray | None]:
        """A stored voice's canonical reference WAV and its latent (None when it has none)."""
        blobs = self._blobs(voice_id, "name IN (%s, %s)", (REFERENCE_FILE, LATENT_FILE))
        if REFERENCE_FILE not in blobs:
            raise VoiceNotFoundError(f"no voice with id {voice_id!r}")
        latent = blobs.get(LATENT_FILE)
        return blobs[REFERENCE_FILE], npy_array(latent) if latent is not None else None

    @storage_faults
    def load_arrays(self, voice_id: str) -> dict[str, np.ndarray]:
        """The engine arrays stored with a voice (empty when it has none)."""
        blobs = self._blobs(voice_id, "name LIKE %s", (ARRAY_BLOBS,))
        return {
            name.removeprefix(f"{ARRAYS_DIR}/").removesuffix(".npy"): npy_array(data) for name, data in blobs.items()
        }
