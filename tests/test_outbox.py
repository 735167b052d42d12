"""The device outbox: durable, ordered, sequence numbers never go backwards."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from edge_agent.outbox import Outbox


def payload(seq: int) -> bytes:
    return f'{{"seq":{seq}}}'.encode()


def test_seq_is_assigned_in_order_and_rendered_into_the_payload(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    seqs = [box.append("t", payload) for _ in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    rows = box.pending(0, 10)
    assert [r.seq for r in rows] == seqs
    assert [r.payload for r in rows] == [payload(s) for s in seqs]
    assert [r.seq for r in box.pending(3, 10)] == [4, 5]
    assert [r.seq for r in box.pending(0, 2)] == [1, 2]


def test_seq_never_goes_backwards_after_acks_and_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for _ in range(3):
        box.append("t", payload)
    assert box.ack([1, 2, 3]) == 3
    assert box.depth() == 0
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert again.last_seq() == 3
    assert again.append("t", payload) == 4


def test_ack_deletes_only_the_acknowledged_rows(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for _ in range(4):
        box.append("t", payload)
    assert box.ack([2, 4, 99]) == 2
    assert [r.seq for r in box.pending(0, 10)] == [1, 3]


def test_rows_survive_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    code = (
        "import os, sys\n"
        "from edge_agent.outbox import Outbox\n"
        f"box = Outbox({str(path)!r})\n"
        "for i in range(200):\n"
        "    box.append('t', lambda s: str(s).encode())\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)
    assert proc.returncode == -9
    box = Outbox(path)
    assert box.depth() == 200
    assert [r.payload for r in box.pending(0, 300)] == [str(i).encode() for i in range(1, 201)]


def test_concurrent_append_and_ack_lose_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    acked: list[int] = []
    done = threading.Event()

    def drain() -> None:
        cursor = 0
        while not (done.is_set() and box.depth() == 0):
            rows = box.pending(cursor, 50)
            if rows:
                cursor = rows[-1].seq
                box.ack(r.seq for r in rows)
                acked.extend(r.seq for r in rows)

    t = threading.Thread(target=drain)
    t.start()
    for _ in range(1000):
        box.append("t", payload)
    done.set()
    t.join(10)
    assert acked == list(range(1, 1001))
