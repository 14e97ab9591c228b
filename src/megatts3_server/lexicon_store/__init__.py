"""The lexicon entries stored through /api/v1/lexicon (service/lexicon.py reads and changes them):
beside the voices in SQLite by default, in the shared PostgreSQL database when the voices are."""

from pathlib import Path

from megatts3_server.config import StorageSettings
from megatts3_server.lexicon_store.store import LexiconStore
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.storage.schema_sqlite import CATALOGUE, CATALOGUE_FILE
from megatts3_server.storage.sqlite import SQLiteDatabase


def sqlite_lexicon_store(voices_folder: Path) -> LexiconStore:
    """The entries in the database of the voices in ``voices_folder``."""
    return LexiconStore(SQLiteDatabase(voices_folder / CATALOGUE_FILE, CATALOGUE))


def postgres_lexicon_store(url: str, *, timeout: float = 10.0) -> LexiconStore:
    """The entries in the PostgreSQL database at ``url`` (a pool of two connections of its own)."""
    return LexiconStore(PostgresDatabase(url, name="lexicon-store", max_connections=2, timeout=timeout))


def build_lexicon_store(settings: StorageSettings) -> LexiconStore:
    """The configured store (its database migrated on first use)."""
    if settings.backend == "postgres":
        assert settings.database_url is not None  # the settings refuse postgres without a URL
        return postgres_lexicon_store(settings.database_url)
    return sqlite_lexicon_store(settings.voice_samples_dir)


__all__ = ["LexiconStore", "build_lexicon_store", "postgres_lexicon_store", "sqlite_lexicon_store"]
