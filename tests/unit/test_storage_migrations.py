"""storage/: one versioned migration system for every SQLite database, which adopts the files the
releases before versions wrote (their columns added at each start) without losing a row, and the
fault mapping every store shares (a job store on a full disk is a 507, as a voice store is)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from megatts3_server.errors import StorageFullError
from megatts3_server.jobs.script import Segment
from megatts3_server.jobs.store import JobStore
from megatts3_server.storage.migrations import Migration
from megatts3_server.storage.schema_sqlite import CATALOGUE, CATALOGUE_FILE, JOBS, JOBS_FILE
from megatts3_server.storage.sqlite import connect, migrate_sqlite
from megatts3_server.tenancy import DEFAULT_TENANT, Caller
from megatts3_server.voices import VoiceStore, now_iso
from tests.support.voices import sqlite_lexicon

# The voices table as the first release made it, and the columns later unversioned releases added
# at start-up, in their order (the last of them, main before versions, wrote all of this).
_FIRST_VOICES = """CREATE TABLE IF NOT EXISTS voices (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', type TEXT NOT NULL,
    engine TEXT NOT NULL, created_at TEXT NOT NULL, duration REAL NOT NULL, sample_rate INTEGER NOT NULL,
    source_format TEXT NOT NULL, content_sha256 TEXT NOT NULL, has_latent INTEGER NOT NULL, meta TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '')"""
_UNVERSIONED_VOICE_COLUMNS = (
    "status TEXT NOT NULL DEFAULT 'ready'",
    "progress REAL NOT NULL DEFAULT 100",
    "similarity REAL",
    "error TEXT NOT NULL DEFAULT ''",
    "attempts INTEGER NOT NULL DEFAULT 0",
    "lease_owner TEXT",
    "lease_expires REAL",
    "tenant TEXT NOT NULL DEFAULT 'default'",
)
_UNVERSIONED_LEXICON = """CREATE TABLE IF NOT EXISTS lexicon (
    tenant TEXT NOT NULL DEFAULT 'default', word TEXT NOT NULL, reading TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, word))"""
_FIRST_JOBS = (
    """CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, title TEXT NOT NULL, format TEXT NOT NULL,
    status TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL, finished_at REAL, error TEXT)""",
    """CREATE TABLE IF NOT EXISTS job_segments (job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, voice_id TEXT NOT NULL, speaker TEXT NOT NULL, text TEXT NOT NULL, pause_ms INTEGER NOT NULL,
    parameters TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', segment_key TEXT, duration REAL,
    reused INTEGER NOT NULL DEFAULT 0, error TEXT, PRIMARY KEY (job_id, idx))""",
)
_UNVERSIONED_JOB_COLUMNS = ("tenant TEXT NOT NULL DEFAULT 'default'", "by_admin INTEGER NOT NULL DEFAULT 0")


def _write(path: Path, *statements: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()


def _columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
    db.close()
    return columns


def _version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    return int(version)


def _a_voice(voice_id: str) -> str:
    return (
        "INSERT INTO voices (id, name, type, engine, created_at, duration, sample_rate, source_format,"
        f" content_sha256, has_latent, meta) VALUES ('{voice_id}', 'Old', 'uploaded', 'test', '{now_iso()}', 2,"
        f" 24000, 'wav', '{'0' * 64}', 0, '{{}}')"
    )


def _fresh_columns(tmp_path: Path) -> tuple[list[str], list[str], list[str]]:
    VoiceStore(tmp_path / "fresh").open()
    JobStore(tmp_path / "fresh-jobs").open()
    catalogue, jobs = tmp_path / "fresh" / CATALOGUE_FILE, tmp_path / "fresh-jobs" / JOBS_FILE
    return _columns(catalogue, "voices"), _columns(catalogue, "lexicon"), _columns(jobs, "jobs")


@pytest.mark.parametrize("release", ["first", "last unversioned"])
def test_an_unversioned_store_is_adopted_whole_and_keeps_every_row(tmp_path: Path, release: str) -> None:
    root, jobs = tmp_path / "voices", tmp_path / "jobs"
    voice_columns = _UNVERSIONED_VOICE_COLUMNS if release != "first" else ()
    job_columns = _UNVERSIONED_JOB_COLUMNS if release != "first" else ()
    entry = "INSERT INTO lexicon VALUES ('default', '重庆', 'zhong4 qing4', 'then')"
    _write(
        root / CATALOGUE_FILE,
        _FIRST_VOICES,
        *(f"ALTER TABLE voices ADD COLUMN {column}" for column in voice_columns),
        *((_UNVERSIONED_LEXICON, entry) if voice_columns else ()),
        _a_voice("old"),
    )
    (root / "old").mkdir()
    (root / "old" / "reference.wav").write_bytes(b"RIFFwav")
    job = "INSERT INTO jobs (id, title, format, status, created_at) VALUES ('j', 't', 'wav', 'done', 1)"
    _write(jobs / JOBS_FILE, *_FIRST_JOBS, *(f"ALTER TABLE jobs ADD COLUMN {column}" for column in job_columns), job)

    for _ in range(2):  # a second start (another process: objects of its own) finds nothing left to migrate
        store, job_store = VoiceStore(root), JobStore(jobs)
        store.open()
        job_store.open()
    old = store.get("old")
    assert (old.name, old.status, old.tenant) == ("Old", "ready", DEFAULT_TENANT)
    assert store.load_reference("old")[0] == b"RIFFwav"
    lexicon = {"重庆": "zhong4 qing4"} if voice_columns else {}
    assert sqlite_lexicon(root).lexicon(DEFAULT_TENANT) == lexicon
    assert [(job.id, job.status, job.tenant) for job in job_store.list()] == [("j", "done", DEFAULT_TENANT)]
    store.close()
    job_store.close()
    assert (_version(root / CATALOGUE_FILE), _version(jobs / JOBS_FILE)) == (CATALOGUE[-1].version, JOBS[-1].version)
    adopted = (_columns(root / CATALOGUE_FILE, "voices"), _columns(root / CATALOGUE_FILE, "lexicon"))
    assert (*adopted, _columns(jobs / JOBS_FILE, "jobs")) == _fresh_columns(tmp_path)


def _voices_at_version_1(root: Path, rows: list[str], folders: list[str]) -> None:
    """A voices folder as releases before migration 2 left it: ``rows`` by id, and a folder for each of
    ``folders`` whose reference.wav holds the folder's name."""
    root.mkdir(parents=True)
    db = connect(root / CATALOGUE_FILE)
    migrate_sqlite(db, CATALOGUE[:1], database=CATALOGUE_FILE)
    for voice_id in rows:
        db.execute(_a_voice(voice_id))
    db.close()
    for name in folders:
        (root / name).mkdir()
        (root / name / "reference.wav").write_bytes(name.encode())


