"""Chaos: trucks and stations keep sending while the hub, Mosquitto, PostgreSQL and the
devices are killed (SIGKILL) and restarted at random; then what was lost.

    python bench/chaos.py [--trucks 50] [--stations 6] [--duration-s 600] [--kills 12]
                          [--parts hub,broker,postgres,fleet] [--seed 1] [--json PATH]
                          [--quick]

Everything runs here, as separate processes so that each can die as a crash kills it: a
private PostgreSQL and Mosquitto (persistence saved every second, as
``citytrack broker config`` sets it), the hub (``HubService``, the trucks added to the
city), and one "fleet" process holding every device's outbox and publisher (a vehicle at 1
Hz, a fix per second, with a harsh stop each minute; a station a passage every 40 s of a
child only it sees). The notices go to the LINE/webhook/e-mail stand-ins of the demo, which
live in this process and are never killed.

After ``--duration-s`` the fleet stops making messages, everything is restarted once more
and left to drain; then:

    sent              fixes the trucks' outboxes assigned a seq to
    stored            fixes in the database;  lost = sent - distinct stored
    duplicates        fixes stored more than once (same device and seq)
    alerts_expected   a fault-free run of the same input: the stored fixes of each truck, in
                      seq order, through fresh detectors
    alerts_stored     alerts the hub stored
    events_expected   the stored passages through a fresh child-watch engine (no timers)
    events_stored     passage-driven watch events the hub stored
    notices_expected  notices the hub decided to send (not dropped or deferred by policy)
    notices_delivered distinct notices that reached the stand-ins
    max_recovery_s    longest time from restarting a killed part to the next fix stored

Target: lost 0, duplicates 0, alerts and notices equal to their expected counts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness  # bench/harness.py, beside this script
import psycopg

BRAKE = [11.0] * 10 + [6.0, 1.0, 0.0] + [0.0] * 5  # one harsh stop, repeated each minute
PASSAGE_EVERY_S = 40
PARTS = ("hub", "broker", "postgres", "fleet")
ROOT = Path(__file__).resolve().parent.parent


# --- the processes that are killed -------------------------------------------------------


def _city(trucks: int, sinks: dict[str, Any] | None = None) -> Any:
    """The repository's city with ``trucks`` chaos trucks added (and, for the hub, the
    watch's channels pointed at the stand-ins whose addresses ``sinks`` gives)."""
    from citytrack.config import load_config

    cfg = load_config()
    proto = cfg.city.trucks[0]
    extra = [
        proto.model_copy(update={"device_id": truck_id(i), "name": truck_id(i)})
        for i in range(trucks)
    ]
    city = cfg.city.model_copy(update={"trucks": [*cfg.city.trucks, *extra]})
    cfg = cfg.model_copy(update={"city": city})
    if sinks is not None:
        from app.demo.sinks import route_to

        watch = route_to(
            cfg.watch, sinks["line_api_base"], sinks["smtp_port"], sinks["webhook_base"]
        )
        cfg = cfg.model_copy(update={"watch": watch})
    return cfg


def truck_id(i: int) -> str:
    return f"chaos-{i:03d}"


def hub_worker(args: argparse.Namespace) -> None:
    from citytrack.mqtt import BrokerAddress
    from hub.ingest.service import HubAlreadyRunningError, HubService

    cfg = _city(args.trucks, json.loads(args.sinks))
    stop = _on_sigterm()
    hub = HubService(cfg, BrokerAddress.parse(args.broker), args.db)
    deadline = time.monotonic() + 30
    while True:  # as a service manager restarts it: the killed hub's lock may linger a moment
        try:
            hub.start()
            break
        except HubAlreadyRunningError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    stop.wait()  # SIGTERM; SIGKILL, which is the point, ends it anywhere
    hub.stop()


