"""SQLite for the stores that keep their rows in a file of this machine: connections, write
transactions and the versioned migrations (migrations.py) recorded in ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from megatts3_server.storage.migrations import Migration, warn_if_newer


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are begun explicitly: write_transaction) whose rows
    are read by column name; it waits up to 30 s for another writer."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=check_same_thread)
    connection.row_factory = sqlite3.Row
    return connection


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE) on ``db``: committed when the block ends, rolled back if it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        # SQLite has rolled back itself after some faults (SQLITE_FULL among them): a second ROLLBACK
        # would fail and hide the fault the caller must be told of.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def migrate_sqlite(db: sqlite3.Connection, migrations: Sequence[Migration], *, database: str) -> None:
    """Bring ``db`` (a connection of connect()) up to the newest of ``migrations``."""
    current = db.execute("PRAGMA user_version").fetchone()[0]
    if any(migration.version > current for migration in migrations):
        with write_transaction(db):
            current = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated meanwhile
            for migration in migrations:
                if migration.version > current:
                    migration.run(db, database)
                    # Inside the transaction: the version is recorded with the change, or neither is.
                    db.execute(f"PRAGMA user_version = {int(migration.version)}")
    warn_if_newer(database, current, migrations)


class SQLiteDatabase:
    """One SQLite file and its schema: a connection per use, write transactions, migrate() (once);
    the interface a store of either dialect is written against (database.py). The stores that share
    a file (the voices and the lexicon) share one of these (service/wiring.py)."""

    def __init__(self, path: Path, migrations: Sequence[Migration]) -> None:
        self.path = path
        self._migrations = migrations
        self._migrated = False
        self._migrate_lock = threading.Lock()

    @staticmethod
    def sql(statement: str) -> str:
        """``statement`` (``?`` placeholders) as this dialect writes it: unchanged."""
        return statement

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for the block (closed when it ends)."""
        connection = connect(self.path)
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection for the block, in one write transaction (BEGIN IMMEDIATE)."""
        with self.connect() as db, write_transaction(db):
            yield db

    def migrate(self) -> None:
        """Make the file (WAL journal) if needed and apply the migrations it lacks (safe from a reader);
        once: a later call, by another store sharing this object, does nothing."""
        with self._migrate_lock:
            if self._migrated:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                migrate_sqlite(db, self._migrations, database=self.path.name)
            self._migrated = True

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """A connection for reads: no write lock taken (a reader never holds up a writer)."""
        return self.connect()

    def close(self) -> None:
        """Nothing held: each use opens a connection of its own."""
