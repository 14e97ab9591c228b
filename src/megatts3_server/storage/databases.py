"""The one database a process's stores share, chosen by ``storage.backend``: built once by whoever
builds the stores (service/wiring.py, service/worker.py, the CLI), migrated by the first store to
open, closed once by its builder when every store over it is done.

- postgres: one PostgresDatabase, one pool of at most postgres.POOL_SIZE connections for the voices,
  the jobs and the lexicon together;
- sqlite: the voices folder's ``voices.sqlite3`` (the voices and the lexicon); the jobs keep their
  own file and connection (jobs/store.py).
"""

from __future__ import annotations

from megatts3_server.config import StorageSettings
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.storage.schema_sqlite import CATALOGUE, CATALOGUE_FILE
from megatts3_server.storage.sqlite import SQLiteDatabase

StoreDatabase = SQLiteDatabase | PostgresDatabase


def build_database(settings: StorageSettings) -> StoreDatabase:
    """The configured database (nothing opened yet: connections are made on first use)."""
    if settings.backend == "postgres":
        assert settings.database_url is not None  # the settings refuse postgres without a URL
        return PostgresDatabase(settings.database_url)
    return SQLiteDatabase(settings.voice_samples_dir / CATALOGUE_FILE, CATALOGUE)
