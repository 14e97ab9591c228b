"""One versioned migration system for every table of every database, SQLite and PostgreSQL alike.

A database's schema is a list of numbered ``Migration``s (schema_sqlite.py, schema_postgres.py),
append only: a released migration is never edited, a change of schema is a new, higher version.
Each dialect's module applies, in order and each in the same transaction as its record, those the
database has not seen:

- SQLite (sqlite.py, ``migrate_sqlite``) records the version reached in ``PRAGMA user_version`` (0: a
  new file, or one written before versions were kept, which migration 1 adopts as it finds it),
  inside a write transaction (BEGIN IMMEDIATE), so two processes opening the file migrate it once.
- PostgreSQL (postgres.py, ``migrate_postgres``) records each version applied in
  ``schema_migrations``, under an advisory lock, so replicas that start together migrate once, one
  after the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One numbered change of a schema: its statements, then ``apply`` (a change SQL alone cannot
    say, such as adopting what an unversioned database holds), in one transaction."""

    version: int
    description: str
    statements: tuple[str, ...] = ()
    apply: Callable[[Any], None] | None = None

    def run(self, db: Any, database: str) -> None:
        """Apply this migration on ``db`` (a connection of either dialect, inside a transaction)."""
        for statement in self.statements:
            db.execute(statement)
        if self.apply is not None:
            self.apply(db)
        log.info("%s: applied migration %d (%s)", database, self.version, self.description)


def warn_if_newer(database: str, found: int, migrations: Sequence[Migration]) -> None:
    """Log when the database was migrated by a newer release than this one (it is used as it is)."""
    newest = max(migration.version for migration in migrations)
    if found > newest:
        log.warning("%s schema is at version %d, newer than this release knows (%d)", database, found, newest)
