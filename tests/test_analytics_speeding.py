"""Speeding against the real Osaka zones: zone vs road, one event per episode, flush."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.driving.findings import DetectedEvent
from analytics.driving.speeding import SpeedingState, flush, step
from analytics.driving.zones import ZoneIndex
from citytrack.config import load_config
from citytrack.wire import EventKind, Fix

CONFIG = load_config()
ZONES = ZoneIndex(CONFIG.city.speed_zones, CONFIG.city.default_road_limit_kmh)
CFG = CONFIG.detectors.speeding  # 5 km/h tolerance, 5 s
T0 = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
IN_ZONE = (34.6620, 135.4985)  # zone30-naniwa, 30 km/h
ON_ROAD = (34.6830, 135.4950)  # Chuo-odori, default 60 km/h
KMH = 1 / 3.6


def fix(t_s: float, speed_kmh: float | None, where: tuple[float, float] = IN_ZONE) -> Fix:
    at = T0 + timedelta(microseconds=round(t_s * 1e6))
    return Fix(
        device_id="truck-03",
        seq=1 + round(t_s * 10),
        fix_time=at,
        recv_time=at,
        lat_deg=where[0],
        lon_deg=where[1],
        speed_mps=None if speed_kmh is None else speed_kmh * KMH,
    )


def drive(
    speeds_kmh: Sequence[float | None], where: tuple[float, float] = IN_ZONE, rate_hz: float = 1
) -> list[Fix]:
    return [fix(i / rate_hz, v, where) for i, v in enumerate(speeds_kmh)]


def run_each(track: Sequence[Fix]) -> tuple[list[list[DetectedEvent]], list[DetectedEvent]]:
    """Events per fix, and the events of the final flush."""
    state, per_fix = SpeedingState(), []
    for f in track:
        state, events = step(state, f, ZONES.limit_at(f.lat_deg, f.lon_deg), CFG)
        per_fix.append(events)
    return per_fix, flush(state, CFG)[1]


def run(track: Sequence[Fix]) -> list[DetectedEvent]:
    per_fix, flushed = run_each(track)
    return [e for events in per_fix for e in events] + flushed


def test_the_test_points_are_where_the_config_says() -> None:
    assert ZONES.limit_at(*IN_ZONE).zone_id == "zone30-naniwa"
    assert ZONES.limit_at(*ON_ROAD).zone_kind == "default"


def test_40_kmh_in_a_school_zone_is_one_event_at_its_end() -> None:
    per_fix, flushed = run_each(drive([25] * 3 + [38, 40, 43, 41, 40, 40, 39, 38] + [25] * 3))
    assert [len(events) for events in per_fix] == [0] * 11 + [1, 0, 0]
    assert flushed == []
    ev = per_fix[11][0]
    assert ev.kind == EventKind.SPEEDING
    assert (ev.start, ev.end) == (T0 + timedelta(seconds=3), T0 + timedelta(seconds=10))
    assert ev.details.max_speed_kmh == pytest.approx(43)
    assert ev.details.limit_kmh == 30 and ev.details.zone_id == "zone30-naniwa"
    assert ev.details.zone_kind == "school_zone"
    assert ev.details.duration_s == pytest.approx(7)
    assert ev.severity == "medium"  # 13 km/h over


def test_40_kmh_on_the_road_is_fine() -> None:
    assert run(drive([40] * 30, ON_ROAD)) == []


def test_80_kmh_on_the_road_is_speeding_against_the_default_limit() -> None:
    (ev,) = run(drive([50] * 3 + [80] * 10 + [50] * 3, ON_ROAD))
    assert ev.details.limit_kmh == 60 and ev.details.zone_id is None
    assert ev.details.zone_kind == "default"
    assert ev.severity == "high"


@pytest.mark.parametrize("over_s", [1, 3, 4])
def test_short_excursions_are_dropped(over_s: int) -> None:
    assert run(drive([25] * 3 + [45] * over_s + [25] * 3)) == []


def test_at_limit_plus_tolerance_is_not_over() -> None:
    assert run(drive([35] * 20)) == []
    assert len(run(drive([35.1] * 20))) == 1


def test_one_event_per_episode_at_10_hz() -> None:
    episode = [45 + 0.3 * (-1) ** i for i in range(200)]  # 20 s over, speed wobbling
    events = run(drive([25] * 20 + episode + [25] * 20 + episode[:100] + [25] * 5, rate_hz=10))
    assert [e.details.duration_s for e in events] == pytest.approx([19.9, 9.9])


def test_an_open_episode_is_closed_by_flush() -> None:
    per_fix, flushed = run_each(drive([25] * 3 + [45] * 10))
    assert all(events == [] for events in per_fix)
    assert [e.end for e in flushed] == [T0 + timedelta(seconds=12)]
    assert run_each(drive([25] * 3 + [45] * 2))[1] == []  # still too short at the end


def test_flush_twice_reports_once() -> None:
    state = SpeedingState()
    for f in drive([45] * 10):
        state, _ = step(state, f, ZONES.limit_at(f.lat_deg, f.lon_deg), CFG)
    state, first = flush(state, CFG)
    assert len(first) == 1 and flush(state, CFG)[1] == []


def test_leaving_the_zone_still_too_fast_continues_the_episode() -> None:
    track = drive([40] * 6) + [fix(6 + i, 70, ON_ROAD) for i in range(6)] + [fix(12, 50, ON_ROAD)]
    (ev,) = run(track)
    assert (ev.start, ev.end) == (T0, T0 + timedelta(seconds=11))
    assert ev.details.limit_kmh == 30 and ev.details.zone_id == "zone30-naniwa"
    assert ev.details.max_speed_kmh == pytest.approx(70)
    assert (ev.lat_deg, ev.lon_deg) == ON_ROAD  # where the max was
    assert ev.severity == "medium"  # worst excess: 10 km/h over 30, 10 km/h over 60


def test_leaving_the_zone_under_the_road_limit_ends_the_episode() -> None:
    track = drive([50] * 6) + [fix(6 + i, 50, ON_ROAD) for i in range(10)]
    (ev,) = run(track)
    assert ev.end == T0 + timedelta(seconds=5)
    assert ev.severity == "high"  # 20 km/h over the school zone's 30


def test_entering_a_zone_reports_the_zone() -> None:
    track = [fix(i, 50, ON_ROAD) for i in range(5)] + [fix(5 + i, 50) for i in range(8)]
    (ev,) = run(track)
    assert ev.start == T0 + timedelta(seconds=5)
    assert ev.details.zone_id == "zone30-naniwa"


@pytest.mark.parametrize(("silent_s", "expected"), [(4, 1), (6, 2)])
def test_a_data_gap_ends_the_episode(silent_s: int, expected: int) -> None:
    first = drive([45] * 8)
    second = [fix(7 + silent_s + i, 45) for i in range(8)]
    assert len(run(first + second)) == expected


def test_fixes_without_speed_neither_extend_nor_end_an_episode() -> None:
    (ev,) = run(drive([45, 45, 45, None, None, 45, 45, 45, 25]))
    assert ev.end == T0 + timedelta(seconds=7)
    assert run(drive([25, 45, 45, None, None, None, None, None, 25])) == []  # 1 s over


def test_duplicates_and_late_fixes_are_ignored() -> None:
    track = drive([25, 45, 45, 45, 45, 45, 45, 45, 25])
    state = SpeedingState()
    for f in track[:5]:
        state, _ = step(state, f, ZONES.limit_at(*IN_ZONE), CFG)
    for stale in (track[4], track[1], track[0].model_copy(update={"speed_mps": 0.0})):
        assert step(state, stale, ZONES.limit_at(*IN_ZONE), CFG) == (state, [])
    assert run([*track[:5], track[4], track[0], *track[5:]]) == run(track)


# --- properties --------------------------------------------------------------------------

LAT = st.floats(34.655, 34.685)
LON = st.floats(135.49, 135.515)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.lists(st.tuples(LAT, LON, st.floats(0, 1)), min_size=1, max_size=120),
    rate_hz=st.sampled_from([1, 10]),
)
def test_never_over_limit_plus_tolerance_is_never_speeding(
    points: list[tuple[float, float, float]], rate_hz: int
) -> None:
    state, found = SpeedingState(), []
    for i, (lat, lon, share) in enumerate(points):
        limit = ZONES.limit_at(lat, lon)
        f = fix(i / rate_hz, share * (limit.limit_kmh + CFG.tolerance_kmh), (lat, lon))
        state, events = step(state, f, limit, CFG)
        found.extend(events)
    assert found + flush(state, CFG)[1] == []


@settings(max_examples=40, deadline=None)
@given(over_s=st.integers(0, 30), excess_kmh=st.floats(0.5, 40))
def test_an_excursion_is_reported_iff_it_lasts_min_duration(over_s: int, excess_kmh: float) -> None:
    speeds = [25.0] * 3 + [35 + excess_kmh] * (over_s + 1) + [25.0] * 3
    events = run(drive(speeds))
    assert len(events) == (1 if over_s >= CFG.min_duration_s else 0)
