"""The stored lexicon entries in PostgreSQL: the ``lexicon`` table of the database every replica
shares (its schema: storage/schema_postgres.py, migrations 4 and 5)."""

from __future__ import annotations

from collections.abc import Mapping

from megatts3_server.lexicon_store.base import MigratedOnFirstUse
from megatts3_server.storage.faults import faults_mapped
from megatts3_server.storage.postgres import PostgresDatabase


@faults_mapped
class PostgresLexiconStore(MigratedOnFirstUse):
    """Lexicon entries in the database at ``url``; ``timeout``: seconds to wait for a connection."""

    def __init__(self, url: str, *, max_connections: int = 2, timeout: float = 10.0) -> None:
        self._database = PostgresDatabase(url, name="lexicon-store", max_connections=max_connections, timeout=timeout)
        super().__init__(self._database)

    def close(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        self._database.close()

    def lexicon(self, tenant: str) -> dict[str, str]:
        """``tenant``'s stored entries: word -> reading, by word."""
        self._migrated()
        with self._database.transaction() as db:
            rows = db.execute("SELECT word, reading FROM lexicon WHERE tenant = %s ORDER BY word", (tenant,)).fetchall()
        return {row["word"]: row["reading"] for row in rows}

    def put_lexicon(self, entries: Mapping[str, str], tenant: str) -> None:
        """Add or replace ``tenant``'s entries, all or none."""
        self._migrated()
        with self._database.transaction() as db, db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO lexicon (tenant, word, reading) VALUES (%s, %s, %s)"
                " ON CONFLICT (tenant, word) DO UPDATE SET reading = excluded.reading, updated_at = now()",
                [(tenant, word, reading) for word, reading in entries.items()],
            )

    def delete_lexicon(self, word: str, tenant: str) -> bool:
        """Remove one of ``tenant``'s entries; False when it has none for ``word``."""
        self._migrated()
        with self._database.transaction() as db:
            return db.execute("DELETE FROM lexicon WHERE tenant = %s AND word = %s", (tenant, word)).rowcount > 0
