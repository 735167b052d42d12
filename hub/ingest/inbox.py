"""The hub's inbox: messages waiting for the worker, one queue per device, served in turn.

A device that floods the hub (100,000 bad messages, a backlog after a week offline) must
not delay the others: ``take`` builds each batch round-robin over the devices that have
messages waiting, one message of each in turn, so another device's fix waits behind at
most one message per device, not behind the whole flood. Each device's messages keep their
order. Thread-safe: the MQTT network thread puts, the worker takes.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from hub.pipeline.batch import Inbound


def device_key(topic: str) -> str:
    """Whose queue a message joins: the device id of a ``citytrack/v1/{role}/{id}/..``
    topic, or the whole topic when it is not one."""
    parts = topic.split("/", 4)
    return parts[3] if len(parts) > 3 else topic


class FairInbox:
    """Per-device FIFO queues, drained round-robin."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Inbound]] = {}  # insertion order = turn order
        self._size = 0
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return self._size

    def put(self, msg: Inbound) -> None:
        with self._cond:
            self._queues.setdefault(device_key(msg.topic), deque()).append(msg)
            self._size += 1
            self._cond.notify()

    def oldest(self) -> Inbound | None:
        """The waiting message received first (None: nothing waits)."""
        with self._cond:
            heads = [q[0] for q in self._queues.values() if q]
        return min(heads, key=lambda m: m.received_at, default=None)

    def take(self, max_n: int, fill_s: float, timeout_s: float) -> list[Inbound]:
        """Up to ``max_n`` messages: wait at most ``timeout_s`` for the first, then at most
        ``fill_s`` more for the batch to fill; [] if nothing came."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._size > 0, timeout_s):
                return []
            deadline = time.monotonic() + fill_s
            while self._size < max_n:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    break
            return self._round_robin(max_n)

    def _round_robin(self, max_n: int) -> list[Inbound]:
        out: list[Inbound] = []
        while len(out) < max_n and self._size:
            for key in list(self._queues):
                queue = self._queues.pop(key)
                out.append(queue.popleft())
                self._size -= 1
                if queue:  # to the back of the turn order
                    self._queues[key] = queue
                if len(out) == max_n:
                    break
        return out
