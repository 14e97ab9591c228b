"""What only the PostgreSQL voice store has to get right: replicas migrating and writing at the same
time, versioned migrations, case-insensitive ids, one pool per process for every store, and database
faults as storage errors. (Its whole interface is tested with the SQLite store's: test_voice_store.py,
test_enrollment_jobs.py.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from megatts3_server.config import load_settings
from megatts3_server.errors import StorageFullError, StorageUnavailableError, VoiceExistsError
from megatts3_server.service.wiring import build_stores
from megatts3_server.storage.faults import as_storage_error
from megatts3_server.storage.postgres import APPLICATION_NAME, PostgresDatabase
from megatts3_server.storage.schema_postgres import SCHEMA_VERSIONS
from megatts3_server.tenancy import DEFAULT_TENANT
from megatts3_server.voices import NewVoiceFiles, PostgresVoiceStore
from tests.support.server import free_port
from tests.support.voices import silent_reference, stored_voice
from tests.support.waiting import wait_until


@pytest.fixture
def replicas(postgres_databases: Callable[[], PostgresDatabase]) -> Callable[[], PostgresVoiceStore]:
    """Makes stores on one fresh database, as replicas of the service would have (each its own pool)."""
    return lambda: PostgresVoiceStore(postgres_databases())


def _at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls on threads released together; their results, or the exceptions they raised."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as db:
        return [row[0] for row in db.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_replicas_migrating_a_fresh_database_at_once_both_succeed(replicas, postgres_url: str) -> None:
    first, second = replicas(), replicas()
    assert _at_once(first.migrate, second.migrate) == [None, None]
    assert _versions(postgres_url) == SCHEMA_VERSIONS
    first.save_atomic(stored_voice("shared"), NewVoiceFiles(b"RIFF"))
    assert second.get("shared").id == "shared"


def test_migrations_are_applied_once_and_recorded(replicas, postgres_url: str) -> None:
    store = replicas()
    store.open()
    store.open()
    replicas().migrate()
    assert _versions(postgres_url) == SCHEMA_VERSIONS


def test_the_same_id_stored_by_two_replicas_at_once_is_stored_once(replicas) -> None:
    first, second = replicas(), replicas()
    first.migrate()
    results = _at_once(
        lambda: first.save_atomic(stored_voice("race"), NewVoiceFiles(b"first")),
        lambda: second.save_atomic(stored_voice("race"), NewVoiceFiles(b"second")),
    )
    assert sorted(type(result).__name__ for result in results) == ["StoredVoice", "VoiceExistsError"]
    winner = b"first" if isinstance(results[1], VoiceExistsError) else b"second"
    assert first.load_reference("race") == (winner, None)


def test_ids_are_case_insensitive(replicas) -> None:
    store = replicas()
    store.open()
    assert store.save_atomic(stored_voice("Narrator"), NewVoiceFiles(b"RIFF")).id == "narrator"
    assert store.get("NARRATOR").id == "narrator"
    with pytest.raises(VoiceExistsError):
        store.save_atomic(stored_voice("narrator"), NewVoiceFiles(b"RIFF"))
    assert store.load_reference("NarRator") == (b"RIFF", None)
    assert store.delete("NARRATOR")
    assert store.list() == []


def test_connections_the_server_dropped_are_replaced(replicas, postgres_url: str) -> None:
    store = replicas()
    store.open()
    store.save_atomic(stored_voice("kept"), NewVoiceFiles(b"RIFF"))
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # what a database restart does to them
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert store.get("kept").id == "kept"


def _server_connections(url: str) -> int:
    """How many connections the server counts from the service's pools (not the migration's, not ours)."""
    with psycopg.connect(url) as db:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        return db.execute(query, (APPLICATION_NAME,)).fetchone()[0]


def test_the_three_stores_of_a_process_share_one_pool_closed_once(postgres_url: str, tmp_path: Path) -> None:
    storage = {"backend": "postgres", "database_url": postgres_url, "jobs_dir": str(tmp_path / "jobs")}
    stores = build_stores(load_settings(env={}, overrides={"storage": storage}).storage)  # as wiring.py builds them
    try:
        stores.voices.open()
        stores.jobs.open()
        stores.voices.save_atomic(stored_voice("narrator"), silent_reference())
        stores.lexicon.put_lexicon({"重庆": "chong2 qing4"}, DEFAULT_TENANT)
        assert stores.jobs.list() == [] and stores.lexicon.lexicon(DEFAULT_TENANT) == {"重庆": "chong2 qing4"}
        # A pool of its own per store would keep three connections at least (each keeps one); one pool
        # used a call at a time keeps one (two when the first call came before its first connection).
        assert _server_connections(postgres_url) in (1, 2)
        stores.jobs.close()
        stores.voices.close()
        assert stores.voices.get("narrator") is not None, "closing a store leaves the shared pool to its owner"
    finally:
        stores.database.close()
    wait_until(lambda: _server_connections(postgres_url) == 0)  # one close released every store's connections


def test_an_unreachable_database_is_storage_unavailable() -> None:
    database = PostgresDatabase(f"postgresql://postgres@127.0.0.1:{free_port()}/voices", timeout=1)
    store = PostgresVoiceStore(database)
    try:
        with pytest.raises(StorageUnavailableError) as error:
            store.check()
        assert error.value.retry_after == 30
        with pytest.raises(StorageUnavailableError):
            store.open()
    finally:
        database.close()


def test_database_faults_become_storage_errors() -> None:
    assert isinstance(as_storage_error(psycopg.errors.DiskFull("could not extend file")), StorageFullError)
    for fault in (psycopg.OperationalError("server closed the connection"), psycopg.errors.AdminShutdown("bye")):
        assert isinstance(as_storage_error(fault), StorageUnavailableError)
    assert as_storage_error(psycopg.errors.SyntaxError("a bug, not the storage")) is None
