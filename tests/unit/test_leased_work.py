"""The leased-work queue (storage/leased_work.py) on its own, on both dialects: a table of work, two
workers, and the lease between them. SQLite reads lease times from a clock the test moves; a
PostgreSQL lease expires as a dead worker's would, its expiry an hour ago."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from megatts3_server.storage.leased_work import (
    POSTGRES,
    SQLITE,
    LeasedTable,
    LeaseKeeper,
    LeaseQueue,
    LeaseTiming,
    worker_id,
)

_WORK = LeasedTable("work", waiting=("waiting",), held=("running",))
_SCHEMA = (
    "CREATE TABLE work (id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at REAL NOT NULL,"
    " progress REAL NOT NULL DEFAULT 0, lease_owner TEXT, lease_expires {expiry})"
)
# Waits for an event the code under test sets; never reached unless it is broken.
_NEVER = 60.0


@dataclass
class Bench:
    """One dialect's queue on a table of work, and how a test drives it."""

    queue: LeaseQueue
    transaction: Callable[[], AbstractContextManager[Any]]
    expire: Callable[[str], None]
    """Let the lease on an item run out (its worker died)."""

    def add(self, *ids: str) -> None:
        mark = self.queue.dialect.mark
        with self.transaction() as db:
            for number, key in enumerate(ids):
                db.execute(
                    f"INSERT INTO work (id, status, created_at) VALUES ({mark}, 'waiting', {mark})", [key, number]
                )

    def claim(self, owner: str, seconds: float = 30.0) -> str | None:
        """What a worker does: the oldest claimable item, running under ``owner``'s lease."""
        with self.transaction() as db:
            row = self.queue.oldest_claimable(db)
            if row is None:
                return None
            self.queue.take(db, row["id"], owner, seconds, status="running")
            return str(row["id"])

    def renew(self, key: str, owner: str, seconds: float = 30.0, **changes: Any) -> bool:
        with self.transaction() as db:
            return self.queue.renew(db, key, owner, seconds, **changes)

    def end(self, key: str, owner: str, **changes: Any) -> bool:
        with self.transaction() as db:
            return self.queue.end(db, key, owner, **changes)

    def row(self, key: str) -> dict[str, Any]:
        with self.transaction() as db:
            return dict(db.execute(f"SELECT * FROM work WHERE id = {self.queue.dialect.mark}", [key]).fetchone())


