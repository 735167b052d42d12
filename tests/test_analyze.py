"""``citytrack analyze``: the agent's NMEA reader and the hub's detectors over a raw log."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.cli.analyze import DEVICE_ID
from citytrack.alerts import Alert
from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, CitytrackConfig, load_config
from citytrack.wire import EventKind
from edge_agent.nmea import NmeaFixDecoder
from evaluation.episodes import match_episodes
from firmware_sim.impairments import ImpairmentConfig
from firmware_sim.labels import EPISODE_ALERT_KIND
from firmware_sim.scenarios import SMALL_SIZE, TruckLog, TruckScenario, plan_fleet


@pytest.fixture(scope="module")
def cfg() -> CitytrackConfig:
    return load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)


@pytest.fixture(scope="module")
def sim_log(cfg: CitytrackConfig) -> TruckLog:
    """Half an hour of a 1 Hz truck playing one episode of each kind, in calm streets."""
    plan = plan_fleet(cfg, SMALL_SIZE, seed=2)[0]
    calm = replace(plan, impairments=ImpairmentConfig(), position_noise_m=1.5, dropout_prob=0.0)
    return TruckScenario(calm, cfg).run()


def analyze(data: bytes, vehicle_class: str) -> tuple[int, list[Any], str]:
    """``citytrack analyze -`` over ``data``: exit code, JSON records, stderr."""
    config = str(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)
    args = ["analyze", "-", "--vehicle-class", vehicle_class, "--config", config]
    result = CliRunner().invoke(app, args, input=data)
    return (
        result.exit_code,
        [json.loads(line) for line in result.stdout.splitlines()],
        result.stderr,
    )


@pytest.fixture(scope="module")
def sim_result(cfg: CitytrackConfig, sim_log: TruckLog) -> list[Any]:
    code, records, err = analyze(sim_log.nmea, sim_log.plan.vehicle_class)
    assert (code, err) == (0, "")
    return records


def as_alert(record: dict[str, Any]) -> Alert:
    return Alert(
        device_id=DEVICE_ID,
        kind=record["kind"],
        severity=record["severity"],
        start_time=datetime.fromisoformat(record["start"]),
        end_time=datetime.fromisoformat(record["end"]),
        lat_deg=record["lat_deg"],
        lon_deg=record["lon_deg"],
    )


def test_analyze_finds_each_scripted_episode_and_nothing_else(
    sim_log: TruckLog, sim_result: list[Any]
) -> None:
    *events, summary = sim_result
    assert all(e["record"] == "event" for e in events) and summary["record"] == "summary"
    detectable = [
        replace(lb, device_id=DEVICE_ID)
        for lb in sim_log.labels
        if EPISODE_ALERT_KIND.get(lb.kind) in tuple(EventKind)
    ]
    assert {lb.kind for lb in detectable} >= {"harsh_braking", "harsh_acceleration"}
    assert {lb.kind for lb in detectable} >= {"speeding_zone"}
    score = match_episodes(detectable, [as_alert(e) for e in events])
    assert score.missed_labels == () and score.false_alerts == ()
    assert summary["events"] == {
        kind: sum(e["kind"] == kind for e in events) for kind in summary["events"]
    }


def test_each_event_line_carries_its_peak_and_its_limit(sim_result: list[Any]) -> None:
    *events, _ = sim_result
    for e in events:
        assert e["start"] <= e["end"] and e["duration_s"] >= 0
        assert 34.6 < e["lat_deg"] < 34.7 and 135.4 < e["lon_deg"] < 135.6
        if e["kind"] == "speeding":
            assert e["max_speed_kmh"] > e["limit_kmh"] + e["tolerance_kmh"]
        else:
            assert e["peak_mps2"] >= e["threshold_mps2"]


def test_distance_and_driving_time_match_the_truth(
    sim_log: TruckLog, sim_result: list[Any]
) -> None:
    summary = sim_result[-1]
    assert summary["distance_m"] == pytest.approx(sim_log.distance_m, rel=0.01)
    work = [st for st in sim_log.stretches if st.kind != "clean"]
    standing_s = sum((st.end - st.start).total_seconds() for st in work)
    assert 0 < summary["driving_time_s"] < sim_log.duration_s - 0.3 * standing_s
    km = summary["distance_m"] / 1000.0
    for kind, n in summary["events"].items():
        assert summary["events_per_100km"][kind] == pytest.approx(100.0 * n / km, abs=1e-3)
    assert summary["fixes"] == summary["fixes_accepted"] == summary["decoder"]["fixes"]


def test_an_unknown_vehicle_class_is_one_line_on_stderr(cfg: CitytrackConfig) -> None:
    code, records, err = analyze(b"", "no-such-class")
    assert code == 2 and records == []
    assert err.startswith("citytrack: unknown vehicle class 'no-such-class'")
    assert err.count("\n") == 1
    assert all(name in err for name in cfg.city.vehicle_classes)


def test_garbage_gives_an_empty_summary(cfg: CitytrackConfig) -> None:
    vehicle_class = next(iter(cfg.city.vehicle_classes))
    code, records, err = analyze(b"hello\r\n$GPGGA,garbage*00\r\n\x00\xff", vehicle_class)
    assert (code, err) == (0, "")
    (summary,) = records
    assert summary["fixes"] == 0 and summary["distance_m"] == 0.0
    assert set(summary["events_per_100km"].values()) == {None}
    assert summary["decoder"]["garbage"] + summary["decoder"]["bad_checksum"] >= 2


def test_a_receiver_at_rest_adds_no_distance(cfg: CitytrackConfig, corpora: Path) -> None:
    """A real u-blox M9N standing still for a minute: its positions wander by metres."""
    data = (corpora / "nmea" / "gpsd" / "ublox-neo-m9n-nmea.log").read_bytes()
    decoder = NmeaFixDecoder()
    assert len(decoder.feed(data) + decoder.flush()) > 50
    _, records, _ = analyze(data, next(iter(cfg.city.vehicle_classes)))
    assert records[-1]["distance_m"] == 0.0 and records[-1]["driving_time_s"] == 0.0
