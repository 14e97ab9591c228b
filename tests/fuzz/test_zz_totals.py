"""The fuzz suite's totals: at least 500 cases when it runs whole, and what they were answered.

Named to run last (pytest runs the package's modules in file-name order). Run alone or with only a
part of the suite it has too little to judge and is skipped.
"""

from __future__ import annotations

import pytest

from tests.support.malformed import TALLY

MODULES = {"http", "json", "multipart", "jobs", "lexicon"}
MINIMUM_CASES = 500


def test_at_least_500_cases_were_sent() -> None:
    print("\n" + TALLY.report())
    missing = MODULES - set(TALLY.modules)
    if missing:
        pytest.skip(f"the fuzz modules {sorted(missing)} did not run (a partial run): {TALLY.total} cases")
    assert TALLY.total >= MINIMUM_CASES, TALLY.report()
    assert all(TALLY.modules[module] > 0 for module in MODULES), TALLY.report()
