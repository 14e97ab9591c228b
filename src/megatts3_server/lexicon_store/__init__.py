"""The lexicon entries stored through /api/v1/lexicon (service/lexicon.py reads and changes them):
beside the voices in SQLite by default, in the shared PostgreSQL database when the voices are."""

from megatts3_server.config import StorageSettings
from megatts3_server.lexicon_store.base import LexiconStoreInterface
from megatts3_server.lexicon_store.postgres import PostgresLexiconStore
from megatts3_server.lexicon_store.sqlite import SQLiteLexiconStore


def build_lexicon_store(settings: StorageSettings) -> LexiconStoreInterface:
    """The configured store (its database migrated on first use)."""
    if settings.backend == "postgres":
        assert settings.database_url is not None  # the settings refuse postgres without a URL
        return PostgresLexiconStore(settings.database_url)
    return SQLiteLexiconStore(settings.voice_samples_dir)


__all__ = ["LexiconStoreInterface", "PostgresLexiconStore", "SQLiteLexiconStore", "build_lexicon_store"]
