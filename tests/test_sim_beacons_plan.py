"""The school-morning scenario: walks, departures, ground truth, pacing, EID bisection."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, load_config
from citytrack.config.watch import WatchConfig
from firmware_sim.beacons import paced
from firmware_sim.school_morning import GroundTruth, TruePassage, plan_morning
from firmware_sim.tag_radio import eid_per_time
from firmware_sim.walks import LocalFrame, WalkModel, WalkPath
from firmware_sim.watch_city import synthetic_city

DAY = date(2026, 6, 8)  # a Monday
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture(scope="module")
def demo() -> WatchConfig:
    return load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME).watch


@pytest.fixture(scope="module")
def city() -> WatchConfig:
    return synthetic_city(200, 20, seed=3)


def local(hh: int, mm: int) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hh, mm, tzinfo=TOKYO)


def test_walk_path_positions_and_closest_approach() -> None:
    path = WalkPath(np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 50.0]]))
    assert path.length_m == pytest.approx(150.0)
    assert path.xy_at(np.array([0.0, 50.0, 125.0, 999.0])).tolist() == [
        [0.0, 0.0],
        [50.0, 0.0],
        [100.0, 25.0],
        [100.0, 50.0],
    ]
    s, d = path.closest(np.array([[30.0, 4.0], [110.0, 40.0], [-3.0, -4.0]]))
    assert s.tolist() == pytest.approx([30.0, 140.0, 0.0])
    assert d.tolist() == pytest.approx([4.0, 10.0, 5.0])
    assert path.reversed().xy_at(np.array([0.0])).tolist() == [[100.0, 50.0]]


def test_local_frame_round_trips_and_measures_metres() -> None:
    frame = LocalFrame(34.66, 135.50)
    xy = frame.to_local(34.67, 135.51)
    assert frame.to_latlon(xy)[0] == pytest.approx((34.67, 135.51), abs=1e-12)
    assert xy[1] == pytest.approx(1111.95, rel=1e-3)  # 0.01 deg of latitude
    assert xy[0] == pytest.approx(1111.95 * math.cos(math.radians(34.66)), rel=1e-3)


def test_plan_is_deterministic_per_seed(demo: WatchConfig) -> None:
    a = plan_morning(demo, day=DAY, seed=11, afternoon=True)
    b = plan_morning(demo, day=DAY, seed=11, afternoon=True)
    c = plan_morning(demo, day=DAY, seed=12, afternoon=True)
    assert a.truth == b.truth and a.homes == b.homes and a.paths == b.paths
    assert a.truth != c.truth and a.homes != c.homes


def test_a_childs_way_does_not_depend_on_the_absent_fraction(demo: WatchConfig) -> None:
    a = plan_morning(demo, day=DAY, seed=5, absent_fraction=0.0)
    b = plan_morning(demo, day=DAY, seed=5, absent_fraction=0.3)
    assert a.paths == b.paths and a.homes == b.homes
    assert len(b.truth.absent) == 6 and not a.truth.absent


@pytest.mark.parametrize("which", ["demo", "city"])
def test_every_child_who_goes_passes_the_gate_on_time(
    which: str, demo: WatchConfig, city: WatchConfig
) -> None:
    watch = demo if which == "demo" else city
    plan = plan_morning(watch, day=DAY, seed=2)
    gates = {s.school_id: s.id for s in watch.stations if s.kind == "school_gate"}
    schools = {s.id: s for s in watch.schools}
    at_gate = {
        p.child_id: p.closest_time
        for p in plan.truth.passages
        if p.leg == "to_school" and p.station_id == gates[_school(watch, p.child_id)]
    }
    going = [c for c in watch.children if c.id not in plan.truth.absent]
    assert len(going) == len(watch.children) - round(0.05 * len(watch.children))
    for child in going:
        deadline = datetime.combine(DAY, schools[child.school_id].arrival_deadline, TOKYO)
        assert at_gate[child.id] < deadline, child.id
    trips = {t.child_id: t for t in plan.trips}
    for child in going:
        depart = trips[child.id].depart.astimezone(TOKYO)
        assert local(7, 0) <= depart <= local(7, 55), child.id
        assert 1.0 <= trips[child.id].speed_mps <= 1.4
        assert trips[child.id].arrive > at_gate[child.id] > depart


def _school(watch: WatchConfig, child_id: str) -> str:
    return next(c.school_id for c in watch.children if c.id == child_id)


def test_late_and_absent_children(demo: WatchConfig) -> None:
    plan = plan_morning(demo, day=DAY, seed=4, late_fraction=0.1, absent=["c-03"])
    assert plan.truth.absent == ("c-03",)
    assert len(plan.truth.late) == 2 and "c-03" not in plan.truth.late
    assert "c-03" in plan.homes  # has a home and a way, but never walks it
    assert all(p.child_id != "c-03" for p in plan.truth.passages)
    assert all(t.child_id != "c-03" for t in plan.trips)
    for p in plan.truth.passages:
        if p.child_id in plan.truth.late and p.station_id == "gate-naniwa-es":
            assert local(8, 16) <= p.closest_time <= local(8, 30)
    with pytest.raises(ValueError, match="unknown children"):
        plan_morning(demo, day=DAY, seed=4, absent=["nobody"])


def test_roadside_stations_lie_on_the_way_of_homes_beyond_them(demo: WatchConfig) -> None:
    plan = plan_morning(demo, day=DAY, seed=1, absent_fraction=0.0)
    passed = {p.station_id for p in plan.truth.passages}
    assert passed == {"gate-naniwa-es", "st-naniwa-ward-office", "st-namba-boundary"}
    per_child: dict[str, set[str]] = {}
    for p in plan.truth.passages:
        per_child.setdefault(p.child_id, set()).add(p.station_id)
    assert all(len(v) in (1, 2) for v in per_child.values())  # the gate, maybe one more
    assert sum(len(v) == 2 for v in per_child.values()) >= 5
    assert all(p.closest_distance_m <= 3.0 for p in plan.truth.passages)  # station offsets


def test_afternoon_trips_walk_the_way_back(demo: WatchConfig) -> None:
    plan = plan_morning(demo, day=DAY, seed=1, afternoon=True)
    back = [t for t in plan.trips if t.leg == "to_home"]
    assert len(back) == len(plan.trips) // 2 == len(demo.children) - 1
    for trip in back:
        assert local(15, 0) <= trip.depart <= local(15, 30)
        home = plan.frame.to_latlon(trip.path.xy_m[-1])[0]
        assert home == pytest.approx(plan.homes[trip.child_id])
    gate_back = [p for p in plan.truth.passages if p.leg == "to_home"]
    assert {p.child_id for p in gate_back} == {t.child_id for t in back}


def test_ground_truth_round_trips_through_json_lines(demo: WatchConfig) -> None:
    truth = plan_morning(demo, day=DAY, seed=3, afternoon=True, late_fraction=0.1).truth
    text = truth.to_json()
    assert text.count("\n") == (
        len(truth.passages) + len(truth.absent) + len(truth.late) + len(truth.trips)
    )
    assert GroundTruth.from_json(text) == truth
    p = truth.passages[0]
    assert TruePassage.from_json(p.to_json()) == p
    assert p.closest_time.tzinfo is not None
    with pytest.raises(ValueError, match="unknown ground-truth record"):
        GroundTruth.from_json('{"record": "picnic"}\n')


def test_bad_parameters_are_refused(demo: WatchConfig) -> None:
    with pytest.raises(ValueError, match="speed"):
        WalkModel(speed_min_mps=1.5, speed_max_mps=1.0)
    with pytest.raises(ValueError, match="absent_fraction"):
        plan_morning(demo, day=DAY, seed=0, absent_fraction=2.0)
    with pytest.raises(ValueError, match="no schools"):
        plan_morning(WatchConfig(), day=DAY, seed=0)


@settings(max_examples=60, deadline=None)
@given(
    period_exp=st.integers(0, 11),
    offset=st.floats(0.0, 2048.0),
    gaps=st.lists(st.floats(0.001, 700.0), min_size=0, max_size=300),
)
def test_eid_bisection_finds_every_rotation(
    period_exp: int, offset: float, gaps: list[float]
) -> None:
    period = 2.0**period_exp
    t = 50_000.0 + np.cumsum(np.array([0.0, *gaps]))

    def direct(x: float) -> str:
        return f"eid-{math.floor((x - offset) / period)}"

    calls: list[int] = []

    def eid_at(i: int) -> str:
        calls.append(i)
        return direct(float(t[i]))

    assert eid_per_time(eid_at, t, period) == [direct(float(x)) for x in t]
    rotations = len({direct(float(x)) for x in t})
    bound = 2 + rotations * 2 * (math.log2(len(t)) + 2) + (t[-1] - t[0]) / period * 4
    assert len(calls) <= bound


def test_eid_bisection_is_cheap_for_a_walk() -> None:
    t = 2_500.0 + np.arange(1200.0)  # 20 min of 1 s advertising across one 1024 s rotation
    calls: list[int] = []

    def eid_at(i: int) -> str:
        calls.append(i)
        return str(int(t[i]) >> 10)

    assert len(set(eid_per_time(eid_at, t, 1024.0))) == 2
    assert len(calls) < 30


@dataclass(frozen=True)
class Rec:
    time: datetime


def test_paced_plays_simulated_time_speedup_times_faster() -> None:
    start = datetime(2026, 6, 7, 22, 20, tzinfo=UTC)
    records = [Rec(start + timedelta(seconds=s)) for s in (0, 10, 10, 30, 25)]
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(round(s, 6))
        now[0] += s

    out = list(paced(records, 10.0, clock=lambda: now[0], sleep=sleep))
    assert out == records  # same objects, simulated times kept
    assert slept == [1.0, 2.0]  # 10 s and 30 s of simulated time at 10x; late records at once
    now[0] = 0.0
    slept.clear()
    later = start - timedelta(minutes=1)
    list(
        paced(records[:1], 60.0, start_wall=5.0, start_sim=later, clock=lambda: now[0], sleep=sleep)
    )
    assert slept == [6.0]  # due 1 s of wall time after start_wall
    with pytest.raises(ValueError, match="speedup"):
        list(paced(records, 0.0))
