"""The device's durable outbox: SQLite in WAL mode, one row per message.

A message is written here before anything is sent and deleted only when the hub has
confirmed it (its retained watermark: ``confirm``), or, for a publisher that confirms on
the broker's PUBACK, when the broker has (``ack``). The row id is the message's ``seq``:
SQLite's AUTOINCREMENT never reuses an id, even after rows are deleted or the process is
killed, so a device's sequence numbers never go backwards while its outbox file lives.

A new outbox (a replaced unit, a wiped card) does not know where the device's sequence
stands at the hub: until ``settle_floor`` is called it is *unsettled*, and its publisher
sends nothing; ``settle_floor(watermark)`` renumbers the rows it holds to follow the hub's
watermark, so that no new message reuses a seq the hub has already stored.

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
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_LEGACY = (
    "INSERT OR IGNORE INTO outbox_meta (key, value) "
    "SELECT 'floor_settled', 1 FROM sqlite_sequence WHERE name = 'outbox'"
)


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
        legacy = not self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox_meta'"
        ).fetchone()
        self._db.executescript(_SCHEMA)
        if legacy:  # made before floors: its seqs already follow what it sent
            self._db.execute(_LEGACY)

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

    def confirm(self, upto_seq: int) -> int:
        """The hub has taken in every message up to ``upto_seq``: delete those rows and
        remember the watermark; returns how many rows were deleted."""
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM outbox WHERE seq <= ?", (upto_seq,))
            deleted = self._db.total_changes - before
            self._db.execute(
                "INSERT INTO outbox_meta (key, value) VALUES ('watermark', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                (upto_seq,),
            )
            self._db.execute("COMMIT")
            return deleted

    def watermark(self) -> int:
        """The highest seq the hub has confirmed (0: none yet)."""
        return self._meta("watermark")

    @property
    def floor_settled(self) -> bool:
        """Whether this outbox's seqs are known to follow the hub's (see the module doc)."""
        return bool(self._meta("floor_settled"))

    def settle_floor(self, hub_watermark: int, rewrite: Callable[[bytes, int], bytes]) -> int:
        """Make every row's seq follow ``hub_watermark`` (0: the hub knows no message of
        this device), renumbering the rows held so far in order (``rewrite(payload, seq)``
        puts the new seq into a payload), and mark the floor settled. Returns how far the
        seqs moved."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT min(seq) FROM outbox").fetchone()
                lowest = int(row[0]) if row and row[0] is not None else None
                shift = 0
                if lowest is not None and lowest <= hub_watermark:
                    shift = hub_watermark
                    rows = self._db.execute(
                        "SELECT seq, payload FROM outbox ORDER BY seq DESC"
                    ).fetchall()
                    for seq, payload in rows:  # highest first: no key collides
                        new = int(seq) + shift
                        self._db.execute(
                            "UPDATE outbox SET seq = ?, payload = ? WHERE seq = ?",
                            (new, rewrite(bytes(payload), new), seq),
                        )
                top = self._db.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
                ).fetchone()
                floor = max(hub_watermark, int(top[0]) + shift if top else 0)
                if top:  # sqlite_sequence has no key: update its row, or add the first
                    self._db.execute(
                        "UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'", (floor,)
                    )
                else:
                    self._db.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (floor,)
                    )
                self._db.execute(
                    "INSERT OR REPLACE INTO outbox_meta (key, value) VALUES ('floor_settled', 1)"
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return shift

    def _meta(self, key: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM outbox_meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

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
