"""The one backoff formula: doubling, bounded jitter, a cap, reset after success."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citytrack.retry import Backoff


@given(initial=st.floats(0.01, 5.0), factor=st.floats(1.0, 100.0), seed=st.integers(0, 2**32))
def test_delays_grow_stay_within_jitter_and_cap(initial: float, factor: float, seed: int) -> None:
    backoff = Backoff(initial, initial * factor, rng=random.Random(seed))
    delays = [backoff.next_delay() for _ in range(40)]
    assert all(b >= a for a, b in itertools.pairwise(delays))
    for n, d in enumerate(delays, start=1):
        base = min(backoff.max_s, initial * 2 ** (n - 1))
        assert base <= d <= min(backoff.max_s, base * 1.25) + 1e-12
    assert delays[-1] == pytest.approx(backoff.max_s)


def test_reset_starts_over() -> None:
    backoff = Backoff(1.0, 60.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="initial_s"):
        Backoff(5.0, 1.0)
