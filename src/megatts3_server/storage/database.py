"""What a store written once for both dialects uses of its database: SQLiteDatabase (sqlite.py) and
PostgresDatabase (postgres.py) both are one. Statements are written with SQLite's ``?`` placeholders
and passed through ``sql()``; rows are read by column name in both."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol


class Database(Protocol):
    def sql(self, statement: str) -> str:
        """``statement`` (``?`` placeholders, no literal ``?`` or ``%``) as this dialect writes it."""

    def reading(self) -> AbstractContextManager[Any]:
        """A connection for reads."""

    def transaction(self) -> AbstractContextManager[Any]:
        """A connection in one write transaction: committed when the block ends, rolled back if it raises."""

    def migrate(self) -> None:
        """Create the tables if needed and apply the migrations the database lacks (once per object:
        every store sharing it calls this as it opens)."""

    def close(self) -> None:
        """Release the connections held (a later use opens them again): the business of whoever built
        the object (service/wiring.py), once every store over it is done, never of a store."""
