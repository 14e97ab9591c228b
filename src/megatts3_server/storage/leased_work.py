"""One leased-work queue: background work kept as rows of a table, each run by one worker under a lease.

Enrollment jobs (the ``voices`` table) and long-form jobs (``jobs``) are such rows. A row has a
``status`` and a lease: ``lease_owner`` (the worker's id, worker_id()) and ``lease_expires`` (until
when). LeasedTable says which statuses wait for a worker and which are held under a lease; the
queue's steps are written here once per dialect, for any such table:

- *claim*: the oldest claimable row (waiting, or held under a lease that has expired or never was
  set: its worker died, and this one takes it over) is leased to the claimant in one transaction.
  PostgreSQL reads it ``FOR UPDATE SKIP LOCKED``, so two workers never claim the same row and a row
  another worker is claiming is passed over, not waited for; a SQLite store's writes are one at a
  time (``BEGIN IMMEDIATE``).
- *renew*: the holder extends its lease (and writes its progress) while the work runs. A renewal of
  a lease that is no longer the worker's (ended, taken over, the row deleted, or moved out of the
  held statuses: cancelled) changes nothing and says False: the worker has lost the item.
- *end*: the holder clears its lease with the row's new state (done, failed, or waiting again:
  released, for any worker to claim at once).

LeaseKeeper is the worker's side, the same for the enrollment thread and the job runner: it renews
on a thread of its own while the work runs (LeaseTiming: how long a lease lasts, how often it is
renewed), and stops the work once the lease is lost, or the work has run far past its budget.

Lease times: on PostgreSQL the database's clock (``now()``: the replicas' clocks do not matter); on
SQLite Unix time from the dialect's clock (one machine).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)


def worker_id() -> str:
    """A worker's lease owner: host, process and a random part (a restarted process is another)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class LeaseTiming:
    """How long a lease lasts, and how often its holder writes to it."""

    seconds: float
    progress_every: float = 0.5
    """Progress the work reports is written with a renewal at most this often."""

    @property
    def renew_every(self) -> float:
        """A third of the lease: two renewals may fail (a store fault) before it runs out."""
        return self.seconds / 3


@dataclass(frozen=True)
class Dialect:
    """How a database spells the queue's SQL: its placeholder, its row lock, and its clock."""

    mark: str
    lock: str
    """What a SELECT adds to lock the row it reads ("" where a write transaction locks the database)."""
    clock: Callable[[], float] | None = None
    """Unix time for lease times, or None: the database's clock, ``now()``."""

    def now(self) -> tuple[str, list[Any]]:
        """The SQL of the current time, and its parameters."""
        if self.clock is None:
            return "now()", []
        return self.mark, [self.clock()]

    def until(self, seconds: float) -> tuple[str, list[Any]]:
        """The SQL of ``seconds`` from now (a lease's expiry), and its parameters."""
        if self.clock is None:
            return f"now() + make_interval(secs => {self.mark})", [seconds]
        return self.mark, [self.clock() + seconds]


SQLITE = Dialect("?", "", time.time)
POSTGRES = Dialect("%s", " FOR UPDATE")


@dataclass(frozen=True)
class LeasedTable:
    """A table whose rows are leased work: its name, its key, and the meaning of its statuses."""

    name: str
    waiting: tuple[str, ...]
    """Statuses a worker may claim whatever the lease says (released and new work)."""
    held: tuple[str, ...]
    """Statuses held under a lease: claimable once it has expired; renewable by its holder only."""
    columns: str = "*"
    """What a claim reads of the row."""
    key: str = "id"
    order: str = "created_at, id"
    """Which claimable row comes first: the oldest."""


