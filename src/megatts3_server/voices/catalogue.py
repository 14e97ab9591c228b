"""The part of a voice store both dialects do alike, written once over storage/'s Database: start-up
(migrate, then recover) and the catalogue's reads. The stores (store.py: SQLite + files;
postgres_store.py) add what differs: where the files are kept, and how a write is made whole."""

from __future__ import annotations

from megatts3_server.storage.database import Database
from megatts3_server.storage.faults import storage_faults
from megatts3_server.voices.records import SELECT_VOICES, StoredVoice, voice_from_row


class VoiceCatalogue:
    """Start-up and the reads of a voice store over ``_database``."""

    _database: Database

    def _stored_id(self, voice_id: str) -> str:
        """``voice_id`` as the store keeps it (PostgreSQL: lower-cased; SQLite: as given, since a store
        may keep a mixed-case id that lower-casing would have merged with another)."""
        return voice_id

    def migrate(self) -> None:
        """Create the store if needed and bring its schema up to date (safe from a reader)."""

    def recover(self) -> None:
        """Remove what an interrupted write or delete left behind (the writer only)."""

    @storage_faults
    def open(self) -> None:
        """Migrate, then recover: what the process that writes the store does at start-up."""
        self.migrate()
        self.recover()

    @storage_faults
    def check(self) -> None:
        """Read the store once (the health probe); raises StorageUnavailableError when it cannot be read."""
        with self._database.reading() as db:
            db.execute("SELECT COUNT(*) FROM voices").fetchone()

    @storage_faults
    def get(self, voice_id: str) -> StoredVoice | None:
        with self._database.reading() as db:
            row = db.execute(self._database.sql(f"{SELECT_VOICES} WHERE id = ?"), (self._stored_id(voice_id),))
            found = row.fetchone()
        return voice_from_row(found) if found else None

    @storage_faults
    def list(self) -> list[StoredVoice]:
        with self._database.reading() as db:
            rows = db.execute(f"{SELECT_VOICES} ORDER BY created_at, id").fetchall()
        return [voice_from_row(row) for row in rows]

    @storage_faults
    def find_by_content(self, content_sha256: str, engine: str, tenant: str) -> StoredVoice | None:
        """A voice of ``tenant`` prepared by ``engine`` from byte-identical reference audio, if any."""
        with self._database.reading() as db:
            row = db.execute(
                self._database.sql(
                    f"{SELECT_VOICES} WHERE content_sha256 = ? AND engine = ? AND tenant = ?"
                    " ORDER BY created_at LIMIT 1"
                ),
                (content_sha256, engine, tenant),
            ).fetchone()
        return voice_from_row(row) if row else None
