"""Trips and stops: scripted drives, collection halts, simulated routes, parked drift."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.driving.trips import (
    StopEnded,
    StopStarted,
    TripConfig,
    TripEnded,
    TripEvent,
    TripSegmenter,
    TripStarted,
    segment_track,
)
from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, SimConfig, load_config
from citytrack.geo import distance_m
from citytrack.wire import Fix
from firmware_sim.gps import TruckSimulator
from tests.gnss_tracks import reported_fixes

CONFIG = load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)
T0 = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
LAT0, LON0 = 34.6560, 135.4930  # the depot
M_PER_DEG_LAT = math.radians(1.0) * 6_371_008.8
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(LAT0))
Phase = tuple[float, float]  # (duration s, speed m/s)


def fix(t_s: float, east_m: float, speed: float | None, north_m: float = 0.0) -> Fix:
    at = T0 + timedelta(seconds=t_s)
    return Fix(
        device_id="truck-01",
        seq=1 + round(t_s * 10),
        fix_time=at,
        recv_time=at,
        lat_deg=LAT0 + north_m / M_PER_DEG_LAT,
        lon_deg=LON0 + east_m / M_PER_DEG_LON,
        speed_mps=speed,
    )


def drive(phases: Sequence[Phase], *, with_speed: bool = True) -> list[Fix]:
    """1 Hz fixes of a vehicle going east at each phase's speed for its duration."""
    out, t, x = [], 0.0, 0.0
    for duration_s, speed in phases:
        for _ in range(round(duration_s)):
            out.append(fix(t, x, speed if with_speed else None))
            t, x = t + 1.0, x + speed
    out.append(fix(t, x, phases[-1][1] if with_speed else None))
    return out


def events_of(fixes: Sequence[Fix], config: TripConfig | None = None) -> list[TripEvent]:
    seg = TripSegmenter(config)
    return [e for f in fixes for e in seg.step(f)] + list(seg.flush())


def test_a_two_minute_stop_splits_the_drive_into_two_trips() -> None:
    fixes = drive([(120, 10.0), (120, 0.0), (120, 10.0)])
    trips, stops = segment_track(fixes)
    assert len(trips) == 2 and len(stops) == 1
    first, second = trips
    assert first.ended_by == "stop" and second.ended_by == "flush"
    assert first.start == T0 and first.end == T0 + timedelta(seconds=120)
    assert first.distance_m == pytest.approx(1200, rel=0.01)
    assert second.distance_m == pytest.approx(1200, rel=0.01)
    assert first.driving_s == pytest.approx(120) and first.max_speed_mps == 10.0
    (stop,) = stops
    assert stop.arrival == first.end and stop.departure == second.start
    assert stop.duration_s == pytest.approx(120, abs=1)
    assert distance_m(stop.lat_deg, stop.lon_deg, first.end_lat_deg, first.end_lon_deg) < 1
    kinds = [type(e) for e in events_of(fixes)]
    assert kinds == [TripStarted, TripEnded, StopStarted, StopEnded, TripStarted, TripEnded]


def test_collection_halts_stay_inside_the_trip_and_are_counted() -> None:
    fixes = drive([(60, 8.0), (20, 0.0), (60, 8.0), (20, 0.0), (60, 8.0), (3, 0.0), (30, 8.0)])
    trips, stops = segment_track(fixes)
    assert stops == []
    (trip,) = trips
    assert trip.halts == 2  # the 3 s pause is shorter than min_halt_s
    assert trip.halted_s == pytest.approx(40 + 2, abs=2)
    assert trip.distance_m == pytest.approx(210 * 8.0, rel=0.01)
    assert trip.driving_s == pytest.approx(210 + 3, abs=3)


def test_a_stop_is_announced_when_it_has_lasted_min_stop_s() -> None:
    seg = TripSegmenter()
    fixes = drive([(30, 12.0), (100, 0.0)])
    announced = {i: seg.step(f) for i, f in enumerate(fixes)}
    at = [i for i, evs in announced.items() if evs]
    assert at == [5, 90]  # trip sure after start_s (60 m by then); stop after 60 s standing
    ended, started = announced[90]
    assert isinstance(ended, TripEnded) and isinstance(started, StopStarted)
    assert started.arrival == ended.trip.end == T0 + timedelta(seconds=30)


def test_a_long_gap_ends_the_trip_at_the_last_fix() -> None:
    before = drive([(60, 10.0)])
    after = [fix(600 + i, 600 + 10.0 * i, 10.0) for i in range(60)]
    trips, stops = segment_track(before + after)
    assert [t.ended_by for t in trips] == ["gap", "flush"]
    assert trips[0].end == before[-1].fix_time
    assert len(stops) == 1 and stops[0].arrival == before[-1].fix_time
    assert sum(t.distance_m for t in trips) == pytest.approx(60 * 10 + 59 * 10, rel=0.01)


