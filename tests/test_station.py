"""The station agent end to end: simulated advertisements (raw AD bytes through the codecs)
-> agent -> real Mosquitto -> a plain paho subscriber; the broker down for a while; a
mobile detector; ``citytrack agent station`` on this machine's real bleak path."""

from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import app
from app.services import MosquittoBroker, free_port
from citytrack import wire
from citytrack.ble.adstructs import AdFields, build_ad, parse_ad
from citytrack.ble.frames import (
    EddystoneTlm,
    EddystoneUid,
    IBeacon,
    encode_eddystone,
    encode_ibeacon,
)
from citytrack.config.watch import PassageDetectorConfig
from citytrack.mqtt import BrokerAddress
from edge_agent.ble_sources import BleRecord, SimulatedBleSource
from edge_agent.outbox import Outbox
from edge_agent.station import GpsdPosition, StationAgent
from tests.mqtt_helpers import Collector
from tests.test_nmea_sources import FakeGpsd

pytestmark = pytest.mark.services
CFG = PassageDetectorConfig(window=5, enter_rssi_dbm=-75, leave_rssi_dbm=-85, away_timeout_s=10)
KIDS_UUID = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
NAMESPACE, INSTANCE = "edd1ebeac04e5defa017", "0000000000c3"
PHONE = AdFields(manufacturer_data={0x0006: b"\x01\x09\x20\x02" + bytes(8)})  # not a beacon
M = TypeVar("M", bound=wire.DeviceMessage)
ROOT = Path(__file__).resolve().parent.parent
CITYTRACK = str(Path(sys.executable).with_name("citytrack"))


def ibeacon(minor: int) -> AdFields:
    """An iBeacon advertisement as a scanner hands it over: raw AD bytes parsed again."""
    return parse_ad(build_ad(encode_ibeacon(IBeacon(KIDS_UUID, 1, minor, -59))))


def walk_past(
    closest: datetime, address: str, fields: AdFields, seed: int, *, span_s: float = 50.0
) -> list[BleRecord]:
    """A child walking past at 1 m/s, 2 m off, one advertisement a second: log-distance
    path loss (n = 2.2), 4 dB noise, 25 % lost."""
    rng = np.random.default_rng(seed)
    out = []
    for t in np.arange(-span_s, span_s, 1.0):
        rssi = -59 - 22 * math.log10(math.hypot(2.0, float(t))) + rng.normal(0, 4.0)
        if rng.random() >= 0.25 and rssi >= -100:
            when = closest + timedelta(seconds=float(t))
            out.append(BleRecord(when, address, round(float(rssi), 1), fields))
    return out


def every(
    start: datetime, stop: datetime, step_s: float, address: str, fields: AdFields, rssi: float
) -> list[BleRecord]:
    n = int((stop - start).total_seconds() / step_s)
    return [
        BleRecord(start + timedelta(seconds=i * step_s), address, rssi, fields) for i in range(n)
    ]


