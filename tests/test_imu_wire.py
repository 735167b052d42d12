"""The edge event on the wire, and the simulator's accelerometer output from the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from citytrack import wire
from citytrack.config import load_config
from edge_agent.pctim import ImuDecoder
from firmware_sim.labels import EpisodeLabel
from firmware_sim.run import SimRequestError, run_gps

T = datetime(2026, 11, 26, 7, 42, tzinfo=UTC)
TOPIC = "citytrack/v1/vehicle/truck-01/event"


def event(**over: object) -> wire.DrivingEvent:
    fields: dict[str, object] = {
        "device_id": "truck-01",
        "seq": 12,
        "event_kind": "harsh_cornering",
        "start_time": T,
        "end_time": T + timedelta(seconds=2.5),
        "peak_mps2": 4.1,
        "threshold_mps2": 2.5,
        "direction": "right",
        "lat_deg": 34.66,
        "lon_deg": 135.5,
    }
    fields.update(over)
    return wire.DrivingEvent.model_validate(fields)


def test_event_round_trips_on_its_topic() -> None:
    assert wire.topic_for(wire.Role.VEHICLE, "truck-01", wire.Kind.EVENT) == TOPIC
    body = wire.encode(event())
    doc = json.loads(body)
    assert (doc["kind"], doc["event_kind"], doc["source"]) == ("event", "harsh_cornering", "imu")
    assert "speed_mps" not in doc
    assert wire.decode(TOPIC, body) == event()


@pytest.mark.parametrize(
    "topic, body, reason",
    [
        ("citytrack/v1/station/gate-1/event", wire.encode(event(device_id="gate-1")), "does not"),
        (TOPIC, wire.encode(event()).replace(b"07:42:02.5", b"07:41:02.5"), "start_time <= end"),
        (TOPIC, wire.encode(event()).replace(b"harsh_cornering", b"speeding"), "event_kind"),
        (TOPIC, wire.encode(event()).replace(b'"seq":12', b'"seq":0'), "seq"),
        (
            TOPIC,
            wire.encode(event()).replace(b"harsh_cornering", b"harsh_braking"),
            "a harsh_braking event has no direction",
        ),
    ],
)
def test_bad_events_are_refused(topic: str, body: bytes, reason: str) -> None:
    with pytest.raises(wire.ContractError, match=reason):
        wire.decode(topic, body)


def test_sim_gps_writes_the_accelerometer_beside_the_nmea(tmp_path: Path) -> None:
    nmea, imu, labels = tmp_path / "gps.nmea", tmp_path / "imu.log", tmp_path / "labels.jsonl"
    run_gps(
        cfg=load_config(),
        truck_id="truck-01",
        pty=False,
        out=nmea,
        rate_hz=1.0,
        seed=3,
        duration_s=20.0,
        labels=labels,
        imu_rate_hz=25.0,
        imu_out=imu,
    )
    assert nmea.stat().st_size > 0
    decoder = ImuDecoder(errors="raise")
    samples = decoder.feed(imu.read_bytes())
    assert len(samples) == 19 * 25 + 1  # epochs 0..19 at 1 Hz, 25 samples per interval
    assert samples[-1].t_s - samples[0].t_s == pytest.approx(19.0)
    assert [EpisodeLabel.from_json(x).kind for x in labels.read_text().splitlines()] == []
    with pytest.raises(SimRequestError, match="IMU rate"):  # outside 10-100 Hz
        run_gps(
            cfg=load_config(),
            truck_id="truck-01",
            pty=False,
            out=nmea,
            rate_hz=1.0,
            seed=3,
            duration_s=1.0,
            labels=None,
            imu_rate_hz=500.0,
            imu_out=imu,
        )
