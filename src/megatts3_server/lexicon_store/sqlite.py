"""The stored lexicon entries in SQLite: the ``lexicon`` table of the voices folder's database
(its schema: storage/schema_sqlite.py's CATALOGUE)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from megatts3_server.lexicon_store.base import MigratedOnFirstUse
from megatts3_server.storage.faults import faults_mapped
from megatts3_server.storage.schema_sqlite import CATALOGUE, CATALOGUE_FILE
from megatts3_server.storage.sqlite import SQLiteDatabase
from megatts3_server.voices.records import now_iso


@faults_mapped
class SQLiteLexiconStore(MigratedOnFirstUse):
    """Lexicon entries beside the voices of ``root`` (the voices folder)."""

    def __init__(self, root: Path) -> None:
        self._database = SQLiteDatabase(root / CATALOGUE_FILE, CATALOGUE)
        super().__init__(self._database)

    def close(self) -> None:
        """Nothing held: each use opens a connection of its own."""

    def lexicon(self, tenant: str) -> dict[str, str]:
        """``tenant``'s stored entries: word -> reading, by word."""
        self._migrated()
        with self._database.connect() as db:
            rows = db.execute("SELECT word, reading FROM lexicon WHERE tenant = ? ORDER BY word", (tenant,)).fetchall()
        return {row["word"]: row["reading"] for row in rows}

    def put_lexicon(self, entries: Mapping[str, str], tenant: str) -> None:
        """Add or replace ``tenant``'s entries, all or none."""
        self._migrated()
        now = now_iso()
        with self._database.transaction() as db:
            db.executemany(
                "INSERT INTO lexicon (tenant, word, reading, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (tenant, word)"
                " DO UPDATE SET reading = excluded.reading, updated_at = excluded.updated_at",
                [(tenant, word, reading, now) for word, reading in entries.items()],
            )

    def delete_lexicon(self, word: str, tenant: str) -> bool:
        """Remove one of ``tenant``'s entries; False when it has none for ``word``."""
        self._migrated()
        with self._database.transaction() as db:
            return db.execute("DELETE FROM lexicon WHERE tenant = ? AND word = ?", (tenant, word)).rowcount > 0
