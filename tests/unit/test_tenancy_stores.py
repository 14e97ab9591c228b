"""Tenants in the stores, on both backends (SQLite + files, PostgreSQL): each voice and job keeps its
owner (lexicon entries: test_lexicon_store.py), what a tenant may replace or delete is its own, and
stores written before tenancy migrate whole to the default tenant (SQLite by migration 1, which adopts
an unversioned file, PostgreSQL by migration 5)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from megatts3_server.errors import VoiceExistsError
from megatts3_server.jobs.postgres_store import PostgresJobStore
from megatts3_server.jobs.script import Segment
from megatts3_server.jobs.store import JobStore
from megatts3_server.jobs.store_interface import JobStoreInterface
from megatts3_server.lexicon_store import LexiconStore
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.storage.schema_postgres import MIGRATIONS, SCHEMA_VERSIONS
from megatts3_server.tenancy import DEFAULT_TENANT, Caller
from megatts3_server.voices import NewVoiceFiles, PostgresVoiceStore, VoiceStore, VoiceStoreInterface, now_iso
from tests.support.voices import STORE_BACKENDS, backend_store, sqlite_lexicon, stored_voice

ALICE, BOB = "key:alice", "key:bob"


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> VoiceStoreInterface:
    return backend_store(request, tmp_path / "voices")


@pytest.fixture(params=STORE_BACKENDS)
def job_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStoreInterface]:
    opened: JobStoreInterface
    if request.param == "postgres":
        opened = PostgresJobStore(request.getfixturevalue("postgres_database"), tmp_path / "results")
    else:
        opened = JobStore(tmp_path / "jobs")
    opened.open()
    yield opened
    opened.close()


def test_a_voice_keeps_its_tenant_and_only_it_deletes_or_finds_it(store: VoiceStoreInterface) -> None:
    shared_audio = "c" * 64
    store.save_atomic(stored_voice("alices", tenant=ALICE, content_sha256=shared_audio), NewVoiceFiles(b"RIFF"))
    assert store.get("alices").tenant == ALICE
    assert store.find_by_content(shared_audio, "test", ALICE).id == "alices"
    assert store.find_by_content(shared_audio, "test", BOB) is None
    with pytest.raises(VoiceExistsError):  # ids are one space across tenants
        store.save_atomic(stored_voice("alices", tenant=BOB), NewVoiceFiles(b"other"))
    assert store.delete("alices", BOB) is False
    assert store.load_reference("alices") == (b"RIFF", None)
    assert store.delete("alices", ALICE) is True
    assert store.get("alices") is None


def test_only_its_own_tenant_replaces_a_failed_voice(store: VoiceStoreInterface) -> None:
    store.save_atomic(stored_voice("flop", tenant=ALICE, status="failed"), NewVoiceFiles(b"first"))
    with pytest.raises(VoiceExistsError):
        store.save_atomic(stored_voice("flop", tenant=BOB), NewVoiceFiles(b"bobs"), replace_failed=True)
    assert (store.get("flop").tenant, store.load_reference("flop")[0]) == (ALICE, b"first")
    store.save_atomic(stored_voice("flop", tenant=ALICE), NewVoiceFiles(b"again"), replace_failed=True)
    assert (store.get("flop").status, store.load_reference("flop")[0]) == ("ready", b"again")


def test_an_admin_delete_takes_any_tenants_voice(store: VoiceStoreInterface) -> None:
    store.save_atomic(stored_voice("anyones", tenant=BOB), NewVoiceFiles(b"RIFF"))
    assert store.delete("anyones", Caller(admin=True).only) is True


def test_a_job_keeps_its_tenant_and_whether_an_admin_made_it(job_store: JobStoreInterface) -> None:
    segments = [Segment("v", "一。", "v", 300)]
    alices = job_store.create("a", "wav", segments, Caller(ALICE))
    admins = job_store.create("b", "wav", segments, Caller(admin=True))
    assert (job_store.get(alices.id).tenant, job_store.get(alices.id).by_admin) == (ALICE, False)
    assert (admins.tenant, admins.by_admin) == (DEFAULT_TENANT, True)
    assert [(job.tenant, job.by_admin) for job in job_store.list()] == [(ALICE, False), (DEFAULT_TENANT, True)]


# Stores written before tenancy: every row is the default tenant's afterwards.

_SQLITE_BEFORE_TENANCY = (
    """CREATE TABLE voices (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', type TEXT NOT NULL,
        engine TEXT NOT NULL, created_at TEXT NOT NULL, duration REAL NOT NULL, sample_rate INTEGER NOT NULL,
        source_format TEXT NOT NULL, content_sha256 TEXT NOT NULL, has_latent INTEGER NOT NULL, meta TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'ready', progress REAL NOT NULL DEFAULT 100,
        similarity REAL, error TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT,
        lease_expires REAL)""",
    "CREATE TABLE lexicon (word TEXT PRIMARY KEY, reading TEXT NOT NULL, updated_at TEXT NOT NULL)",
)
_JOBS_BEFORE_TENANCY = """CREATE TABLE jobs (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, format TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
    started_at REAL, finished_at REAL, error TEXT)"""


def test_a_sqlite_store_older_than_tenancy_is_the_default_tenants(tmp_path: Path) -> None:
    root = tmp_path / "voices"
    (root / "old").mkdir(parents=True)
    (root / "old" / "reference.wav").write_bytes(b"RIFFwav")
    with sqlite3.connect(root / "voices.sqlite3") as db:
        for statement in _SQLITE_BEFORE_TENANCY:
            db.execute(statement)
        db.execute(
            "INSERT INTO voices (id, name, type, engine, created_at, duration, sample_rate, source_format,"
            " content_sha256, has_latent, meta) VALUES ('old', 'old', 'uploaded', 'test', ?, 2, 24000, 'wav', ?, 0,"
            " '{}')",
            (now_iso(), "0" * 64),
        )
        db.execute("INSERT INTO lexicon VALUES ('重庆', 'zhong4 qing4', ?)", (now_iso(),))
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    with sqlite3.connect(jobs / "jobs.sqlite3") as db:
        db.execute(_JOBS_BEFORE_TENANCY)
        db.execute("INSERT INTO jobs VALUES (?, 't', 'wav', 'done', 1, 1, 2, NULL)", ("a" * 32,))
    for _ in range(2):  # a second start (another process: objects of its own) finds nothing left to migrate
        store, job_store = VoiceStore(root), JobStore(jobs)
        store.open()
        job_store.open()
    lexicon = sqlite_lexicon(root)
    assert store.get("old").tenant == DEFAULT_TENANT
    assert lexicon.lexicon(DEFAULT_TENANT) == {"重庆": "zhong4 qing4"}
    lexicon.put_lexicon({"重庆": "chong2 qing4"}, ALICE)  # one word, two tenants
    assert lexicon.lexicon(DEFAULT_TENANT) == {"重庆": "zhong4 qing4"}
    assert [(job.tenant, job.by_admin) for job in job_store.list()] == [(DEFAULT_TENANT, False)]
    store.close()
    job_store.close()


def test_a_postgres_database_older_than_tenancy_is_the_default_tenants(
    postgres_url: str, postgres_database: PostgresDatabase, tmp_path: Path
) -> None:
    with psycopg.connect(postgres_url) as db:  # the schema of version 4, as the release before tenancy left it
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL)")
        for migration in MIGRATIONS:
            if migration.version <= 4:
                for statement in migration.statements:
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (migration.version, migration.description))
        voice = dataclasses.replace(stored_voice("old"), meta={})
        db.execute(
            "INSERT INTO voices (id, name, type, engine, created_at, duration, sample_rate, source_format,"
            " content_sha256, has_latent, meta) VALUES (%s, %s, 'uploaded', 'test', %s, 2, 24000, 'wav', %s, false,"
            " '{}')",
            (voice.id, voice.name, voice.created_at, voice.content_sha256),
        )
        db.execute("INSERT INTO voice_blobs VALUES ('old', 'reference.wav', 'RIFF')")
        db.execute("INSERT INTO lexicon (word, reading) VALUES ('重庆', 'zhong4 qing4')")
        db.execute("INSERT INTO jobs (id, title, format, status, created_at) VALUES ('j', 't', 'wav', 'done', 1)")
    store = PostgresVoiceStore(postgres_database)
    store.open()
    job_store = PostgresJobStore(postgres_database, tmp_path / "results")
    job_store.open()
    lexicon = LexiconStore(postgres_database)
    try:
        with psycopg.connect(postgres_url) as db:
            assert [row[0] for row in db.execute("SELECT version FROM schema_migrations ORDER BY 1")] == SCHEMA_VERSIONS
        assert store.get("old").tenant == DEFAULT_TENANT
        assert lexicon.lexicon(DEFAULT_TENANT) == {"重庆": "zhong4 qing4"}
        lexicon.put_lexicon({"重庆": "chong2 qing4"}, ALICE)
        assert (lexicon.lexicon(DEFAULT_TENANT), lexicon.lexicon(ALICE)) == (
            {"重庆": "zhong4 qing4"},
            {"重庆": "chong2 qing4"},
        )
        assert (job_store.get("j").tenant, job_store.get("j").by_admin) == (DEFAULT_TENANT, False)
    finally:
        store.close()
        job_store.close()