def test_mixed_case_voice_ids_are_lower_cased_once_row_and_folder_unless_two_would_merge(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "voices"
    _voices_at_version_1(root, ["Narrator", "Alice", "alice"], ["Narrator", "Alice", "alice"])
    store = VoiceStore(root)
    with caplog.at_level(logging.WARNING):
        store.open()
    assert "voice Alice keeps its mixed-case id: alice exists as well" in caplog.text
    assert sorted(voice.id for voice in store.list()) == ["Alice", "alice", "narrator"]
    references = [store.load_reference(name)[0] for name in ("narrator", "Alice", "alice")]
    assert references == [b"Narrator", b"Alice", b"alice"]
    assert sorted(entry.name for entry in root.iterdir() if entry.is_dir()) == ["Alice", "alice", "narrator"]
    assert _version(root / CATALOGUE_FILE) == 2  # recorded: later starts do not look again
    store.close()


def test_ids_lower_cased_by_a_start_that_crashed_before_its_commit_are_finished_not_lost(tmp_path: Path) -> None:
    root = tmp_path / "voices"
    # The crash left the folder renamed and the row as it was (its transaction never committed).
    _voices_at_version_1(root, ["Narrator"], ["narrator"])
    store = VoiceStore(root)
    store.open()  # migrate, then recover: which would drop a row whose folder it cannot find
    assert [voice.id for voice in store.list()] == ["narrator"]
    assert store.load_reference("narrator")[0] == b"narrator"
    assert _version(root / CATALOGUE_FILE) == 2
    store.close()


def test_a_migration_that_fails_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.sqlite3")
    good = Migration(1, "a table", ("CREATE TABLE kept (id INTEGER)",))
    bad = Migration(2, "a mistake", ("CREATE TABLE second (id INTEGER)", "NOT SQL AT ALL"))
    with pytest.raises(sqlite3.OperationalError):
        migrate_sqlite(db, (good, bad), database="x")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == []
    migrate_sqlite(db, (good,), database="x")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


def test_a_database_a_newer_release_migrated_is_used_as_it_is(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    JobStore(tmp_path).open()
    _write(tmp_path / JOBS_FILE, "PRAGMA user_version = 99")
    store = JobStore(tmp_path)
    with caplog.at_level(logging.WARNING):
        store.open()
    assert "version 99, newer than this release knows" in caplog.text
    assert store.list() == []
    assert _version(tmp_path / JOBS_FILE) == 99
    store.close()


def test_a_job_written_onto_a_full_disk_is_a_storage_full_error_and_stores_nothing(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    store.open()
    kept = store.create("kept", "wav", [Segment("v", "一。", "v", 300)], Caller())
    # SQLite's own "database or disk is full" (SQLITE_FULL): the file may not grow by a page.
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[union-attr]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # type: ignore[union-attr]
    with pytest.raises(StorageFullError) as refused:
        store.create("lost", "wav", [Segment("v", "长" * 20_000, "v", 300)] * 20, Caller())
    assert refused.value.status == 507
    assert [job.id for job in store.list()] == [kept.id]
    store.close()
