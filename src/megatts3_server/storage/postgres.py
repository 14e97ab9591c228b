"""PostgreSQL for the stores every replica shares: the connection pool, transactions and the
versioned migrations (migrations.py) recorded in ``schema_migrations``.

One database holds every store's tables (voices, lexicon, jobs), so it has one schema
(schema_postgres.py) and, in each process, one PostgresDatabase: one pool, migrated once, shared by the
three stores and closed by whoever built it (service/wiring.py, the worker, the CLI).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from megatts3_server.storage.migrations import Migration, warn_if_newer
from megatts3_server.storage.schema_postgres import MIGRATIONS

# pg_advisory_xact_lock key taken by migrate_postgres(): "megatts3" as a 64-bit number.
_MIGRATION_LOCK = int.from_bytes(b"megatts3", "big")
# The most connections one process opens (docs/deploy.md counts them per replica).
POOL_SIZE = 10
# How the pool's connections show in pg_stat_activity (the migration's own: "<name> migration").
APPLICATION_NAME = "megatts3-server"


def _connection_options(timeout: float, application_name: str) -> dict[str, Any]:
    return {"row_factory": dict_row, "connect_timeout": max(1, round(timeout)), "application_name": application_name}


def open_pool(url: str, *, timeout: float) -> ConnectionPool:
    """An open pool of up to POOL_SIZE connections with dict rows, named APPLICATION_NAME (psycopg's
    logs, pg_stat_activity); ``timeout``: seconds to wait for a connection (and to make one). A
    connection the server dropped (a restart, a failover) is replaced, not handed out."""
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=POOL_SIZE,
        timeout=timeout,
        kwargs=_connection_options(timeout, APPLICATION_NAME),
        check=ConnectionPool.check_connection,
        open=False,
        name=APPLICATION_NAME,
    )
    pool.open()
    return pool


def migrate_postgres(db: psycopg.Connection, migrations: Sequence[Migration], *, database: str) -> None:
    """Bring the database of ``db`` (in a transaction the caller commits) up to the newest of
    ``migrations``; safe from several replicas at once (they wait for each other on an advisory lock)."""
    db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    applied = {row["version"] for row in db.execute("SELECT version FROM schema_migrations")}
    for migration in migrations:
        if migration.version not in applied:
            migration.run(db, database)
            db.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                (migration.version, migration.description),
            )
    warn_if_newer(database, max(applied, default=0), migrations)


class PostgresDatabase:
    """The shared database as one process's stores use it: one pool (opened on first use, again after
    close()), transactions, and migrate() (once)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        """``url``: a libpq connection string or URL (postgresql://user:password@host:5432/db);
        ``timeout``: seconds to wait for a connection before StorageUnavailableError."""
        self.url = url
        self._timeout = timeout
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()
        self._migrated = False
        self._migrate_lock = threading.Lock()

    @staticmethod
    def sql(statement: str) -> str:
        """``statement``, written with SQLite's ``?`` placeholders, as psycopg takes it (``%s``)."""
        return statement.replace("?", "%s")

    def _opened_pool(self) -> ConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = open_pool(self.url, timeout=self._timeout)
            return self._pool

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """One connection of the pool, in one transaction: committed when the block ends, rolled back if it raises."""
        with self._opened_pool().connection() as connection:
            yield connection

    def reading(self) -> AbstractContextManager[psycopg.Connection[dict[str, Any]]]:
        """A connection for reads: a transaction of the pool, as for writes."""
        return self.transaction()

    def migrate(self) -> None:
        """Create the tables if needed and apply the migrations this database lacks; once: the stores
        sharing this object each call it as they open, and only the first call does anything.

        On a connection of its own, not the pool's: a database that cannot be reached at start-up
        is reported with libpq's reason (refused, authentication, no such database)."""
        with self._migrate_lock:
            if self._migrated:
                return
            options = _connection_options(self._timeout, f"{APPLICATION_NAME} migration")
            with psycopg.connect(self.url, **options) as db:
                migrate_postgres(db, MIGRATIONS, database="PostgreSQL database")
            self._migrated = True

    def close(self) -> None:
        """Close the pool (a later transaction opens a new one)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
