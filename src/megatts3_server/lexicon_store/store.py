"""The stored lexicon entries (word -> reading, by tenant): the ``lexicon`` table, written once for
both dialects (storage/database.py). SQLite: in the voices folder's database, beside the voices
(schema: storage/schema_sqlite.py's CATALOGUE); PostgreSQL: in the database the replicas share
(storage/schema_postgres.py, migrations 4 and 5). Faults are told as 507 / 503 (storage/faults.py)."""

from __future__ import annotations

from collections.abc import Mapping

from megatts3_server.storage.database import Database
from megatts3_server.storage.faults import faults_mapped
from megatts3_server.voices.records import now_iso


@faults_mapped
class LexiconStore:
    """The lexicon entries stored through /api/v1/lexicon: each tenant's its own (tenancy.py).

    Its database, shared with the voice store (storage/databases.py) and closed by its builder, is
    migrated the first time the store is used (once per database object): the table may be asked for
    before, or without, the voice store opening it."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def _ready(self) -> Database:
        self._database.migrate()
        return self._database

    def lexicon(self, tenant: str) -> dict[str, str]:
        """``tenant``'s stored entries: word -> reading (text/pronunciation.py), by word."""
        database = self._ready()
        with database.reading() as db:
            rows = db.execute(
                database.sql("SELECT word, reading FROM lexicon WHERE tenant = ? ORDER BY word"), (tenant,)
            ).fetchall()
        return {row["word"]: row["reading"] for row in rows}

    def put_lexicon(self, entries: Mapping[str, str], tenant: str) -> None:
        """Add or replace ``tenant``'s entries, all or none."""
        database, now = self._ready(), now_iso()
        with database.transaction() as db:
            db.cursor().executemany(
                database.sql(
                    "INSERT INTO lexicon (tenant, word, reading, updated_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (tenant, word) DO UPDATE SET reading = excluded.reading,"
                    " updated_at = excluded.updated_at"
                ),
                [(tenant, word, reading, now) for word, reading in entries.items()],
            )

    def delete_lexicon(self, word: str, tenant: str) -> bool:
        """Remove one of ``tenant``'s entries; False when it had none for ``word``."""
        database = self._ready()
        with database.transaction() as db:
            deleted = db.execute(database.sql("DELETE FROM lexicon WHERE tenant = ? AND word = ?"), (tenant, word))
            return deleted.rowcount > 0
