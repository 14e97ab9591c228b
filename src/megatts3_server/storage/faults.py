"""Faults of the disk or database under a store, as the errors a client is told (507 full, 503 unavailable).

Every public method of every store (voices, lexicon, jobs; both dialects) runs inside
``storage_faults``: a full disk (ENOSPC, EDQUOT, SQLite's "database or disk is full", PostgreSQL's
disk_full, SQLSTATE 53100) becomes StorageFullError, any other I/O or database fault (PostgreSQL: not
reachable, connection lost, shutting down) StorageUnavailableError, each with a message an operator
can act on. The stores' own all-or-nothing writes guarantee that nothing half-written remains when
they are raised. ``faults_mapped`` puts every public method of a store class inside it at once.
"""

from __future__ import annotations

import errno
import functools
import inspect
import logging
import sqlite3
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import psycopg

from megatts3_server.errors import ServiceError, StorageFullError, StorageUnavailableError

log = logging.getLogger(__name__)

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL_MESSAGE = "the storage disk is full; nothing was stored (free space, then retry)"
_P = ParamSpec("_P")
_R = TypeVar("_R")
_Store = TypeVar("_Store", bound=type)


def as_storage_error(exc: BaseException) -> ServiceError | None:
    """The client-facing error for a storage fault, or None when ``exc`` is not one."""
    if isinstance(exc, FileNotFoundError | FileExistsError):
        return None  # races the store handles itself (a voice deleted meanwhile), not disk faults
    if isinstance(exc, OSError):
        if exc.errno in _FULL_ERRNOS:
            return StorageFullError(_FULL_MESSAGE)
        return StorageUnavailableError(f"the storage cannot be used: {exc.strerror or exc}", retry_after=30)
    if isinstance(exc, sqlite3.Error):
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return StorageFullError(_FULL_MESSAGE)
        return StorageUnavailableError(f"the database cannot be used: {exc}", retry_after=30)
    if isinstance(exc, psycopg.errors.DiskFull):
        return StorageFullError(_FULL_MESSAGE)
    # Operational: the server cannot be reached, went away, is shutting down, ran out of connections (a
    # pool that waited in vain raises PoolTimeout, one of these). Interface: the connection is unusable.
    # Any other psycopg error is a fault of the query itself, a bug, not of the storage.
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StorageUnavailableError(f"the database cannot be reached: {exc}", retry_after=30)
    return None


def storage_faults(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``method`` with disk and database faults raised as StorageFullError / StorageUnavailableError."""

    @functools.wraps(method)
    def translated(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except (OSError, sqlite3.Error, psycopg.Error) as exc:
            error = as_storage_error(exc)
            if error is None:
                raise
            log.error("store %s failed: %s", method.__qualname__, exc)
            raise error from exc

    return translated


def faults_mapped(store: _Store) -> _Store:
    """``store`` (a class) with each public method it defines run inside ``storage_faults``."""
    for name, member in list(vars(store).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(store, name, storage_faults(member))
    return store
