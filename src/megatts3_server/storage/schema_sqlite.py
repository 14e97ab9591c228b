"""The SQLite databases' schemas as numbered migrations (migrations.py), applied by sqlite.py's
migrate_sqlite: CATALOGUE, the voices folder's ``voices.sqlite3`` (the voices and the lexicon), and
JOBS, the jobs folder's ``jobs.sqlite3`` (long-form jobs and their segments).

Before versions were kept (``PRAGMA user_version`` 0), a store added the columns it lacked at each
start: migration 1 of each database adopts any file such a release wrote, creating what is missing
and adding what an older one lacks, so every store is at version 1 after it, whatever it was.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from megatts3_server.storage.migrations import Migration
from megatts3_server.tenancy import DEFAULT_TENANT

log = logging.getLogger(__name__)

CATALOGUE_FILE = "voices.sqlite3"  # in the voices folder (storage.voice_samples_dir)
JOBS_FILE = "jobs.sqlite3"  # in the jobs folder (storage.jobs_dir)
_VOICES_AS_FIRST_RELEASED = """
CREATE TABLE IF NOT EXISTS voices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL,
    engine TEXT NOT NULL,
    created_at TEXT NOT NULL,
    duration REAL NOT NULL,
    sample_rate INTEGER NOT NULL,
    source_format TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    has_latent INTEGER NOT NULL,
    meta TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT ''
)
"""
# The columns unversioned releases added to ``voices``, in the order they did.
_VOICE_COLUMNS_ADDED = {
    "status": "TEXT NOT NULL DEFAULT 'ready'",
    "progress": "REAL NOT NULL DEFAULT 100",
    "similarity": "REAL",
    "error": "TEXT NOT NULL DEFAULT ''",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
    "lease_owner": "TEXT",
    "lease_expires": "REAL",  # Unix time
    "tenant": f"TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}'",  # a store older than tenancy: the default tenant's
}
_LEXICON = f"""
CREATE TABLE IF NOT EXISTS lexicon (
    tenant TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}',
    word TEXT NOT NULL,
    reading TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, word)
)
"""
_JOBS_AS_FIRST_RELEASED = (
    """
    CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        format TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        error TEXT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS job_segments (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        voice_id TEXT NOT NULL,
        speaker TEXT NOT NULL,
        text TEXT NOT NULL,
        pause_ms INTEGER NOT NULL,
        parameters TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        segment_key TEXT,
        duration REAL,
        reused INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        PRIMARY KEY (job_id, idx)
    )
    """,
)
_JOB_COLUMNS_ADDED = {"tenant": f"TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}'", "by_admin": "INTEGER NOT NULL DEFAULT 0"}


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def _add_missing_columns(db: sqlite3.Connection, table: str, added: dict[str, str]) -> None:
    present = _columns(db, table)
    for column, definition in added.items():
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _adopt_catalogue(db: sqlite3.Connection) -> None:
    _add_missing_columns(db, "voices", _VOICE_COLUMNS_ADDED)
    lexicon = _columns(db, "lexicon")
    if lexicon and "tenant" not in lexicon:  # keyed by word alone, before tenancy: the default tenant's entries
        db.execute("ALTER TABLE lexicon RENAME TO lexicon_before_tenants")
        db.execute(_LEXICON)
        db.execute(
            "INSERT INTO lexicon (tenant, word, reading, updated_at)"
            " SELECT ?, word, reading, updated_at FROM lexicon_before_tenants",
            (DEFAULT_TENANT,),
        )
        db.execute("DROP TABLE lexicon_before_tenants")
    db.execute(_LEXICON)


def _adopt_jobs(db: sqlite3.Connection) -> None:
    _add_missing_columns(db, "jobs", _JOB_COLUMNS_ADDED)


def _lower_case_voice_ids(db: sqlite3.Connection) -> None:
    """Voices stored before ids became case-insensitive may have mixed-case ids: lower-case each, its
    row and its folder (beside the database file) together, unless that would merge two voices (then
    both keep theirs). PostgreSQL has always stored them lower-cased.

    The folders are renamed inside the migration's transaction. A fault raised meanwhile renames them
    back, as the rollback restores the rows. A crash (or a failed commit) can leave rows unchanged and
    folders renamed: the version was not recorded, so the migration runs again at the next open, finds
    such a folder under its new name and updates the row alone."""
    folder = Path(next(row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main")).parent
    ids = {row[0] for row in db.execute("SELECT id FROM voices")}
    renamed: list[tuple[Path, Path]] = []
    try:
        for voice_id in sorted(ids):
            lower = voice_id.lower()  # the rule as this migration was released, whatever it becomes
            if lower == voice_id:
                continue
            old, new = folder / voice_id, folder / lower
            if lower in ids or (old.exists() and new.exists()):
                log.warning("voice %s keeps its mixed-case id: %s exists as well", voice_id, lower)
                continue
            db.execute("UPDATE voices SET id = ? WHERE id = ?", (lower, voice_id))
            if old.exists():
                old.rename(new)
                renamed.append((old, new))
            ids.add(lower)
            log.info("voice id %s is now %s (ids are case-insensitive)", voice_id, lower)
    except BaseException:
        for old, new in reversed(renamed):
            new.rename(old)
        raise


CATALOGUE: tuple[Migration, ...] = (
    Migration(1, "voices and the lexicon, by tenant", (_VOICES_AS_FIRST_RELEASED,), _adopt_catalogue),
    Migration(2, "mixed-case voice ids lower-cased, rows and folders", apply=_lower_case_voice_ids),
)
JOBS: tuple[Migration, ...] = (
    Migration(1, "long-form jobs and their segments, by tenant", _JOBS_AS_FIRST_RELEASED, _adopt_jobs),
)
