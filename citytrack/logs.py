"""Log lines that cannot flood: the first of a kind at once, then one summary per interval.

A device sending 100,000 bad messages, or a broker refusing every reconnect, must not write
100,000 lines: ``ThrottledLog`` writes the first message of each key immediately, counts
the repeats, and writes the next one no sooner than ``interval_s`` later, saying how many
it held back. Stdlib only: it runs on devices.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

MAX_KEYS = 10_000  # forget every key beyond this many (a flood of distinct keys)


class ThrottledLog:
    """At most one line per key per ``interval_s``; thread-safe."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self.suppressed_total = 0
        self._next: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def log(
        self,
        level: int,
        key: Hashable,
        msg: str,
        *args: object,
        exc_info: BaseException | None = None,
    ) -> bool:
        """Write ``msg % args`` (with ``exc_info``'s traceback) unless a line of ``key`` was
        written less than ``interval_s`` ago; True if it was written."""
        now = self.clock()
        with self._lock:
            if now < self._next.get(key, float("-inf")):
                self._held[key] = self._held.get(key, 0) + 1
                self.suppressed_total += 1
                return False
            if len(self._next) >= MAX_KEYS:
                self._next.clear()
                self._held.clear()
            held = self._held.pop(key, 0)
            self._next[key] = now + self.interval_s
        if held:
            msg += f" (and {held} more like it in the last {self.interval_s:g} s)"
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, key: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def error(self, key: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.ERROR, key, msg, *args)
