"""The lexicon entries stored through /api/v1/lexicon, kept beside the voices (word -> reading, by
tenant): one table in each backend, mixed into its voice store (store.py, postgres_store.py), which
provides the connections.

Each tenant's entries are its own (tenancy.py); entries stored before tenancy belong to the default
tenant. The PostgreSQL table's history is the voice store's migrations (4 made it, 5 keyed it by
tenant); the SQLite one is rebuilt keyed by tenant when an older store lacks the column
(``migrate_lexicon``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import AbstractContextManager

import psycopg

from megatts3_server.tenancy import DEFAULT_TENANT
from megatts3_server.voices.records import now_iso
from megatts3_server.voices.storage_errors import storage_faults

_SQLITE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS lexicon (
    tenant TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}',
    word TEXT NOT NULL,
    reading TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, word)
)
"""


class SQLiteLexiconTable:
    """The lexicon methods of the SQLite voice store."""

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]: ...
    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def migrate_lexicon(self) -> None:
        """Make the table; rebuild one of a store older than tenancy keyed by tenant, its entries the
        default tenant's (inside one write transaction, so two processes starting together rebuild once)."""
        with self._connect() as db:
            db.execute(_SQLITE_SCHEMA)
            if "tenant" in _columns(db):
                return
        with self._transaction() as db:
            if "tenant" in _columns(db):
                return
            db.execute("ALTER TABLE lexicon RENAME TO lexicon_before_tenants")
            db.execute(_SQLITE_SCHEMA)
            db.execute(
                "INSERT INTO lexicon (tenant, word, reading, updated_at)"
                " SELECT ?, word, reading, updated_at FROM lexicon_before_tenants",
                (DEFAULT_TENANT,),
            )
            db.execute("DROP TABLE lexicon_before_tenants")

    @storage_faults
    def lexicon(self, tenant: str) -> dict[str, str]:
        """``tenant``'s stored entries: word -> reading, by word."""
        with self._connect() as db:
            rows = db.execute("SELECT word, reading FROM lexicon WHERE tenant = ? ORDER BY word", (tenant,)).fetchall()
        return {row[0]: row[1] for row in rows}

    @storage_faults
    def put_lexicon(self, entries: Mapping[str, str], tenant: str) -> None:
        """Add or replace ``tenant``'s entries, all or none."""
        now = now_iso()
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO lexicon (tenant, word, reading, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (tenant, word)"
                " DO UPDATE SET reading = excluded.reading, updated_at = excluded.updated_at",
                [(tenant, word, reading, now) for word, reading in entries.items()],
            )

    @storage_faults
    def delete_lexicon(self, word: str, tenant: str) -> bool:
        """Remove one of ``tenant``'s entries; False when it has none for ``word``."""
        with self._transaction() as db:
            return db.execute("DELETE FROM lexicon WHERE tenant = ? AND word = ?", (tenant, word)).rowcount > 0


def _columns(db: sqlite3.Connection) -> set[str]:
    return {row[1] for row in db.execute("PRAGMA table_info(lexicon)")}


class PostgresLexiconTable:
    """The lexicon methods of the PostgreSQL voice store."""

    def _transaction(self) -> AbstractContextManager[psycopg.Connection]: ...

    @storage_faults
    def lexicon(self, tenant: str) -> dict[str, str]:
        """``tenant``'s stored entries: word -> reading, by word."""
        with self._transaction() as db:
            rows = db.execute("SELECT word, reading FROM lexicon WHERE tenant = %s ORDER BY word", (tenant,)).fetchall()
        return {row["word"]: row["reading"] for row in rows}

    @storage_faults
    def put_lexicon(self, entries: Mapping[str, str], tenant: str) -> None:
        """Add or replace ``tenant``'s entries, all or none."""
        with self._transaction() as db, db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO lexicon (tenant, word, reading) VALUES (%s, %s, %s)"
                " ON CONFLICT (tenant, word) DO UPDATE SET reading = excluded.reading, updated_at = now()",
                [(tenant, word, reading) for word, reading in entries.items()],
            )

    @storage_faults
    def delete_lexicon(self, word: str, tenant: str) -> bool:
        """Remove one of ``tenant``'s entries; False when it has none for ``word``."""
        with self._transaction() as db:
            return db.execute("DELETE FROM lexicon WHERE tenant = %s AND word = %s", (tenant, word)).rowcount > 0
