"""End to end on real parts: simulator -> pty -> agent (pyserial) -> Mosquitto -> hub ->
PostgreSQL, with an agent killed (SIGKILL) and the broker restarted mid-run.

Every fix the agents queued must be stored exactly once, and the scripted episodes must
produce their alerts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from app.services import MosquittoBroker
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress
from edge_agent.outbox import Outbox
from evaluation.episodes import match_episodes
from firmware_sim.labels import EpisodeLabel
from hub.ingest.service import HubService
from hub.storage.fleet import AlertRepository

CITYTRACK = str(Path(sys.executable).with_name("citytrack"))
TRUCKS = ["truck-01", "truck-03"]  # harsh braking; speeding in a school zone
pytestmark = pytest.mark.slow


def outbox_depth(path: Path) -> int:
    box = Outbox(path)
    try:
        return box.depth()
    finally:
        box.close()


def outbox_last_seq(path: Path) -> int:
    box = Outbox(path)
    try:
        return box.last_seq()
    finally:
        box.close()


class Truck:
    def __init__(self, device_id: str, workdir: Path, broker_url: str) -> None:
        self.device_id = device_id
        self.labels = workdir / f"{device_id}.labels.jsonl"
        self.outbox = workdir / f"{device_id}.outbox.db"
        self.broker_url = broker_url
        self.sim = subprocess.Popen(
            [
                CITYTRACK,
                "sim",
                "gps",
                "--pty",
                "--truck",
                device_id,
                "--rate",
                "5",
                "--seed",
                "7",
                "--labels",
                str(self.labels),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.sim.stdout is not None
        first = self.sim.stdout.readline().split()
        assert first and first[0] == "PTY", f"simulator said {first!r}"
        self.port = first[1]
        self.agent = self.start_agent()

    def start_agent(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                CITYTRACK,
                "agent",
                "vehicle",
                "--serial",
                self.port,
                "--device-id",
                self.device_id,
                "--broker",
                self.broker_url,
                "--outbox",
                str(self.outbox),
            ],
        )

    def kill_agent_and_restart(self) -> None:
        self.agent.send_signal(signal.SIGKILL)
        self.agent.wait(5)
        time.sleep(1.0)
        self.agent = self.start_agent()

    def stop(self) -> None:
        self.sim.send_signal(signal.SIGTERM)
        self.sim.wait(10)
        deadline = time.monotonic() + 30
        while outbox_depth(self.outbox) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.agent.send_signal(signal.SIGTERM)
        assert self.agent.wait(15) == 0

    def read_labels(self) -> list[EpisodeLabel]:
        lines = self.labels.read_text().splitlines()
        return [EpisodeLabel.from_json(line) for line in lines if line.strip()]


def test_every_fix_stored_once_across_agent_kill_and_broker_restart(
    tmp_path: Path, pg_url: str, own_broker: MosquittoBroker
) -> None:
    cfg = load_config()
    broker = own_broker
    hub = HubService(cfg, BrokerAddress.parse(broker.url), pg_url)
    hub.start()
    assert hub.wait_subscribed(10)
    trucks = [Truck(t, tmp_path, broker.url) for t in TRUCKS]
    try:
        time.sleep(8)
        trucks[0].kill_agent_and_restart()
        time.sleep(5)
        broker.stop()  # a broker restart: the agents keep queueing in their outboxes
        time.sleep(3)
        broker.start()
        time.sleep(28)
        for truck in trucks:
            truck.stop()
        assert hub.wait_idle(30)
        time.sleep(1.0)
        assert hub.wait_idle(30)
    finally:
        for truck in trucks:
            for proc in (truck.sim, truck.agent):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if truck.sim.stdout is not None:
                truck.sim.stdout.close()
        hub.stop()
        broker.stop()

    with psycopg.connect(pg_url) as conn:
        for truck in trucks:
            last_seq = outbox_last_seq(truck.outbox)
            assert last_seq > 100, f"{truck.device_id} queued only {last_seq} fixes"
            count, distinct, lo, hi = conn.execute(
                "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM fixes"
                " WHERE device_id = %s",
                (truck.device_id,),
            ).fetchone()
            assert (count, distinct, lo, hi) == (last_seq, last_seq, 1, last_seq)
        alerts = AlertRepository(conn).query(limit=1000)
    labels = [label for truck in trucks for label in truck.read_labels()]
    assert {(lb.device_id, lb.alert_kind) for lb in labels} >= {
        ("truck-01", "harsh_braking"),
        ("truck-03", "speeding"),
    }
    score = match_episodes(labels, alerts)
    assert score.missed == 0 and score.false == 0, score
    assert hub.counters.dead_letters == 0
