"""The lexicon entries stored through /api/v1/lexicon (service/lexicon.py reads and changes them):
beside the voices, in the database the process shares with them (storage/databases.py: SQLite's
``voices.sqlite3`` by default, the replicas' PostgreSQL database when the voices are there)."""

from megatts3_server.lexicon_store.store import LexiconStore

__all__ = ["LexiconStore"]