def wait_until(predicate: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def decoded(collector: Collector, kind: wire.Kind, model: type[M]) -> list[M]:
    """What the collector received on ``kind`` topics, validated, each a ``model``."""
    out = [
        wire.decode(topic, payload)
        for topic, payload, _ in list(collector.messages)
        if topic.endswith("/" + kind.value)
    ]
    assert all(isinstance(m, model) for m in out), out
    return out  # type: ignore[return-value]


@pytest.fixture
def station_id() -> str:
    return f"st-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "station.db")
    yield box
    box.close()


def make_agent(
    station_id: str, source: SimulatedBleSource, outbox: Outbox, url: str, **kw: object
) -> StationAgent:
    """A station whose outbox rows go on the broker's PUBACK: these tests have no hub."""
    kw.setdefault("confirm_by", "broker")
    return StationAgent(
        station_id,
        source,
        outbox,
        BrokerAddress.parse(url),
        CFG,
        tick_interval_s=0.1,
        status_interval_s=0.5,
        **kw,  # type: ignore[arg-type]
    )


def test_passages_reach_the_broker_once_each_in_order(
    broker_url: str, station_id: str, outbox: Outbox
) -> None:
    t0 = wire.utcnow() - timedelta(seconds=150)
    tlm = encode_eddystone(EddystoneTlm(0, 2950, 21.5, 1234, 5678.9))
    uid = encode_eddystone(EddystoneUid(NAMESPACE, INSTANCE, -20))
    walks = [
        walk_past(t0 + timedelta(seconds=40), "C4:00:00:00:00:01", ibeacon(101), seed=1),
        walk_past(t0 + timedelta(seconds=70), "C4:00:00:00:00:02", ibeacon(102), seed=2),
        walk_past(t0 + timedelta(seconds=100), "C4:00:00:00:00:03", uid, seed=3),
    ]
    telemetry = every(
        t0 + timedelta(seconds=60),
        t0 + timedelta(seconds=140),
        10.0,
        "C4:00:00:00:00:03",
        tlm,
        -80.0,
    )
    phone = every(t0, t0 + timedelta(seconds=140), 2.0, "5E:11:22:33:44:55", PHONE, -50.0)
    records = sorted([*itertools.chain(*walks), *telemetry, *phone], key=lambda r: r.time)
    collector = Collector(broker_url, f"citytrack/v1/station/{station_id}/+").start()
    agent = make_agent(station_id, SimulatedBleSource(records), outbox, broker_url)
    agent.start()
    try:
        assert wait_until(lambda: len(decoded(collector, wire.Kind.PASSAGE, wire.Passage)) >= 3)
        assert wait_until(lambda: agent.counters()["published"] == 3)
    finally:
        drained = agent.stop(drain_timeout_s=5.0)
        collector.stop()
    assert drained
    passages = decoded(collector, wire.Kind.PASSAGE, wire.Passage)
    assert all(isinstance(p, wire.Passage) and p.device_id == station_id for p in passages)
    assert [p.seq for p in passages] == [1, 2, 3]
    by_id = {p.beacon_id: p for p in passages}
    closest = {f"{KIDS_UUID}/1/101": 40, f"{KIDS_UUID}/1/102": 70, f"{NAMESPACE}/{INSTANCE}": 100}
    assert set(by_id) == set(closest)
    for beacon_id, at_s in closest.items():
        p = by_id[beacon_id]
        assert abs((p.closest_time - t0).total_seconds() - at_s) <= 4.0
        assert p.first_seen < p.closest_time < p.last_seen
    uid_passage = by_id[f"{NAMESPACE}/{INSTANCE}"]
    assert (uid_passage.beacon_kind, uid_passage.tx_power_dbm) == ("eddystone_uid", -20)
    assert (uid_passage.battery_mv, uid_passage.temperature_c) == (2950, 21.5)
    assert by_id[f"{KIDS_UUID}/1/101"].battery_mv is None
    assert by_id[f"{KIDS_UUID}/1/101"].tx_power_dbm == -59

    counters = agent.counters()
    assert counters["advertisements"] == len(records)
    assert counters["beacon_frames"] == sum(len(w) for w in walks)
    assert counters["telemetry_frames"] == len(telemetry)
    assert counters["non_beacon"] == len(phone)
    assert (counters["passages"], counters["sightings"], counters["outbox_depth"]) == (3, 0, 0)
    statuses = decoded(collector, wire.Kind.STATUS, wire.DeviceStatus)
    assert isinstance(statuses[0], wire.DeviceStatus) and statuses[0].online
    assert set(statuses[0].counters) >= {
        "advertisements",
        "beacon_frames",
        "non_beacon",
        "passages",
        "sightings",
        "published",
        "outbox_depth",
        "scanner_restarts",
        "scanner_errors",
    }
    assert isinstance(statuses[-1], wire.DeviceStatus) and not statuses[-1].online
    assert statuses[-1].counters["published"] == 3


def test_nothing_is_lost_while_the_broker_is_down(
    own_broker: MosquittoBroker, station_id: str, outbox: Outbox
) -> None:
    topic = wire.topic_for(wire.Role.STATION, station_id, wire.Kind.PASSAGE)
    source = SimulatedBleSource()
    agent = make_agent(station_id, source, outbox, own_broker.url)
    before = Collector(own_broker.url, topic).start()
    after: Collector | None = None
    agent.start()
    try:
        now = wire.utcnow()
        for r in walk_past(now - timedelta(seconds=60), "C4:00:00:00:00:01", ibeacon(1), 1):
            source.put(r)
        assert before.wait_for(1)
        before.stop()
        own_broker.stop()
        now = wire.utcnow()
        for minor, seed in ((2, 2), (3, 3)):
            address = f"C4:00:00:00:00:0{minor}"
            for r in walk_past(now - timedelta(seconds=60), address, ibeacon(minor), seed):
                source.put(r)
        assert wait_until(lambda: agent.counters()["passages"] == 3)
        time.sleep(0.5)
        assert outbox.depth() == 2  # kept while the broker is away
        own_broker.start()
        after = Collector(own_broker.url, topic).start()
        assert after.wait_for(2, timeout_s=20)
        assert wait_until(lambda: outbox.depth() == 0)
    finally:
        agent.stop(drain_timeout_s=2.0)
        if after is not None:
            after.stop()
    first = decoded(before, wire.Kind.PASSAGE, wire.Passage)
    rest = decoded(after, wire.Kind.PASSAGE, wire.Passage)
    assert [m.seq for m in first] == [1]
    assert sorted({m.seq for m in rest}) == [2, 3]


def test_mobile_detector_sends_sightings_with_its_position(
    broker_url: str, station_id: str, tmp_path: Path
) -> None:
    t0 = wire.utcnow() - timedelta(seconds=90)
    records = walk_past(t0 + timedelta(seconds=40), "C4:00:00:00:00:01", ibeacon(7), seed=4)
    collector = Collector(broker_url, f"citytrack/v1/station/{station_id}/+").start()
    with_gnss = make_agent(
        station_id,
        SimulatedBleSource(records),
        Outbox(tmp_path / "a.db"),
        broker_url,
        mobile_position=lambda: (34.6622, 135.4985),
    )
    no_fix = make_agent(
        "st-nofix",
        SimulatedBleSource(records),
        Outbox(tmp_path / "b.db"),
        broker_url,
        mobile_position=lambda: None,
    )
    with_gnss.start()
    no_fix.start()
    try:
        assert wait_until(lambda: len(decoded(collector, wire.Kind.SIGHTING, wire.Sighting)) == 1)
        assert wait_until(lambda: no_fix.counters()["no_position"] == 1)
    finally:
        with_gnss.stop(drain_timeout_s=2.0)
        no_fix.stop()
        collector.stop()
    (sighting,) = decoded(collector, wire.Kind.SIGHTING, wire.Sighting)
    assert isinstance(sighting, wire.Sighting)
    assert (sighting.seq, sighting.lat_deg, sighting.lon_deg) == (1, 34.6622, 135.4985)
    assert decoded(collector, wire.Kind.PASSAGE, wire.Passage) == []
    assert with_gnss.counters()["sightings"] == 1
    assert no_fix.counters()["sightings"] == 0 and no_fix.outbox.depth() == 0


def test_a_bad_station_id_is_refused(tmp_path: Path, outbox: Outbox) -> None:
    with pytest.raises(wire.ContractError, match="not a valid device id"):
        make_agent("no spaces allowed", SimulatedBleSource(), outbox, "mqtt://127.0.0.1:1")


def test_the_command_refuses_bad_settings(tmp_path: Path) -> None:
    def run(*args: str, station_id: str = "gate-naniwa-es") -> tuple[int, str]:
        base = ["agent", "station", "--station-id", station_id, "--outbox", str(tmp_path / "o.db")]
        result = CliRunner().invoke(app, [*base, *args])
        assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
        return result.exit_code, result.stderr

    code, err = run("--config", str(tmp_path / "missing.toml"))
    assert code == 2 and err.startswith("citytrack: bad configuration: ")
    code, err = run("--broker", "http://x")
    assert code == 2 and "broker URL must look like mqtt://host:1883" in err
    code, err = run("--mobile")  # configured as a school gate
    assert (code, err) == (
        2,
        "citytrack: station gate-naniwa-es is school_gate in the configuration, not run so\n",
    )
    code, err = run("--broker", "mqtt://127.0.0.1:1", station_id="no spaces allowed")
    assert (code, err) == (2, "citytrack: not a valid device id: 'no spaces allowed'\n")


def test_the_command_runs_on_a_machine_without_bluetooth(
    broker_url: str, station_id: str, tmp_path: Path
) -> None:
    """The real bleak path: the scanner cannot start, the agent keeps running, says why,
    reports it in its status, and stops cleanly on SIGTERM."""
    command = [CITYTRACK, "agent", "station", "--station-id", station_id, "--broker", broker_url]
    command += ["--outbox", str(tmp_path / "o.db")]
    status = wire.topic_for(wire.Role.STATION, station_id, wire.Kind.STATUS)
    collector = Collector(broker_url, status).start()
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert collector.wait_for(1, timeout_s=15)
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        collector.stop()
    assert proc.returncode == 0, stderr[-2000:]
    last = wire.decode(status, collector.payloads()[-1])
    assert isinstance(last, wire.DeviceStatus) and not last.online
    assert last.counters["scanner_errors"] >= 1
    assert "could not start" in stderr and "retry 1 in" in stderr
    no_dbus = "DBUS_SYSTEM_BUS_ADDRESS" not in os.environ
    if no_dbus and not Path("/run/dbus/system_bus_socket").exists():
        assert "no D-Bus system bus" in stderr


def nmea(body: str) -> bytes:
    checksum = 0
    for char in body.encode():
        checksum ^= char
    return f"${body}*{checksum:02X}\r\n".encode()


def test_gpsd_position_follows_the_receiver_and_ages(caplog: pytest.LogCaptureFixture) -> None:
    relay = [
        nmea(f"GPRMC,1235{s},A,4807.038,N,01131.000,E,001.0,084.4,230394,003.1,W")
        + nmea(f"GPGGA,1235{s},4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")
        for s in (19, 20, 21)
    ]
    server = FakeGpsd(relay)
    position = GpsdPosition("127.0.0.1", server.port, max_age_s=0.5)
    position.start()
    try:
        assert wait_until(lambda: position.latest() is not None, timeout_s=5)
        lat, lon = position.latest() or (0.0, 0.0)
        assert (lat, lon) == pytest.approx((48.1173, 11.516666), abs=1e-5)
        assert wait_until(lambda: position.latest() is None, timeout_s=5)  # no news: too old
    finally:
        position.close()
        server.close()
    nobody = GpsdPosition("127.0.0.1", free_port())
    nobody.start()
    assert wait_until(lambda: "position from gpsd failed" in caplog.text, timeout_s=5)
    began = time.monotonic()
    nobody.close()
    assert time.monotonic() - began < 1.0 and nobody.latest() is None
