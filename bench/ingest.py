"""Ingest benchmark: fixes per second through the hub into PostgreSQL, against a bare
paho subscriber measured in the same run, and the vehicle agent's CPU and memory at 10 Hz.

    .venv/bin/python bench/ingest.py [--fixes 20000] [--agent-seconds 30] [--quick]
                                     [--broker URL] [--db URL] [--json PATH]

Uses a private Mosquitto and PostgreSQL (system packages, as the test suite does), or
``--broker`` / ``--db`` for external ones. Prints a table; ``--json`` writes
``hub_fixes_per_s``, ``paho_baseline_msgs_per_s``, ``agent_cpu_pct_10hz``, ``agent_rss_mb``
and the rest. ``--quick`` is a smoke run of some seconds (``QUICK``), not a measurement.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness  # bench/harness.py, beside this script
import psutil

from citytrack import wire
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress, make_client
from edge_agent.outbox import Outbox
from edge_agent.publisher import OutboxPublisher
from hub.ingest.service import HubService

ROOT = Path(__file__).resolve().parent.parent
DRAIN_FIXES = 36_000  # an hour offline at 10 Hz
QUICK = {"fixes": 2000, "agent_seconds": 2.0, "drain_fixes": 2000}
"""What --quick measures: fixes through the hub, agent seconds, outbox backlog drained."""


def make_payloads(device_ids: list[str], n: int, seq0: int) -> list[tuple[str, bytes]]:
    t0 = datetime.now(UTC)
    out = []
    for i in range(n):
        dev = device_ids[i % len(device_ids)]
        seq = seq0 + i // len(device_ids) + 1
        t = t0 + timedelta(seconds=i // len(device_ids))
        fix = wire.Fix(
            device_id=dev,
            seq=seq,
            fix_time=t,
            recv_time=t,
            lat_deg=34.67,
            lon_deg=135.50,
            speed_mps=8.0,
            course_deg=90.0,
            alt_m=5.0,
            quality=1,
            mode=3,
            sats_used=9,
            hdop=0.9,
        )
        out.append((wire.topic_for(wire.Role.VEHICLE, dev, wire.Kind.FIX), wire.encode(fix)))
    return out


def publish_all(url: str, payloads: list[tuple[str, bytes]]) -> None:
    client = make_client(f"bench-pub-{os.getpid()}", BrokerAddress.parse(url))
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(BrokerAddress.parse(url).host, BrokerAddress.parse(url).port)
    client.loop_start()
    infos = [client.publish(topic, body, qos=1) for topic, body in payloads]
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def paho_baseline(url: str, payloads: list[tuple[str, bytes]]) -> float:
    """Messages/s a bare paho subscriber receives (QoS 1), first to last message."""
    got = 0
    first = last = 0.0
    done = threading.Event()
    sub = make_client(f"bench-sub-{os.getpid()}", BrokerAddress.parse(url))

    def on_message(*_: Any) -> None:
        nonlocal got, first, last
        got += 1
        last = time.perf_counter()
        if got == 1:
            first = last
        if got == len(payloads):
            done.set()

    subscribed = threading.Event()
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    address = BrokerAddress.parse(url)
    sub.connect(address.host, address.port)
    sub.loop_start()
    sub.subscribe(wire.subscription(wire.Role.VEHICLE), qos=1)
    subscribed.wait(5)
    start = time.perf_counter()
    publish_all(url, payloads)
    done.wait(120)
    sub.disconnect()
    sub.loop_stop()
    return got / max(last - start, 1e-9)


def hub_rate(url: str, db_url: str, payloads: list[tuple[str, bytes]]) -> tuple[float, int]:
    """Fixes/s stored by the hub, from the first publish to the last row committed."""
    cfg = load_config(ROOT / "config" / "osaka.toml")
    hub = HubService(cfg, BrokerAddress.parse(url), db_url)
    hub.start()
    hub.wait_subscribed(10)
    stored0 = hub.counters.fixes_stored
    start = time.perf_counter()
    publish_all(url, payloads)
    deadline = time.monotonic() + 300
    while hub.counters.fixes_stored - stored0 < len(payloads) and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    stored = hub.counters.fixes_stored - stored0
    hub.stop()
    return stored / elapsed, stored


def drain_rate(url: str, workdir: Path, n: int) -> float:
    """Fixes/s an agent's outbox drains to the broker after an outage (n queued fixes)."""
    box = Outbox(workdir / "drain.db")
    topic = wire.topic_for(wire.Role.VEHICLE, "truck-01", wire.Kind.FIX)
    body = make_payloads(["truck-01"], 1, 0)[0][1]
    for _ in range(n):
        box.append(topic, lambda _seq: body)
    pub = OutboxPublisher(
        box,
        BrokerAddress.parse(url),
        client_id="bench-drain",
        status_topic="bench/drain/status",
        make_status=lambda _on: b"{}",
    )
    start = time.perf_counter()
    pub.start()
    pub.wait_drained(600)
    elapsed = time.perf_counter() - start
    pub.stop()
    return n / elapsed