def _sqlite(folder: Path) -> Iterator[Bench]:
    now = [1_000_000.0]
    db = sqlite3.connect(folder / "work.sqlite3", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute(_SCHEMA.format(expiry="REAL"))
    lock = threading.Lock()

    @contextmanager
    def transaction() -> Iterator[sqlite3.Connection]:
        with lock, db:  # committed when the block ends, rolled back if it raises
            yield db

    def expire(key: str) -> None:
        with transaction() as db:
            (expires,) = db.execute("SELECT lease_expires FROM work WHERE id = ?", [key]).fetchone()
        now[0] = expires + 1

    yield Bench(LeaseQueue(_WORK, dataclasses.replace(SQLITE, clock=lambda: now[0])), transaction, expire)
    db.close()


def _postgres(url: str) -> Iterator[Bench]:
    db = psycopg.connect(url, autocommit=True, row_factory=dict_row)
    db.execute(_SCHEMA.format(expiry="TIMESTAMPTZ"))
    lock = threading.Lock()

    @contextmanager
    def transaction() -> Iterator[psycopg.Connection[dict[str, Any]]]:
        with lock, db.transaction():
            yield db

    def expire(key: str) -> None:
        with transaction() as conn:
            conn.execute("UPDATE work SET lease_expires = now() - interval '1 hour' WHERE id = %s", [key])

    yield Bench(LeaseQueue(_WORK, POSTGRES), transaction, expire)
    db.close()


@pytest.fixture(params=["sqlite", "postgres"])
def bench(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bench]:
    if request.param == "postgres":
        yield from _postgres(request.getfixturevalue("postgres_url"))
    else:
        yield from _sqlite(tmp_path)


def test_two_workers_never_hold_the_same_item(bench: Bench) -> None:
    bench.add("a", "b")
    assert bench.claim("one") == "a", "the oldest first"
    assert bench.claim("two") == "b", "an item under a live lease is passed over"
    assert bench.claim("three") is None
    assert bench.renew("a", "one", progress=40.0)
    assert not bench.renew("a", "two"), "only the holder renews"
    assert not bench.end("a", "two", status="done"), "only the holder ends"
    assert bench.row("a")["status"] == "running" and bench.row("a")["lease_owner"] == "one"
    assert bench.row("a")["progress"] == 40.0


def test_an_expired_lease_is_taken_over_and_its_old_holder_can_no_longer_renew_or_end_it(bench: Bench) -> None:
    bench.add("a")
    assert bench.claim("dead") == "a"
    bench.expire("a")
    assert bench.claim("alive") == "a", "taken over"
    assert not bench.renew("a", "dead"), "the old holder has lost it"
    assert not bench.end("a", "dead", status="failed")
    assert bench.row("a")["lease_owner"] == "alive"
    assert bench.end("a", "alive", status="done")
    assert bench.row("a")["status"] == "done" and bench.row("a")["lease_owner"] is None


def test_a_released_item_is_claimable_at_once_and_a_finished_one_never(bench: Bench) -> None:
    bench.add("a", "b")
    assert bench.claim("one") == "a"
    assert bench.end("a", "one", status="waiting")  # released: its worker is stopping
    assert not bench.renew("a", "one"), "released: no longer its"
    assert bench.claim("two") == "a", "claimable at once, not when the lease would have expired"
    assert bench.end("a", "two", status="done")
    assert bench.claim("two") == "b"
    bench.expire("b")
    assert bench.end("b", "two", status="failed")
    assert bench.claim("three") is None, "a finished item is not claimed, whatever its lease"


@pytest.fixture
def postgres_bench(postgres_url: str) -> Iterator[Bench]:
    yield from _postgres(postgres_url)


def test_a_row_another_worker_is_claiming_is_passed_over_not_waited_for(
    postgres_bench: Bench, postgres_url: str
) -> None:
    bench = postgres_bench
    bench.add("a", "b")
    queue = LeaseQueue(_WORK, POSTGRES)
    with psycopg.connect(postgres_url, autocommit=True, row_factory=dict_row) as other, other.transaction():
        first = queue.oldest_claimable(other)
        assert first is not None and first["id"] == "a"
        queue.take(other, "a", "one", 30, status="running")  # not committed yet: the row stays locked
        assert bench.claim("two") == "b"
    assert bench.claim("three") is None


def test_the_keeper_renews_the_lease_and_stops_the_work_once_it_is_taken_over(bench: Bench) -> None:
    bench.add("a")
    owner = worker_id()
    assert bench.claim(owner) == "a"
    renewed, stopped = threading.Event(), threading.Event()

    def renew(**changes: Any) -> bool:
        held = bench.renew("a", owner, 30, **changes)
        if held and changes.get("progress") == 50.0:
            renewed.set()
        return held

    keeper = LeaseKeeper("item a", renew, LeaseTiming(0.03, progress_every=0.01), stopped.set)
    with keeper:
        keeper.report(progress=50.0)
        assert renewed.wait(_NEVER), "progress is written with a renewal"
        assert bench.row("a")["progress"] == 50.0
        bench.expire("a")
        assert bench.claim("other") == "a"
        assert stopped.wait(_NEVER), "the work is stopped once a renewal is refused"
    assert keeper.lost and not keeper.overran
    assert not keeper.renew_now(), "a worker that lost its lease writes nothing more"
    assert bench.row("a")["lease_owner"] == "other"


def test_a_store_fault_is_retried_and_does_not_lose_the_lease() -> None:
    calls: list[dict[str, Any]] = []
    settled = threading.Event()

    def renew(**changes: Any) -> bool:
        calls.append(changes)
        if len(calls) == 1:
            raise OSError("the database is restarting")
        settled.set()
        return True

    stopped = threading.Event()
    keeper = LeaseKeeper("item", renew, LeaseTiming(0.03, progress_every=0.01), stopped.set)
    with keeper:
        keeper.report(progress=10.0)
        assert settled.wait(_NEVER)
    assert calls[1] == {"progress": 10.0}, "the progress a failed renewal carried is written by the next"
    assert not keeper.lost and not stopped.is_set()


def test_work_running_past_its_budget_is_stopped_and_its_lease_left_to_expire() -> None:
    now = [0.0]
    stopped = threading.Event()
    renewals: list[dict[str, Any]] = []

    def renew(**changes: Any) -> bool:
        renewals.append(changes)
        return True

    keeper = LeaseKeeper(
        "item", renew, LeaseTiming(30, progress_every=0.01), stopped.set, overrun_after=100, clock=lambda: now[0]
    )
    with keeper:
        now[0] = 101.0
        assert stopped.wait(_NEVER)
    assert keeper.overran and not keeper.lost
    assert renewals == [], "a hung run's lease is not renewed: it expires, and another worker takes the item"
