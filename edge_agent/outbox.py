"""The device's durable outbox: SQLite in WAL mode, one row per message.

A message is written here before anything is sent and deleted only when the broker has
acknowledged it (QoS 1 PUBACK). The row id is the message's ``seq``: SQLite's
AUTOINCREMENT never reuses an id, even after rows are deleted or the process is killed,
so a device's sequence numbers never go backwards while its outbox file lives.

Thread-safe: the reader thread appends while the publisher thread reads and acks.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    topic: str
    payload: bytes


class Outbox:
    """Durable FIFO of (seq, topic, payload).

    ``synchronous=NORMAL`` in WAL mode survives a killed process (the WAL is in the OS
    page cache); ``durable=True`` uses ``synchronous=FULL`` to survive power loss too.
    """

    def __init__(self, path: Path | str, *, durable: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.executescript(_SCHEMA)

    def append(self, topic: str, make_payload: Callable[[int], bytes]) -> int:
        """Store one message; ``make_payload(seq)`` renders it with its sequence number."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT INTO outbox (topic, payload) VALUES (?, x'')", (topic,)
                )
                seq = int(cur.lastrowid or 0)
                self._db.execute(
                    "UPDATE outbox SET payload = ? WHERE seq = ?", (make_payload(seq), seq)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return seq

    def pending(self, after_seq: int, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` rows with seq > after_seq, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [OutboxRow(int(s), str(t), bytes(p)) for s, t, p in rows]

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged rows; returns how many were deleted."""
        batch = [(s,) for s in seqs]
        if not batch:
            return 0
        with self._lock:
            before = self._db.total_changes
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", batch)
            return self._db.total_changes - before

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def last_seq(self) -> int:
        """The highest seq ever assigned (0 for a new outbox)."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
            ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
