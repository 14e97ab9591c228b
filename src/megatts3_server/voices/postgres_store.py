"""The voice store on PostgreSQL: metadata and files in one database, shared by every replica. Its
migrations are the whole database's (the long-form jobs' tables too: jobs/postgres_store.py).

A voice's row (``voices``) and its files (``voice_blobs``: the reference WAV, the latent and the
engine arrays, by the names records.py gives them) are written in one transaction, so an upload or
an enrollment is stored whole or not at all, and nothing is ever left half-done for recover() to
clean. Ids are stored lower-cased (canonical_voice_id) and found whatever their case.

The schema is versioned: ``_MIGRATIONS`` lists every change, numbered; migrate() applies those the
database has not seen (recorded in ``schema_migrations``) under an advisory lock, so replicas that
start at the same time migrate once, one after the other. A migration is never edited once
released: a change of schema is a new, higher version.

Enrollment jobs are shared by the replicas through a lease on the voice's row: the methods that
claim, renew and end them are enrollment_tables.py's (PostgresEnrollmentTable).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from megatts3_server.errors import VoiceExistsError, VoiceNotFoundError
from megatts3_server.tenancy import DEFAULT_TENANT
from megatts3_server.voices.enrollment_tables import PostgresEnrollmentTable
from megatts3_server.voices.lexicon_tables import PostgresLexiconTable
from megatts3_server.voices.records import (
    ARRAY_BLOBS,
    ARRAYS_DIR,
    COLUMNS,
    LATENT_FILE,
    REFERENCE_FILE,
    SELECT_VOICES,
    NewVoiceFiles,
    StoredVoice,
    array_file_name,
    canonical_voice_id,
    npy_array,
    npy_bytes,
    replaceable,
    validate_voice_id,
    voice_from_row,
    voice_row,
)
from megatts3_server.voices.storage_errors import storage_faults

log = logging.getLogger(__name__)

# (version, what it does, its statements). Append only: a released migration is never changed.
_MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "voices and their files",
        (
            # COLLATE "C": ids and timestamps order byte by byte, as in the SQLite store.
            """
            CREATE TABLE voices (
                id TEXT COLLATE "C" PRIMARY KEY,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                type TEXT NOT NULL,
                engine TEXT NOT NULL,
                created_at TEXT COLLATE "C" NOT NULL,
                duration DOUBLE PRECISION NOT NULL,
                sample_rate INTEGER NOT NULL,
                source_format TEXT NOT NULL,
                content_sha256 TEXT NOT NULL,
                has_latent BOOLEAN NOT NULL,
                meta JSONB NOT NULL,
                summary TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL DEFAULT 'ready',
                progress DOUBLE PRECISION NOT NULL DEFAULT 100,
                similarity DOUBLE PRECISION,
                error TEXT NOT NULL DEFAULT '',
                attempts INTEGER NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX voices_by_content ON voices (content_sha256, engine, created_at)",
            "CREATE INDEX voices_by_status ON voices (status)",
            """
            CREATE TABLE voice_blobs (
                voice_id TEXT COLLATE "C" NOT NULL REFERENCES voices (id) ON DELETE CASCADE,
                name TEXT COLLATE "C" NOT NULL,
                data BYTEA NOT NULL,
                PRIMARY KEY (voice_id, name)
            )
            """,
        ),
    ),
    (
        2,
        "enrollment job leases",
        ("ALTER TABLE voices ADD COLUMN lease_owner TEXT, ADD COLUMN lease_expires TIMESTAMPTZ",),
    ),
    (
        3,
        "long-form jobs, their segments and the segments' audio (jobs/postgres_store.py)",
        (
            """
            CREATE TABLE jobs (
                id TEXT COLLATE "C" PRIMARY KEY,
                title TEXT NOT NULL,
                format TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                error TEXT,
                lease_owner TEXT,
                lease_expires TIMESTAMPTZ
            )
            """,
            "CREATE INDEX jobs_by_status ON jobs (status, created_at)",
            """
            CREATE TABLE job_segments (
                job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                idx INTEGER NOT NULL,
                voice_id TEXT NOT NULL,
                speaker TEXT NOT NULL,
                text TEXT NOT NULL,
                pause_ms INTEGER NOT NULL,
                parameters JSONB NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                segment_key TEXT COLLATE "C",
                duration DOUBLE PRECISION,
                reused BOOLEAN NOT NULL DEFAULT false,
                error TEXT,
                PRIMARY KEY (job_id, idx)
            )
            """,
            "CREATE INDEX job_segments_by_key ON job_segments (segment_key)",
            """
            CREATE TABLE job_segment_audio (
                key TEXT COLLATE "C" PRIMARY KEY,
                sample_rate INTEGER NOT NULL,
                duration DOUBLE PRECISION NOT NULL,
                sentences JSONB NOT NULL,
                pcm16 BYTEA NOT NULL,
                created_at DOUBLE PRECISION NOT NULL
            )
            """,
        ),
    ),
    (
        4,
        "the global lexicon: word -> reading",
        (
            """
            CREATE TABLE lexicon (
                word TEXT COLLATE "C" PRIMARY KEY,
                reading TEXT NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
        ),
    ),
    (
        5,
        "tenants: each voice, job and lexicon entry has its owner (what was stored before: the default tenant)",
        (
            f"ALTER TABLE voices ADD COLUMN tenant TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}'",
            f"ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}',"
            " ADD COLUMN by_admin BOOLEAN NOT NULL DEFAULT false",
            f"ALTER TABLE lexicon ADD COLUMN tenant TEXT COLLATE \"C\" NOT NULL DEFAULT '{DEFAULT_TENANT}'",
            "ALTER TABLE lexicon DROP CONSTRAINT lexicon_pkey, ADD PRIMARY KEY (tenant, word)",
        ),
    ),
)
SCHEMA_VERSIONS = [version for version, _, _ in _MIGRATIONS]
# pg_advisory_xact_lock key taken by migrate(): "megatts3" as a 64-bit number.
_MIGRATION_LOCK = int.from_bytes(b"megatts3", "big")


def open_pool(url: str, *, name: str, max_size: int, timeout: float) -> ConnectionPool:
    """An open pool of connections with dict rows; ``timeout``: seconds to wait for a connection (and
    to make one). A connection the server dropped (a restart, a failover) is replaced, not handed out."""
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        kwargs={"row_factory": dict_row, "connect_timeout": max(1, round(timeout))},
        check=ConnectionPool.check_connection,
        open=False,
        name=name,
    )
    pool.open()
    return pool


class PostgresVoiceStore(PostgresEnrollmentTable, PostgresLexiconTable):
    """The voices users uploaded, in PostgreSQL; the same interface and errors as VoiceStore (their
    enrollment jobs: enrollment_tables.py; the stored lexicon entries: lexicon_tables.py)."""

    def __init__(self, url: str, *, max_connections: int = 10, timeout: float = 10.0) -> None:
        """``url``: a libpq connection string or URL (postgresql://user:password@host:5432/db).
        ``timeout``: seconds to wait for a connection before StorageUnavailableError."""
        self.url = url
        self._max_connections = max_connections
        self._timeout = timeout
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()

    def _connection_options(self) -> dict[str, Any]:
        return {"row_factory": dict_row, "connect_timeout": max(1, round(self._timeout))}

    def _opened_pool(self) -> ConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = open_pool(
                    self.url, name="voice-store", max_size=self._max_connections, timeout=self._timeout
                )
            return self._pool

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """One connection of the pool, in one transaction: committed when the block ends, rolled back if it raises."""
        with self._opened_pool().connection() as connection:
            yield connection

    @storage_faults
    def open(self) -> None:
        """Migrate, then recover: what the process that writes the store does at start-up."""
        self.migrate()
        self.recover()

    @storage_faults
    def migrate(self) -> None:
        """Create the tables if needed and apply the migrations this database lacks (safe from
        several replicas at once: they wait for each other on an advisory lock).

        On a connection of its own, not the pool's: a database that cannot be reached at start-up
        is reported with libpq's reason (refused, authentication, no such database)."""
        with psycopg.connect(self.url, **self._connection_options()) as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {row["version"] for row in db.execute("SELECT version FROM schema_migrations")}
            for version, description, statements in _MIGRATIONS:
                if version in applied:
                    continue
                for statement in statements:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)", (version, description)
                )
                log.info("voice database: applied migration %d (%s)", version, description)
            newest = max(version for version, _, _ in _MIGRATIONS)
            if applied and max(applied) > newest:
                log.warning(
                    "voice database schema is at version %d, newer than this release knows (%d)", max(applied), newest
                )

    def recover(self) -> None:
        """Nothing to do: every write is one transaction, which a crash rolls back whole."""

    def close(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    @storage_faults
    def check(self) -> None:
        """Read the store once (the health probe); raises StorageUnavailableError when it cannot be read."""
        with self._transaction() as db:
            db.execute("SELECT COUNT(*) FROM voices").fetchone()

    @storage_faults
    def get(self, voice_id: str) -> StoredVoice | None:
        with self._transaction() as db:
            row = db.execute(f"{SELECT_VOICES} WHERE id = %s", (canonical_voice_id(voice_id),)).fetchone()
        return voice_from_row(row) if row else None

    @storage_faults
    def list(self) -> list[StoredVoice]:
        with self._transaction() as db:
            rows = db.execute(f"{SELECT_VOICES} ORDER BY created_at, id").fetchall()
        return [voice_from_row(row) for row in rows]

    @storage_faults
    def find_by_content(self, content_sha256: str, engine: str, tenant: str) -> StoredVoice | None:
        """A voice of ``tenant`` prepared by ``engine`` from byte-identical reference audio, if any."""
        with self._transaction() as db:
            row = db.execute(
                f"{SELECT_VOICES} WHERE content_sha256 = %s AND engine = %s AND tenant = %s"
                " ORDER BY created_at LIMIT 1",
                (content_sha256, engine, tenant),
            ).fetchone()
        return voice_from_row(row) if row else None

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
