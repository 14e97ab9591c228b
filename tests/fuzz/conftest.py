"""The fuzz suite: malformed requests for every route and field, against the real service.

Each module starts one server (a module-scoped ``fuzz`` fixture: the real ``megatts3-server serve``
on 127.0.0.1, the embedded Kokoro engine, rate limits off as in tests/support/server.write_configs)
and sends its cases through a :class:`tests.support.malformed.Fuzzer`, which counts them. Every test
that uses ``fuzz`` is also checked here for what it must never do: change the voice store (the list,
and the module's known uploaded voice as GET /api/v1/voices/{id} shows it).

``-m "not fuzz_slow"`` leaves out the few texts that may run up to the server's api.timeout.
Environment: MEGATTS3_FUZZ_TIMEOUT / MEGATTS3_FUZZ_SLOW_TIMEOUT (client timeouts, seconds),
MEGATTS3_FUZZ_SPOKEN_EXAMPLES (generated texts synthesized whole), MEGATTS3_FUZZ_FAILURES (a file
that receives every failed case as a JSON line, for triage). The terminal summary reports the totals.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.malformed import TALLY, store_unchanged


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fuzz_slow: fuzz cases that may legitimately take up to the server's api.timeout"
    )


@pytest.fixture(autouse=True)
def _voice_store_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test's refused requests leave the voice store as it was (what a test stores, it deletes)."""
    if "fuzz" not in request.fixturenames:
        yield
        return
    with store_unchanged(request.getfixturevalue("fuzz")):
        yield


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if TALLY.total:
        terminalreporter.write_sep("-", "fuzz suite")
        terminalreporter.write_line(TALLY.report())
        if path := os.environ.get("MEGATTS3_FUZZ_FAILURES"):
            TALLY.dump(path)
            terminalreporter.write_line(f"failed cases written to {path}")
