"""The demo's parts, without its services: the school morning's clocks and days, the
trucks' start, and what the summary says about alerts."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.cli.analyze import analyze_log
from app.demo.fleet import alert_summary, demo_simulator
from app.demo.view import DemoView
from app.demo.watch import WatchRig, demo_day
from citytrack import wire
from citytrack.alerts import Alert
from citytrack.ble.adstructs import AdFields
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress
from edge_agent.ble_sources import BleRecord
from firmware_sim.gps import TruckSimulator
from firmware_sim.labels import EpisodeLabel
from firmware_sim.receiver import iter_nmea
from tests.waiting import wait_until

TZ = ZoneInfo("Asia/Tokyo")
NOWHERE = BrokerAddress.parse("mqtt://127.0.0.1:9")  # nothing listens: passages stay queued
T0 = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


def _record(at: datetime) -> BleRecord:
    return BleRecord(at, "c3:00:00:00:00:01", -60.0, AdFields())


def test_a_station_clock_never_passes_an_advertisement_it_has_not_read(tmp_path: Path) -> None:
    """On a loaded machine the simulated clock runs ahead of what a station has read; a
    visit closed on that clock would be cut in two by the machine's slowness."""
    rig = WatchRig(load_config(), tmp_path, 1, lambda _s: NOWHERE, 1e6)  # far ahead at once
    source = next(iter(rig.stations.values())).source
    heard = rig.clock.sim_start + timedelta(seconds=5)
    with rig.feed.lock:
        rig.feed.waiting_for = None  # the whole morning handed out
    source.put(_record(heard))
    assert source.now() == heard, "not past the record waiting to be read"
    assert [r.time for r in source.read(0.0)] == [heard]
    assert source.now() > heard + timedelta(minutes=10), "then the morning's time again"


def test_the_passage_score_does_not_move_while_the_stations_drain(tmp_path: Path) -> None:
    """The score counts the passages old enough to have been reported when the morning
    stopped; a slow drain after the stop (a loaded machine) must not count more."""
    rig = WatchRig(load_config(), tmp_path, 1, lambda _s: NOWHERE, 600.0, day=date(2026, 11, 26))
    rig.start()
    begun = rig.clock.sim_start
    wait_until(lambda: rig.clock.now() >= begun + timedelta(minutes=25), 60, "07:45")
    rig.stop(drain_timeout_s=0.0)
    at_stop = rig.score([])
    stopped = rig.clock.now()
    wait_until(lambda: rig.clock.now() >= stopped + timedelta(minutes=10), 60, "a slow drain")
    assert rig.score([]) == at_stop
    assert rig.feed.now() <= stopped, "the morning stands still once stopped"
    assert 0 < at_stop["truth"] < len(rig.morning.truth)


def test_the_morning_played_is_a_past_school_day_one_further_back_per_run(
    tmp_path: Path,
) -> None:
    today = date(2026, 12, 8)  # a Tuesday
    school_days = [0, 1, 2, 3, 4]
    days = [demo_day(tmp_path, TZ, school_days, today) for _ in range(3)]
    assert days == [date(2026, 12, 7), date(2026, 12, 4), date(2026, 12, 3)]  # Mon, Fri, Thu


def test_the_simulated_clock_never_runs_ahead_of_the_real_one(tmp_path: Path) -> None:
    cfg = load_config()
    rig = WatchRig(cfg, tmp_path, 1, lambda _s: NOWHERE, 1e9)  # its own default day
    real_before = datetime.now(UTC)
    assert rig.clock.sim_start < real_before, "the morning played is in the past"
    assert rig.clock.now() <= datetime.now(UTC)
    assert rig.feed.now() <= datetime.now(UTC)


def test_a_truck_simulator_built_early_dates_its_first_fix_when_it_starts() -> None:
    cfg = load_config()
    truck = cfg.city.trucks[0]
    sim = TruckSimulator(truck, cfg.city, cfg.sim, seed=1, start_time=T0)
    later = T0 + timedelta(seconds=17)
    sim.restart_at(later)
    assert sim.step().truth.time == later
    with pytest.raises(ValueError, match="already started"):
        sim.restart_at(later)


def _alert(kind: wire.EventKind, at: datetime) -> Alert:
    return Alert(
        device_id="truck-03",
        kind=kind,
        severity="medium",
        start_time=at,
        end_time=at + timedelta(seconds=2),
        lat_deg=34.66,
        lon_deg=135.50,
    )


def test_the_summary_counts_every_alert_kind_and_names_the_false_ones() -> None:
    brake = EpisodeLabel("truck-03", "harsh_braking", T0, T0 + timedelta(seconds=3), 5.0)
    alerts = [
        _alert(wire.EventKind.HARSH_BRAKING, T0),
        _alert(wire.EventKind.HARSH_CORNERING, T0 + timedelta(seconds=40)),
    ]
    summary = alert_summary([brake], alerts)
    assert summary["alerts"] == {
        "harsh_braking": 1,
        "harsh_acceleration": 0,
        "harsh_cornering": 1,
        "speeding": 0,
    }
    assert summary["episodes"] == {"detected": 1, "missed": 0, "false": 1}
    assert summary["false_alerts"] == [
        {"device_id": "truck-03", "kind": "harsh_cornering", "start": "2026-12-07T00:00:40+00:00"}
    ]
    assert summary["missed_episodes"] == []


def test_the_printed_summary_says_what_a_false_alert_was() -> None:
    from rich.console import Console

    cfg = load_config()
    console = Console(record=True, width=200)
    view = DemoView(cfg, live=False, console=console)
    alerts = [_alert(wire.EventKind.HARSH_CORNERING, T0)]
    summary = {
        "duration_s": 30.0,
        "trucks": 5,
        "fixes_sent": 1,
        "fixes_stored": 1,
        "duplicates_dropped": 0,
        "dead_letters": 0,
        "fixes_left_in_outbox": 0,
        **alert_summary([], alerts),
    }
    view.print_summary(summary)
    text = console.export_text()
    assert "alerts: harsh_cornering" in text
    assert "(truck-03 harsh_cornering 09:00:00)" in text  # in the city's time


@pytest.mark.parametrize("index", range(5))
def test_the_demo_trucks_raise_no_alert_their_script_does_not_explain(index: int) -> None:
    """Ten minutes of each demo truck through the hub's detectors: exactly its scripted
    episodes, and no harsh cornering from a truck turning on the spot at a sharp vertex."""
    cfg = load_config()
    truck = cfg.city.trucks[index]
    sim = demo_simulator(truck, cfg, 1000 + index)
    nmea = b"".join(data for _, data in iter_nmea(sim, 600))
    out = io.StringIO()
    analyze_log(io.BytesIO(nmea), out, cfg=cfg, vehicle_class=truck.vehicle_class)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    found = Counter(r["kind"] for r in records if r["record"] == "event")
    scripted = Counter(label.alert_kind for label in sim.labels)
    assert scripted, "the truck plays its episode within ten minutes"
    assert found == scripted
