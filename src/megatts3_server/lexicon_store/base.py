"""What the lexicon service needs of a store of lexicon entries (word -> reading, by tenant), whatever
keeps it: SQLite beside the voices (sqlite.py) or the PostgreSQL database the replicas share
(postgres.py). Both raise StorageFullError / StorageUnavailableError for faults of what lies beneath
(storage/faults.py)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Protocol


class LexiconStoreInterface(Protocol):
    """The lexicon entries stored through /api/v1/lexicon: each tenant's its own (tenancy.py)."""

    def lexicon(self, tenant: str) -> dict[str, str]:
        """``tenant``'s stored entries: word -> reading (text/pronunciation.py), by word."""

    def put_lexicon(self, entries: Mapping[str, str], tenant: str) -> None:
        """Add or replace ``tenant``'s entries, all or none."""

    def delete_lexicon(self, word: str, tenant: str) -> bool:
        """Remove one of ``tenant``'s entries; False when it had none for ``word``."""

    def close(self) -> None:
        """Release the connections held (a later call opens them again)."""


class _Migratable(Protocol):
    def migrate(self) -> None: ...


class MigratedOnFirstUse:
    """A store whose database is migrated the first time the store is used (the table may be asked
    for before, or without, the voice store that shares its database opens it)."""

    def __init__(self, database: _Migratable) -> None:
        self._unmigrated: _Migratable | None = database
        self._migrate_lock = threading.Lock()

    def _migrated(self) -> None:
        if self._unmigrated is None:
            return
        with self._migrate_lock:
            if self._unmigrated is not None:
                self._unmigrated.migrate()
                self._unmigrated = None
