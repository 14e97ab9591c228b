"""A real PostgreSQL server for the tests: Debian's binaries, a throw-away cluster, one database per test.

The cluster lives in a temporary folder, listens on 127.0.0.1 only (a free port; its unix socket in
that folder) and trusts every local connection. Run as root, the server runs as the ``postgres``
user (PostgreSQL refuses to run as root). Registered as a pytest plugin by tests/conftest.py.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from megatts3_server.storage.postgres import PostgresDatabase
from tests.support.server import free_port

_INSTALL_HINT = (
    "PostgreSQL is not installed: run scripts/install-test-deps.sh "
    "(or `apt-get install postgresql`), then run the tests again"
)
# Durability is not what the tests check: no fsync keeps a loaded machine fast.
_SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    " -c max_connections=300"
)


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's binaries folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = [path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    return max(found, key=lambda folder: int(folder.parent.name)) if found else None


class PostgresServer:
    """One throw-away cluster: ``start()``, ``create_database()``, ``stop()``."""

    def __init__(self, bin_dir: Path) -> None:
        self._bin = bin_dir
        # Not under pytest's tmp_path: its parents are root's and closed to the postgres user.
        self.folder = Path(tempfile.mkdtemp(prefix="megatts3-postgres-"))
        self.port = free_port()
        self._as_server_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self._databases = itertools.count(1)

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_server_user, str(self._bin / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            pytest.fail(f"{program} failed ({result.returncode}): {result.stderr or result.stdout}\n{tail}")

    def start(self) -> None:
        if self._as_server_user:
            shutil.chown(self.folder, "postgres", "postgres")
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-N")
        options = f"{_SERVER_OPTIONS} -p {self.port} -k {self.folder}"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-o", options, "-w", "start")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        name = f"test_{next(self._databases)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if (self.folder / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server, started on first use."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.fail(_INSTALL_HINT)
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database of its own for this test."""
    return postgres_server.create_database()


@pytest.fixture
def postgres_databases(postgres_url: str) -> Iterator[Callable[[], PostgresDatabase]]:
    """Makes PostgresDatabase objects on this test's fresh database, one per process (replica) the test
    plays (a process's stores share one, as service/wiring.py builds them); closes them after."""
    made: list[PostgresDatabase] = []

    def database() -> PostgresDatabase:
        made.append(PostgresDatabase(postgres_url))
        return made[-1]

    yield database
    for database in made:
        database.close()


@pytest.fixture
def postgres_database(postgres_databases: Callable[[], PostgresDatabase]) -> PostgresDatabase:
    """One process's database on this test's fresh database (closed after the test)."""
    return postgres_databases()