class LeaseQueue:
    """The claim, renew and end statements of one LeasedTable in one dialect. Each runs on a
    connection the store gives it, within the store's transaction."""

    def __init__(self, table: LeasedTable, dialect: Dialect) -> None:
        self.table = table
        self.dialect = dialect

    def _in(self, statuses: tuple[str, ...]) -> str:
        return f"status IN ({', '.join([self.dialect.mark] * len(statuses))})"

    def _assign(self, changes: Mapping[str, Any]) -> str:
        return "".join(f"{column} = {self.dialect.mark}, " for column in changes)

    def expired(self) -> tuple[str, list[Any]]:
        """The SQL condition of a row held under a lease that has expired (or was never set: its
        worker died, or stopped as it claimed), and its parameters."""
        now, now_args = self.dialect.now()
        return f"({self._in(self.table.held)} AND (lease_expires IS NULL OR lease_expires < {now}))", [
            *self.table.held,
            *now_args,
        ]

    def oldest_claimable(self, db: Any, **where: Any) -> Any:
        """The oldest row a worker may claim, among those whose columns equal ``where``; None when
        there is none. PostgreSQL: the row is locked for this transaction, and rows other
        transactions lock are passed over."""
        table, mark = self.table, self.dialect.mark
        expired, expired_args = self.expired()
        claimable = f"{self._in(table.waiting)} OR {expired}" if table.waiting else expired
        filters = "".join(f" AND {column} = {mark}" for column in where)
        locking = f"{self.dialect.lock} SKIP LOCKED" if self.dialect.lock else ""
        return db.execute(
            f"SELECT {table.columns} FROM {table.name} WHERE ({claimable}){filters}"
            f" ORDER BY {table.order} LIMIT 1{locking}",
            [*table.waiting, *expired_args, *where.values()],
        ).fetchone()

    def take(self, db: Any, key: Any, owner: str, seconds: float, **changes: Any) -> None:
        """Lease the row ``key`` (found by oldest_claimable in this transaction) to ``owner`` for
        ``seconds``, with ``changes`` to its columns."""
        until, until_args = self.dialect.until(seconds)
        mark = self.dialect.mark
        db.execute(
            f"UPDATE {self.table.name} SET {self._assign(changes)}lease_owner = {mark}, lease_expires = {until}"
            f" WHERE {self.table.key} = {mark}",
            [*changes.values(), owner, *until_args, key],
        )

    def claim(self, db: Any, owner: str, seconds: float, **where: Any) -> Any:
        """Lease the oldest claimable row (among those matching ``where``) to ``owner`` for
        ``seconds``, changing nothing else (a long-form job's runner sets its status as it starts);
        the row as it was found, or None when there was none."""
        row = self.oldest_claimable(db, **where)
        if row is not None:
            self.take(db, row[self.table.key], owner, seconds)
        return row

    def renew(self, db: Any, key: Any, owner: str, seconds: float, **changes: Any) -> bool:
        """While ``owner`` holds the row's lease: extend it to ``seconds`` from now, with ``changes``.
        False (nothing changed) when the lease is not its any more."""
        until, until_args = self.dialect.until(seconds)
        mark = self.dialect.mark
        cursor = db.execute(
            f"UPDATE {self.table.name} SET {self._assign(changes)}lease_expires = {until}"
            f" WHERE {self.table.key} = {mark} AND lease_owner = {mark} AND {self._in(self.table.held)}",
            [*changes.values(), *until_args, key, owner, *self.table.held],
        )
        return cursor.rowcount > 0

    def end(self, db: Any, key: Any, owner: str, **changes: Any) -> bool:
        """While ``owner`` holds the row's lease: clear it, with ``changes`` (the work's outcome, or
        its waiting status again: released). False (nothing changed) when the lease is not its."""
        mark = self.dialect.mark
        cursor = db.execute(
            f"UPDATE {self.table.name} SET {self._assign(changes)}lease_owner = NULL, lease_expires = NULL"
            f" WHERE {self.table.key} = {mark} AND lease_owner = {mark}",
            [*changes.values(), key, owner],
        )
        return cursor.rowcount > 0

    def holds(self, db: Any, key: Any, owner: str) -> bool:
        """Whether ``owner`` holds the row's lease (PostgreSQL: the row is locked for this
        transaction, so it stays so until the transaction ends)."""
        mark = self.dialect.mark
        row = db.execute(
            f"SELECT 1 FROM {self.table.name} WHERE {self.table.key} = {mark} AND lease_owner = {mark}"
            f" AND {self._in(self.table.held)}{self.dialect.lock}",
            [key, owner, *self.table.held],
        ).fetchone()
        return row is not None


class LeaseKeeper:
    """Holds a claimed item's lease while its work runs, on a thread of its own.

    ``renew(**changes)`` renews the lease (with the progress the work reported, see report) and says
    whether it is still held. It is called every LeaseTiming.renew_every, or sooner (at most every
    progress_every) when there is progress to write. A renewal that raises (a store fault) is tried
    again at the next tick: the lease may still hold. A renewal refused means the item is not this
    worker's any more (cancelled or deleted, on any replica, or taken over once the lease expired):
    ``lost`` is set, ``stop_work`` is called once, and nothing more is renewed, so that the work stops
    and writes nothing more. A run past ``overrun_after`` seconds is taken for hung: ``overran`` is
    set, ``stop_work`` called and the lease no longer renewed, so that it expires and the item is
    not held for ever by a worker that will never finish it.
    """

    def __init__(
        self,
        name: str,
        renew: Callable[..., bool],
        timing: LeaseTiming,
        stop_work: Callable[[], None],
        *,
        overrun_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``name``: what the log calls the item ("voice v1", "job 3f…")."""
        self._name, self._renew, self._timing, self._stop_work = name, renew, timing, stop_work
        self._overrun_after, self._clock = overrun_after, clock
        self.lost = False
        self.overran = False
        self._latest: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._renewing = threading.Lock()  # one renewal at a time: the keeper's or the work's (renew_now)
        self._renewed = clock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"lease-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Renew no more (the work has ended); returns once the keeper's thread has."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> LeaseKeeper:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def report(self, **changes: Any) -> None:
        """Progress of the work, written with the next renewal."""
        with self._lock:
            self._latest = {**(self._latest or {}), **changes}

    def renew_now(self) -> bool:
        """Renew at once, from the work (a store fault raises); whether the item is still this worker's."""
        if self.lost:
            return False
        with self._lock:
            changes, self._latest = self._latest, None
        return self._renew_with(changes or {})

    def _renew_with(self, changes: dict[str, Any]) -> bool:
        with self._renewing:
            if self.lost:
                return False
            now = self._clock()
            held = self._renew(**changes)
            if held:
                self._renewed = now
                return True
            self.lost = True
        log.info("%s: its job is no longer this worker's (cancelled, deleted or taken over); stopped", self._name)
        self._stop_work()
        return False

    def _keep(self) -> None:
        started = self._clock()
        while not self._done.wait(min(self._timing.progress_every, self._timing.renew_every)):
            now = self._clock()
            if self._overrun_after is not None and now - started > self._overrun_after:
                self.overran = True
                log.error("%s: still running after %.0f s; cancelled", self._name, now - started)
                self._stop_work()
                return
            with self._lock:
                changes, self._latest = self._latest, None
            if changes is None and now - self._renewed < self._timing.renew_every:
                continue
            try:
                if not self._renew_with(changes or {}):
                    return
            except Exception as exc:  # a store fault: try again at the next tick (the lease may run out)
                log.warning("%s: its lease could not be renewed (%s)", self._name, exc)
                if changes:  # written with the next renewal, unless newer progress replaces it
                    with self._lock:
                        self._latest = {**changes, **(self._latest or {})}