def agent_usage(url: str, workdir: Path, seconds: float) -> tuple[float, float, int]:
    """CPU % (of one core) and RSS (MB) of `citytrack agent vehicle` reading a 10 Hz pty."""
    exe = str(Path(sys.executable).with_name("citytrack"))
    sim = subprocess.Popen(
        [exe, "sim", "gps", "--pty", "--truck", "truck-01", "--rate", "10"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sim.stdout is not None
    port = sim.stdout.readline().split()[-1]
    agent = subprocess.Popen(
        [
            exe,
            "agent",
            "vehicle",
            "--serial",
            port,
            "--device-id",
            "truck-01",
            "--broker",
            url,
            "--outbox",
            str(workdir / "agent.db"),
        ]
    )
    try:
        proc = psutil.Process(agent.pid)
        time.sleep(3)  # imports and connect
        proc.cpu_percent(None)
        time.sleep(seconds)
        cpu = proc.cpu_percent(None)
        rss = proc.memory_info().rss / 2**20
        fixes = Outbox(workdir / "agent.db").last_seq()
    finally:
        for p in (agent, sim):
            p.terminate()
            p.wait(10)
    return cpu, rss, fixes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixes", type=int, default=20000)
    ap.add_argument("--agent-seconds", type=float, default=30.0)
    ap.add_argument("--drain-fixes", type=int, default=DRAIN_FIXES, help="outbox backlog")
    args = harness.parse(ap, QUICK)
    with ExitStack() as stack:
        work = harness.scratch("citytrack-bench-")
        url = harness.broker_url(args.broker, work, stack)
        db_url = harness.database_url(args.db, work, stack)
        devices = [t.device_id for t in load_config(ROOT / "config" / "osaka.toml").city.trucks]
        baseline = paho_baseline(url, make_payloads(devices, args.fixes, 0))
        seq0 = int(time.time()) * 1000  # fresh keys, so reruns on one database are not duplicates
        rate, stored = hub_rate(url, db_url, make_payloads(devices, args.fixes, seq0))
        drain = drain_rate(url, work, args.drain_fixes)
        cpu, rss, agent_fixes = agent_usage(url, work, args.agent_seconds)
    figures = {
        "fixes": args.fixes,
        "hub_fixes_per_s": round(rate),
        "hub_fixes_stored": stored,
        "paho_baseline_msgs_per_s": round(baseline),
        "hub_vs_paho_ratio": round(rate / baseline, 3),
        "outbox_drain_fixes": args.drain_fixes,
        "outbox_drain_fixes_per_s": round(drain),
        "drain_vs_live_10hz_ratio": round(drain / 10.0),
        "agent_cpu_pct_10hz": round(cpu, 2),
        "agent_rss_mb": round(rss, 1),
        "agent_fixes_in_window": agent_fixes,
    }
    harness.report("citytrack ingest benchmark", figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
