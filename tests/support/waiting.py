"""Waiting for what a test expects to happen: a bounded poll, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


def wait_until(condition: Callable[[], _T], timeout: float = 60.0, interval: float = 0.02) -> _T:
    """``condition()``'s first truthy result, polled every ``interval``; fails the test after ``timeout``
    seconds (a bound for a machine far slower than any expected, not a measure of speed)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s"
        time.sleep(interval)
    return result