def test_a_gnss_jump_is_not_driven() -> None:
    fixes = drive([(120, 10.0)])
    fixes[50] = fix(50, 50 * 10.0, 10.0, north_m=2000.0)  # one epoch 2 km off
    (trip,) = segment_track(fixes)[0]
    assert trip.distance_m == pytest.approx(1200, rel=0.01)


def test_a_real_relocation_is_believed_after_a_few_fixes_but_not_counted() -> None:
    fixes = drive([(60, 10.0)])
    moved = [fix(61 + i, 600.0 + 10 * i, 10.0, north_m=5000.0) for i in range(30)]
    (trip,) = segment_track(fixes + moved)[0]
    assert trip.distance_m == pytest.approx(600 + 27 * 10, rel=0.01)


def test_without_receiver_speed_the_implied_speed_decides() -> None:
    trips, stops = segment_track(drive([(60, 10.0), (90, 0.0), (60, 10.0)], with_speed=False))
    assert len(trips) == 2 and len(stops) == 1
    assert trips[0].distance_m == pytest.approx(600, rel=0.02)


def test_creeping_is_not_a_stop() -> None:
    trips, stops = segment_track(drive([(30, 10.0), (120, 1.0), (30, 10.0)]))
    assert stops == [] and len(trips) == 1


def test_out_of_order_fixes_are_ignored_and_devices_are_not_mixed() -> None:
    fixes = drive([(30, 10.0)])
    seg = TripSegmenter()
    for f in fixes[:20]:
        seg.step(f)
    assert seg.step(fixes[5]) == [] and seg.step(fixes[19]) == []
    with pytest.raises(ValueError, match="truck-02"):
        seg.step(fixes[25].model_copy(update={"device_id": "truck-02"}))


def test_nothing_in_nothing_out() -> None:
    assert segment_track([]) == ([], [])
    assert TripSegmenter().flush() == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.floats(-10, 10),
            st.floats(-10, 10),
            st.one_of(st.none(), st.floats(0, 1.4)),
            st.floats(0.2, 30),
        ),
        min_size=1,
        max_size=300,
    )
)
def test_a_parked_truck_drifting_makes_no_trip(
    steps: list[tuple[float, float, float | None, float]],
) -> None:
    """Positions wander within 10 m of the parking place, speeds stay under 1.5 m/s."""
    fixes, t = [], 0.0
    for east, north, speed, dt in steps:
        t += dt
        fixes.append(fix(t, east, speed, north_m=north))
    trips, stops = segment_track(fixes)
    assert trips == []
    assert all(stop.duration_s >= 0 for stop in stops)


# --- simulated routes -------------------------------------------------------------------------


def simulate(
    device_id: str, seconds: int, seed: int, sim: SimConfig = CONFIG.sim
) -> tuple[list[Fix], list[float]]:
    """Receiver fixes of a demo truck, and the true distance driven (m) at each fix."""
    truck = CONFIG.city.truck(device_id)
    assert truck is not None
    trucksim = TruckSimulator(truck, CONFIG.city, sim, seed=seed, start_time=T0)
    fixes: list[Fix] = []
    along: list[float] = []
    for reported in reported_fixes(trucksim, seconds):
        fixes.append(reported)
        along.append(trucksim.driver.s_m)
    return fixes, along


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distance_on_a_simulated_route_is_within_one_percent_of_the_truth(seed: int) -> None:
    fixes, along = simulate("truck-01", 1200, seed)
    trips, stops = segment_track(fixes)
    assert stops == [] and len(trips) == 1  # collection dwells are halts
    (trip,) = trips
    assert trip.distance_m == pytest.approx(along[-1] - along[0], rel=0.01)
    assert trip.halts >= 4  # two collection points a lap, 11 km in 20 min
    assert 0.8 * 1200 < trip.driving_s < 1200
    assert trip.max_speed_mps * 3.6 == pytest.approx(40, abs=2)


def test_long_dwells_at_collection_points_are_stops_there() -> None:
    sim = CONFIG.sim.model_copy(update={"dwell_s": 120.0, "dropout_prob": 0.0})
    fixes, along = simulate("truck-01", 1800, 4, sim)
    trips, stops = segment_track(fixes)
    assert len(stops) >= 3 and len(trips) == len(stops) + 1
    points = [p for p in CONFIG.city.collection_points if p.id in ("cp-01", "cp-02")]
    for stop in stops:
        nearest = min(distance_m(stop.lat_deg, stop.lon_deg, p.lat_deg, p.lon_deg) for p in points)
        assert nearest < 10
        assert stop.duration_s == pytest.approx(120, abs=6)
    driven = sum(t.distance_m for t in trips)
    assert driven == pytest.approx(along[-1] - along[0], rel=0.01)
