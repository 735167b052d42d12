"""Waiting in tests: on the condition itself, polled every few ms, never for a fixed time.

A test that sleeps for long enough on a fast machine fails on a busy one and wastes time
on both; ``wait_until`` returns as soon as the condition holds and fails, naming what it
waited for, only when it never does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_S = 0.005
"""Default interval between two looks at the condition, s."""


def poll(predicate: Callable[[], object], timeout_s: float, *, every_s: float = POLL_S) -> bool:
    """Call ``predicate`` every ``every_s`` seconds until it returns a true value (True) or
    ``timeout_s`` seconds have passed (False). It is called at least once."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every_s)
    return True


def wait_until(
    predicate: Callable[[], object], timeout_s: float, what: str, *, every_s: float = POLL_S
) -> None:
    """Return as soon as ``predicate()`` is true; ``what`` says what is awaited.

    Raises:
        AssertionError: still false after ``timeout_s`` seconds.
    """
    if not poll(predicate, timeout_s, every_s=every_s):
        raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