def _on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def fleet_worker(args: argparse.Namespace) -> None:
    """Every device: an outbox and its publisher, as the agents run them."""
    from citytrack import wire
    from citytrack.mqtt import BrokerAddress
    from edge_agent.outbox import Outbox
    from edge_agent.publisher import OutboxPublisher

    cfg = _city(args.trucks)
    address = BrokerAddress.parse(args.broker)
    start = datetime.fromtimestamp(args.start, UTC)
    outdir = Path(args.outboxes)

    def device(device_id: str, role: wire.Role) -> tuple[Outbox, OutboxPublisher]:
        box = Outbox(outdir / f"{device_id}.db")

        def status(online: bool) -> bytes:
            return wire.encode(
                wire.DeviceStatus(device_id=device_id, online=online, time=wire.utcnow())
            )

        pub = OutboxPublisher(
            box,
            address,
            client_id=f"citytrack-{device_id}",
            status_topic=wire.topic_for(role, device_id, wire.Kind.STATUS),
            make_status=status,
            watermark_topic=wire.watermark_topic(device_id),
        )
        pub.start()
        return box, pub

    trucks = [device(truck_id(i), wire.Role.VEHICLE) for i in range(args.trucks)]
    stations = [s for s in cfg.watch.stations if s.kind != "mobile"][: args.stations]
    tags = [t for t in cfg.watch.tags if t.kind == "ibeacon"]
    beacons = [device(s.id, wire.Role.STATION) for s in stations]
    stop = Path(args.stop_file)
    stopped = _on_sigterm()
    k = max(0, int(time.time() - args.start))
    while not stop.exists() and not stopped.is_set():
        t = start + timedelta(seconds=k)
        for i, (box, pub) in enumerate(trucks):
            _append_fix(box, truck_id(i), speed_mps(k, i), distance_m(k, i), t)
            pub.notify()
        if k % PASSAGE_EVERY_S == 0:
            for j, (box, pub) in enumerate(beacons):
                mine = tags[j :: len(beacons)]  # each child seen by one station only
                if mine:
                    tag = mine[(k // PASSAGE_EVERY_S) % len(mine)]
                    _append_passage(box, stations[j].id, tag.ibeacon_id(), t)
                    pub.notify()
        k += 1
        time.sleep(max(0.0, args.start + k - time.time()))
    stopped.wait()  # keep publishing until the run stops us
    for _box, pub in [*trucks, *beacons]:
        pub.stop()


def speed_mps(k: int, i: int) -> float:
    """Truck ``i``'s speed at second ``k``: cruising, with a harsh stop each minute."""
    phase = (k + 7 * i) % 60
    return BRAKE[phase] if phase < len(BRAKE) else 11.0


def distance_m(k: int, i: int) -> float:
    """How far truck ``i`` has driven by second ``k`` (its speeds summed)."""
    cycle = sum(speed_mps(j, 0) for j in range(60))
    whole, part = divmod(k, 60)
    return whole * cycle + sum(speed_mps(j, i) for j in range(whole * 60, whole * 60 + part))


def _append_fix(box: Any, device_id: str, speed: float, north_m: float, t: datetime) -> None:
    from citytrack import wire

    topic = wire.topic_for(wire.Role.VEHICLE, device_id, wire.Kind.FIX)

    def payload(seq: int) -> bytes:
        return wire.encode(
            wire.Fix(
                device_id=device_id, seq=seq, fix_time=t, recv_time=t,
                lat_deg=34.60 + north_m / 111_320.0, lon_deg=135.50,
                speed_mps=speed, course_deg=0.0, quality=1, sats_used=9, hdop=0.8,
            )
        )  # fmt: skip

    box.append(topic, payload)


def _append_passage(box: Any, station_id: str, beacon_id: str, t: datetime) -> None:
    from citytrack import wire

    topic = wire.topic_for(wire.Role.STATION, station_id, wire.Kind.PASSAGE)

    def payload(seq: int) -> bytes:
        return wire.encode(
            wire.Passage(
                device_id=station_id, seq=seq, beacon_kind=wire.BeaconKind.IBEACON,
                beacon_id=beacon_id, first_seen=t - timedelta(seconds=4),
                last_seen=t + timedelta(seconds=4), closest_time=t, peak_rssi_dbm=-60.0,
                adv_count=8,
            )
        )  # fmt: skip

    box.append(topic, payload)


# --- the run -----------------------------------------------------------------------------


class Part:
    """A process this run starts, kills with SIGKILL and starts again."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.argv, self.log = name, argv, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=out, cwd=ROOT)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def kill_postgres(pg: Any) -> None:
    """SIGKILL the postmaster (as a crash would), then wait until it is gone."""
    pid = int((pg.workdir / "data" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def newest_store(db_url: str) -> datetime | None:
    try:
        with psycopg.connect(db_url, connect_timeout=2) as c:
            row = c.execute("SELECT max(ingest_time) FROM fixes").fetchone()
            return row[0] if row else None
    except psycopg.Error:
        return None


def wait_recovered(db_url: str, since: datetime, timeout_s: float = 120) -> float | None:
    """Seconds until a fix is stored after ``since`` (None: not within ``timeout_s``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        newest = newest_store(db_url)
        if newest is not None and newest > since:
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    from app.demo.sinks import NotificationSinks
    from app.services import MosquittoBroker, SystemPostgres

    rng = random.Random(args.seed)
    work = harness.scratch("citytrack-chaos-")
    with ExitStack() as stack:
        pg = SystemPostgres(work / "pg").start()
        stack.callback(pg.stop)
        mq = MosquittoBroker(work / "mq").start()
        stack.callback(mq.stop)
        sinks = NotificationSinks().start()
        stack.callback(sinks.stop)
        addresses = {
            "line_api_base": sinks.line_api_base,
            "smtp_port": sinks.smtp_port,
            "webhook_base": sinks.webhooks.url,
        }
        me = [sys.executable, str(Path(__file__).resolve())]
        common = ["--trucks", str(args.trucks), "--broker", mq.url]
        hub = Part(
            "hub",
            [*me, "--worker", "hub", *common, "--db", pg.url, "--sinks", json.dumps(addresses)],
            work / "hub.log",
        )
        (work / "outboxes").mkdir()
        stop_file = work / "stop"
        fleet_start = int(time.time()) + 2
        fleet = Part(
            "fleet",
            [*me, "--worker", "fleet", *common, "--stations", str(args.stations),
             "--outboxes", str(work / "outboxes"), "--start", str(fleet_start),
             "--stop-file", str(stop_file)],
            work / "fleet.log",
        )  # fmt: skip
        hub.start()
        stack.callback(hub.stop)
        fleet.start()
        stack.callback(fleet.stop)
        kill: dict[str, Callable[[], None]] = {
            "hub": hub.kill,
            "broker": mq.kill,
            "postgres": lambda: kill_postgres(pg),
            "fleet": fleet.kill,
        }
        start: dict[str, Callable[[], object]] = {
            "hub": hub.start,
            "broker": mq.start,
            "postgres": pg.start,
            "fleet": fleet.start,
        }
        recoveries: list[float] = []
        kills: list[str] = []
        t0 = time.monotonic()
        times = sorted(rng.uniform(0.1, 0.85) * args.duration_s for _ in range(args.kills))
        for at in times:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            parts = args.parts.split(",")
            fresh = [p for p in parts if p not in kills]  # one of each first
            victim = rng.choice(fresh if fresh and args.kills >= len(parts) else parts)
            kills.append(victim)
            kill[victim]()
            time.sleep(rng.uniform(1.0, 5.0))
            restarted = datetime.now(UTC)
            start[victim]()
            took = wait_recovered(pg.url, restarted)
            recoveries.append(float("inf") if took is None else took)
            print(
                f"  killed {victim:<8} recovered in {'>120' if took is None else f'{took:.2f}'} s"
            )
        time.sleep(max(0.0, t0 + args.duration_s - time.monotonic()))
        stop_file.touch()
        drained = _drain(work / "outboxes", timeout_s=180)
        _settle_notices(pg.url, timeout_s=60)
        figures = _count(pg.url, work / "outboxes", args.trucks)
        delivered = {(r.channel, r.to, r.text) for r in sinks.received()}
        figures["notices_delivered"] = len(delivered)
        figures["notices_delivered_twice"] = len(sinks.received()) - len(delivered)
        figures["max_recovery_s"] = round(max(recoveries, default=0.0), 2)
        figures["kills"] = ",".join(kills)
        figures["outboxes_drained"] = drained
        return figures


def _drain(outboxes: Path, timeout_s: float) -> bool:
    """Wait until every device's outbox is empty (the hub confirmed everything)."""
    import sqlite3

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = 0
        for db in outboxes.glob("*.db"):
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                left += int(c.execute("SELECT count(*) FROM outbox").fetchone()[0])
        if left == 0:
            return True
        time.sleep(0.5)
    return False


def _settle_notices(db_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(db_url) as c:
            row = c.execute("SELECT count(*) FROM notifications WHERE status = 'queued'").fetchone()
        if row is not None and row[0] == 0:
            return
        time.sleep(0.5)


def _count(db_url: str, outboxes: Path, trucks: int) -> dict[str, Any]:
    import sqlite3

    from analytics.driving.detectors import VehicleDetectors
    from analytics.driving.roads import limit_lookup
    from analytics.driving.zones import ZoneIndex
    from analytics.watch.engine import WatchEventEngine
    from citytrack.wire import Fix
    from hub.storage.db import utc_row
    from hub.storage.fleet import FIX_COLUMNS

    cfg = _city(trucks)
    sent = 0
    for i in range(trucks):
        db = outboxes / f"{truck_id(i)}.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            row = c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
            sent += int(row[0]) if row else 0
    with psycopg.connect(db_url) as c:
        stored, distinct = c.execute(
            "SELECT count(*), count(DISTINCT (device_id, seq)) FROM fixes "
            "WHERE device_id LIKE 'chaos-%'"
        ).fetchone() or (0, 0)
        alerts_stored = c.execute("SELECT count(*) FROM alerts").fetchone()
        cols = ", ".join(col for col in FIX_COLUMNS if col != "ingest_time")
        expected = 0
        zones = ZoneIndex(cfg.city.speed_zones, cfg.city.default_road_limit_kmh)
        for truck in cfg.city.trucks:
            rows = c.execute(
                f"SELECT {cols} FROM fixes WHERE device_id = %s ORDER BY seq",
                (truck.device_id,),
            ).fetchall()
            names = [col for col in FIX_COLUMNS if col != "ingest_time"]
            detectors = VehicleDetectors(
                cfg.city.vehicle_classes[truck.vehicle_class],
                cfg.detectors.speeding,
                zones,
                quality=cfg.detectors.quality,
                limit_for=limit_lookup(cfg.city),
            )
            for r in rows:
                row = utc_row(dict(zip(names, r, strict=True)), "fix_time", "recv_time")
                expected += len(detectors.step(Fix(**row)))
        passages = c.execute(
            "SELECT child_id, station_id, closest_time FROM passages "
            "WHERE child_id IS NOT NULL ORDER BY closest_time"
        ).fetchall()
        events_stored = c.execute(
            "SELECT count(*) FROM watch_events WHERE kind NOT IN ('not_arrived', 'left_area')"
        ).fetchone()
        notices = c.execute(
            "SELECT count(*) FROM notifications WHERE status IN ('queued', 'delivered', 'failed')"
        ).fetchone()
        dead = c.execute(
            "SELECT count(*), string_agg(DISTINCT left(reason, 120), ' | ') FROM dead_letters"
        ).fetchone() or (0, None)
    from zoneinfo import ZoneInfo

    engine = WatchEventEngine(cfg.watch, ZoneInfo(cfg.city.timezone))
    stations = {s.id: s for s in cfg.watch.stations}
    events = [
        e
        for child, station, t in passages
        for e in engine.on_passage(str(child), stations[str(station)], t)
        if e.kind.value not in ("not_arrived", "left_area")
    ]
    return {
        "sent": sent,
        "stored": int(stored),
        "lost": sent - int(distinct),
        "duplicates": int(stored) - int(distinct),
        "alerts_expected": expected,
        "alerts_stored": int(alerts_stored[0]) if alerts_stored else 0,
        "events_expected": len(events),
        "events_stored": int(events_stored[0]) if events_stored else 0,
        "notices_expected": int(notices[0]) if notices else 0,
        "dead_letters": int(dead[0]),
        "dead_letter_reasons": dead[1] or "",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trucks", type=int, default=50)
    ap.add_argument("--stations", type=int, default=6)
    ap.add_argument("--duration-s", type=float, default=600)
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--parts", default=",".join(PARTS), help="which to kill, comma-separated (default all)"
    )
    ap.add_argument("--quick", action="store_true", help="5 trucks, 2 stations, 30 s, 4 kills")
    ap.add_argument("--json", type=Path)
    # the killed processes (this script started again)
    ap.add_argument("--worker", choices=["hub", "fleet"], help=argparse.SUPPRESS)
    ap.add_argument("--broker", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--sinks", help=argparse.SUPPRESS)
    ap.add_argument("--outboxes", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--stop-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "hub":
        hub_worker(args)
        return 0
    if args.worker == "fleet":
        fleet_worker(args)
        return 0
    if args.quick:
        args.trucks, args.stations, args.duration_s, args.kills = 5, 2, 30, 4
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        ap.error(f"--parts: unknown {', '.join(sorted(unknown))} (choose from {', '.join(PARTS)})")
    print(
        f"chaos: {args.trucks} trucks at 1 Hz, {args.stations} stations, "
        f"{args.duration_s:g} s, {args.kills} kills"
    )
    figures = run(args)
    harness.report("chaos: what was lost", figures, args.json)
    ok = (
        figures["lost"] == 0
        and figures["duplicates"] == 0
        and figures["alerts_stored"] == figures["alerts_expected"]
        and figures["notices_delivered"] == figures["notices_expected"]
    )
    print("target met" if ok else "TARGET MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
