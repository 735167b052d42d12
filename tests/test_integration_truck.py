"""End to end on real parts: simulator -> pty -> agent (pyserial) -> Mosquitto -> hub ->
PostgreSQL, with an agent killed (SIGKILL) and the broker restarted mid-run.

Every fix the agents queued must be stored exactly once, and the scripted episodes must
produce their alerts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
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
from tests.waiting import wait_until

CITYTRACK = str(Path(sys.executable).with_name("citytrack"))
TRUCKS = ["truck-01", "truck-03"]  # harsh braking; speeding in a school zone
EXPECTED = {("truck-01", "harsh_braking"), ("truck-03", "speeding")}
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

    def kill_agent_and_restart(self) -> int:
        """SIGKILL the agent and start a new one; returns the last seq the killed one queued."""
        self.agent.send_signal(signal.SIGKILL)
        self.agent.wait(5)
        last = outbox_last_seq(self.outbox)
        self.agent = self.start_agent()
        return last

    def stop(self) -> None:
        self.sim.send_signal(signal.SIGTERM)
        self.sim.wait(10)
        what = f"{self.device_id}'s outbox to drain"
        wait_until(lambda: outbox_depth(self.outbox) == 0, 30, what, every_s=0.05)
        self.agent.send_signal(signal.SIGTERM)
        assert self.agent.wait(15) == 0

    def read_labels(self) -> list[EpisodeLabel]:
        if not self.labels.exists():
            return []
        lines = self.labels.read_text().splitlines()
        return [EpisodeLabel.from_json(line) for line in lines if line.strip()]


def stored(conn: psycopg.Connection, device_id: str) -> tuple[int, int]:
    """(fixes stored, highest seq stored) of one device."""
    row = conn.execute(
        "SELECT count(DISTINCT seq), coalesce(max(seq), 0) FROM fixes WHERE device_id = %s",
        (device_id,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def every_episode_alerted(conn: psycopg.Connection, trucks: list[Truck]) -> bool:
    """The expected episodes are labelled, and each labelled episode has its alert."""
    labels = [label for truck in trucks for label in truck.read_labels()]
    if not {(lb.device_id, lb.alert_kind) for lb in labels} >= EXPECTED:
        return False
    return match_episodes(labels, AlertRepository(conn).query(limit=1000)).missed == 0


def test_every_fix_stored_once_across_agent_kill_and_broker_restart(
    tmp_path: Path, pg_url: str, own_broker: MosquittoBroker
) -> None:
    cfg = load_config()
    broker = own_broker
    hub = HubService(cfg, BrokerAddress.parse(broker.url), pg_url)
    hub.start()
    assert hub.wait_subscribed(10)
    trucks = [Truck(t, tmp_path, broker.url) for t in TRUCKS]
    db = psycopg.connect(pg_url, autocommit=True)
    try:
        wait_until(
            lambda: all(stored(db, t.device_id)[0] >= 10 for t in trucks),
            60,
            "the first fixes of each truck stored",
            every_s=0.05,
        )
        first = trucks[0]
        killed_at = first.kill_agent_and_restart()
        what = "fixes of the restarted agent stored"
        wait_until(lambda: stored(db, first.device_id)[1] > killed_at, 60, what, every_s=0.05)
        broker.stop()  # a broker restart: the agents keep queueing in their outboxes
        wait_until(
            lambda: all(outbox_depth(t.outbox) >= 10 for t in trucks),
            30,
            "each truck to queue fixes while the broker is down",
            every_s=0.05,
        )
        broker.start()
        what = "every scripted episode labelled and alerted, 100 fixes queued by each truck"
        wait_until(
            lambda: (
                every_episode_alerted(db, trucks)
                and all(outbox_last_seq(t.outbox) > 100 for t in trucks)
            ),
            120,
            what,
            every_s=0.1,
        )
        for truck in trucks:
            truck.stop()
        queued = {t.device_id: outbox_last_seq(t.outbox) for t in trucks}
        wait_until(
            lambda: all(stored(db, device)[0] >= n for device, n in queued.items()),
            30,
            f"every queued fix stored ({queued})",
            every_s=0.05,
        )
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
        db.close()

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
    assert {(lb.device_id, lb.alert_kind) for lb in labels} >= EXPECTED
    score = match_episodes(labels, alerts)
    assert score.missed == 0 and score.false == 0, score
    assert hub.counters.dead_letters == 0
