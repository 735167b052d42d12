"""Retry with backoff: the one formula every supervisor loop uses (agents, station, hub,
notification delivery, BLE scanner).

The delay before retry ``n`` (1, 2, ...) after consecutive failures is
``min(max_s, initial_s * 2**(n-1))`` plus up to ``jitter`` of it at random, never above
``max_s``: it doubles, spreads many clients that failed together over a quarter of the
interval (by default), and never waits longer than ``max_s``. A success resets it.
Stdlib only: it runs on devices.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays for retrying a peer that fails; one instance per loop (not thread-safe)."""

    def __init__(
        self,
        initial_s: float = 0.5,
        max_s: float = 30.0,
        *,
        jitter: float = 0.25,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {initial_s}, {max_s}")
        self.initial_s = initial_s
        self.max_s = max_s
        self.jitter = jitter
        self.failures = 0
        self._rng = rng or random.Random()

    def delay(self, failures: int) -> float:
        """The delay before retry number ``failures`` (1, 2, ...), s."""
        base = min(self.max_s, self.initial_s * 2.0 ** min(failures - 1, 30))
        return min(self.max_s, base * (1 + self.jitter * self._rng.random()))

    def next_delay(self) -> float:
        """Count one more consecutive failure; the delay before retrying, s."""
        self.failures += 1
        return self.delay(self.failures)

    def reset(self) -> None:
        """After a success: the next failure waits ``initial_s`` again."""
        self.failures = 0
