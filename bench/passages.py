"""Child-watch benchmark: a simulated school morning at city scale through the real
pipeline (station agents -> Mosquitto -> hub -> PostgreSQL -> guardian notices).

    .venv/bin/python bench/passages.py [--children 200] [--stations 20] [--speedup 30]
                                       [--quick] [--broker URL] [--db URL] [--json PATH]

Prints passage recall and the false-passage rate against the simulator's ground truth,
and the latency from the moment a station completes a passage (its outbox append: the
advertisement that closed the visit, or the away timeout) to the guardian notice handed to
its channel, in wall-clock seconds. The same run measures the first leg alone (passage
completed -> stored by the hub) as the baseline the notice latency builds on.
``--json`` writes ``recall``, ``false_passage_rate``, ``latency_p95_s`` and the rest.

Uses a private Mosquitto and PostgreSQL (system packages, as the test suite does), or
``--broker`` / ``--db`` for external ones. ``--quick`` is a smoke run of some seconds
(``QUICK``), not a measurement.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import harness  # bench/harness.py, beside this script
import numpy as np
import psycopg

from app.demo.sinks import NotificationSinks, route_to_sinks
from app.demo.watch import WatchRig
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress
from edge_agent.outbox import Outbox
from evaluation.passages import PassageKey, score_passages
from firmware_sim.watch_city import synthetic_city
from hub.ingest.service import HubService

ROOT = Path(__file__).resolve().parent.parent
MORNING = timedelta(minutes=70)  # 07:20 - 08:30 local
QUICK = {"children": 20, "stations": 4, "speedup": 600.0}
"""What --quick plays: a small school's morning in some seconds."""


class TimedOutbox(Outbox):
    """An outbox that notes the wall-clock (monotonic) second each row was appended."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.appended: dict[int, float] = {}

    def append(self, topic: str, make_payload: Callable[[int], bytes]) -> int:
        seq = super().append(topic, make_payload)
        self.appended[seq] = time.monotonic()
        return seq


def run_morning(args: argparse.Namespace, work: Path, stack: ExitStack) -> dict[str, Any]:
    broker_url = harness.broker_url(args.broker, work, stack)
    db_url = harness.database_url(args.db, work, stack)
    sinks = NotificationSinks().start()
    stack.callback(sinks.stop)
    watch = synthetic_city(args.children, args.stations, seed=args.seed)
    base = load_config(ROOT / "config" / "osaka.toml")
    cfg = base.model_copy(update={"watch": route_to_sinks(watch, sinks)})
    address = BrokerAddress.parse(broker_url)
    boxes: dict[str, TimedOutbox] = {}

    def timed(path: Path) -> TimedOutbox:
        boxes[path.stem] = TimedOutbox(path)
        return boxes[path.stem]

    day = date(2026, 11, 26)  # a Thursday
    rig = WatchRig(
        cfg, work, args.seed, lambda _s: address, args.speedup, day=day, outbox_factory=timed
    )
    hub = HubService(cfg, address, db_url, watch_clock=rig.clock.now)
    hub.start()
    stack.callback(hub.stop)
    hub.wait_subscribed(10)
    rig.start()
    while rig.clock.now() < rig.clock.sim_start + MORNING:
        time.sleep(0.5)
    rig.stop(drain_timeout_s=30)
    hub.wait_idle(30)
    assert hub.watch is not None
    hub.watch.notifier.wait_idle(30)
    return measure(db_url, rig, boxes)


def measure(db_url: str, rig: WatchRig, boxes: dict[str, TimedOutbox]) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "SELECT station_id, seq, child_id, closest_time, ingest_time FROM passages"
        ).fetchall()
        notices = conn.execute(
            "SELECT p.station_id, p.seq, n.handed_at FROM notifications n JOIN passages p"
            " ON p.child_id = n.child_id AND p.station_id = n.station_id"
            " AND p.closest_time = n.event_time"
            " WHERE n.kind = 'passed' AND n.handed_at IS NOT NULL"
        ).fetchall()
    truth = [PassageKey(t.child_id, t.station_id, t.closest_time) for t in rig.morning.truth]
    detected = [PassageKey(c, s, t) for s, _q, c, t, _i in stored if c is not None]
    score = score_passages(truth, detected)
    clock = rig.clock
    notice_s = [clock.to_wall(h) - boxes[s].appended[q] for s, q, h in notices]
    stored_s = [clock.to_wall(i) - boxes[s].appended[q] for s, q, _c, _t, i in stored]
    return {
        "children": len(rig.cfg.watch.children),
        "stations": len(rig.stations),
        "true_passages": score.truth,
        "passages_detected": score.detected,
        "recall": round(score.recall, 4),
        "false_passage_rate": round(score.false_rate, 4),
        "notices_measured": len(notice_s),
        "latency_p50_s": _pct(notice_s, 50),
        "latency_p95_s": _pct(notice_s, 95),
        "latency_max_s": _pct(notice_s, 100),
        "baseline_store_p50_s": _pct(stored_s, 50),
        "baseline_store_p95_s": _pct(stored_s, 95),
        "speedup": clock.speedup,
    }


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--children", type=int, default=200)
    ap.add_argument("--stations", type=int, default=20)
    ap.add_argument("--speedup", type=float, default=30.0, help="simulated s per wall s")
    ap.add_argument("--seed", type=int, default=1)
    args = harness.parse(ap, QUICK)
    with ExitStack() as stack:
        figures = run_morning(args, harness.scratch("citytrack-passages-"), stack)
    figures["measured_at"] = datetime.now().isoformat(timespec="seconds")
    title = "citytrack child-watch benchmark (targets: recall >= 0.99, false <= 0.005, p95 <= 3 s)"
    harness.report(title, figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
