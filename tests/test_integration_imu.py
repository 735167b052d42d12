"""End to end with an accelerometer: simulator (GNSS and IMU on two ptys) -> agent
(pyserial, edge detection) -> Mosquitto -> hub (GNSS detection, reconciliation) ->
PostgreSQL. Each scripted episode must become exactly one alert, found by both sides, and
be published exactly once on the hub's alert topic.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from citytrack import wire
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress
from evaluation.episodes import match_episodes
from firmware_sim.labels import EpisodeLabel
from hub.ingest.service import HubService
from hub.storage.edge_events import EdgeEventRepository
from hub.storage.fleet import AlertRepository
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until

CITYTRACK = str(Path(sys.executable).with_name("citytrack"))
TRUCKS = {"truck-01": "harsh_braking", "truck-02": "harsh_acceleration"}
MARKER = wire.alert_topic("test-marker")
pytestmark = pytest.mark.slow


class Truck:
    """One truck's simulator (GNSS + IMU ptys) and agent, as separate processes."""

    def __init__(self, device_id: str, workdir: Path, broker_url: str) -> None:
        self.device_id = device_id
        self.labels = workdir / f"{device_id}.labels.jsonl"
        self.sim = subprocess.Popen(
            [
                *(CITYTRACK, "sim", "gps", "--pty", "--truck", device_id, "--rate", "5"),
                *("--seed", "7", "--imu-rate", "50", "--labels", str(self.labels)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.sim.stdout is not None
        ports = dict(self.sim.stdout.readline().split() for _ in range(2))
        assert set(ports) == {"PTY", "IMU"}, ports
        self.agent = subprocess.Popen(
            [
                *(CITYTRACK, "agent", "vehicle", "--device-id", device_id, "--broker", broker_url),
                *("--serial", ports["PTY"], "--imu-port", ports["IMU"]),
                *("--outbox", str(workdir / f"{device_id}.outbox.db")),
            ]
        )

    def read_labels(self) -> list[EpisodeLabel]:
        if not self.labels.exists():
            return []
        lines = self.labels.read_text().splitlines()
        return [EpisodeLabel.from_json(line) for line in lines if line.strip()]

    def stop(self) -> None:
        for proc in (self.sim, self.agent):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        assert self.sim.wait(10) == 0
        assert self.agent.wait(15) == 0

    def kill(self) -> None:
        for proc in (self.sim, self.agent):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if self.sim.stdout is not None:
            self.sim.stdout.close()


def both_sides_found(pg_url: str, episodes: int) -> bool:
    with psycopg.connect(pg_url) as conn:
        alerts = AlertRepository(conn).query(limit=100)
    merged = [a for a in alerts if a.details.sources == ("gps", "imu")]
    return len(merged) >= episodes


def test_each_episode_is_one_alert_seen_by_gnss_and_imu(
    tmp_path: Path, pg_url: str, broker_url: str
) -> None:
    base = load_config()
    hub_id = f"hub-imu-{uuid.uuid4().hex[:6]}"
    cfg = base.model_copy(update={"hub": base.hub.model_copy(update={"client_id": hub_id})})
    hub = HubService(cfg, BrokerAddress.parse(broker_url), pg_url)
    hub.start()
    assert hub.wait_subscribed(10)
    published = Collector(broker_url, "citytrack/v1/hub/alert/+").start()
    trucks = [Truck(t, tmp_path, broker_url) for t in TRUCKS]
    try:
        wait_until(
            lambda: all(t.read_labels() for t in trucks) and both_sides_found(pg_url, len(trucks)),
            90,
            "each truck's episode labelled and alerted by both sides",
            every_s=0.1,  # each look reads files and queries the database
        )
        for truck in trucks:
            truck.stop()
        assert hub.wait_idle(20)
        # a marker through the hub's own connection, after all it has published: the broker
        # forwards one client's messages in order, so any second (wrong) publication of an
        # alert arrives before it
        hub.client.publish(MARKER, b"{}", qos=1)
        wait_until(lambda: MARKER in published.topics(), 10, "the marker after the alerts")
    finally:
        for truck in trucks:
            truck.kill()
        published.stop()
        hub.stop()

    labels = [label for truck in trucks for label in truck.read_labels()]
    assert sorted((lb.device_id, lb.kind) for lb in labels) == sorted(TRUCKS.items())
    with psycopg.connect(pg_url) as conn:
        alerts = AlertRepository(conn).query(limit=100)
        edge_events = EdgeEventRepository(conn).count()
        statuses = dict(conn.execute("SELECT device_id, counters FROM device_status").fetchall())
    score = match_episodes(labels, alerts)
    assert (score.detected, score.missed, score.false) == (len(labels), 0, 0), score
    assert len(alerts) == len(labels)
    assert all(a.details.sources == ("gps", "imu") for a in alerts), alerts
    assert edge_events == len(labels)
    alert_messages = [json.loads(p) for t, p, _ in published.messages if t != MARKER]
    assert sorted((m["device_id"], m["kind"]) for m in alert_messages) == sorted(TRUCKS.items())
    for device_id in TRUCKS:
        counters = statuses[device_id]
        assert counters["imu_calibrated"] == 1 and counters["imu_events_queued"] == 1
        assert counters["imu_samples"] > 1000 and counters["imu_bad_lines"] <= 1
    assert hub.counters.dead_letters == 0 and hub.counters.alerts_merged == len(labels)
