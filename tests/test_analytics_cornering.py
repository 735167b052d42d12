"""Harsh cornering: lateral acceleration from speed and course, per vehicle class."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from analytics.driving.cornering import CorneringState, flush, restart, step, yaw_rate_rps
from analytics.driving.findings import DetectedEvent
from citytrack.config import VehicleClass, load_config
from citytrack.wire import EventKind, Fix
from tests import gnss_tracks as g

CLASSES = load_config().city.vehicle_classes
HEAVY, MEDIUM, LIGHT = CLASSES["heavy"], CLASSES["medium"], CLASSES["light"]
KMH = 1 / 3.6


def run(track: Sequence[Fix], cfg: VehicleClass) -> list[DetectedEvent]:
    state, found = CorneringState(), []
    for fix in track:
        state, events = step(state, fix, cfg)
        found.extend(events)
    return found + flush(state, cfg)[1]


def noisy(m: g.Motion, seed: int = 1) -> list[Fix]:
    return g.fixes(m, rng=np.random.default_rng(seed), speed_sigma=0.1, position_sigma_m=2.0)


def test_yaw_rate_takes_the_short_way_round() -> None:
    assert yaw_rate_rps(359.0, 1.0, 1.0) == pytest.approx(math.radians(2.0))
    assert yaw_rate_rps(1.0, 359.0, 2.0) == pytest.approx(math.radians(-1.0))
    assert yaw_rate_rps(90.0, 180.0, 2.0) == pytest.approx(math.pi / 4)


@pytest.mark.parametrize("rate_hz", [1, 10])
@pytest.mark.parametrize("cfg", [HEAVY, MEDIUM, LIGHT])
def test_a_street_corner_at_20_kmh_over_5_s_is_normal(rate_hz: int, cfg: VehicleClass) -> None:
    # 5.6 m/s x 18 deg/s = 1.75 m/s^2, under every class threshold
    for turn_deg in (90.0, -90.0):
        assert run(noisy(g.turn(20 * KMH, turn_deg, 5.0, rate_hz)), cfg) == []


@pytest.mark.parametrize("rate_hz", [1, 10])
@pytest.mark.parametrize(("turn_deg", "direction"), [(90.0, "right"), (-90.0, "left")])
def test_a_90_degree_turn_at_40_kmh_in_2_s_is_harsh(
    rate_hz: int, turn_deg: float, direction: str
) -> None:
    # 11.1 m/s x 45 deg/s = 8.7 m/s^2
    events = run(noisy(g.turn(40 * KMH, turn_deg, 2.0, rate_hz)), HEAVY)
    assert [e.kind for e in events] == [EventKind.HARSH_CORNERING]
    ev = events[0]
    assert ev.details.direction == direction
    assert ev.details.peak_mps2 == pytest.approx(8.7, abs=0.5)
    assert ev.details.threshold_mps2 == HEAVY.harsh_cornering_mps2
    assert ev.details.turn_deg == pytest.approx(90.0, abs=10.0)
    assert ev.details.speed_mps == pytest.approx(11.1, abs=0.5)
    assert ev.severity == "high"
    assert 2.0 <= ev.duration_s <= 5.0  # the turn and the 2 s window


def test_turning_through_north_is_one_turn() -> None:
    events = run(noisy(g.turn(40 * KMH, 90.0, 2.0, 1, course0=315.0)), HEAVY)
    assert len(events) == 1 and events[0].details.turn_deg == pytest.approx(90.0, abs=5.0)


def test_the_threshold_depends_on_the_class() -> None:
    # 9 m/s x 20 deg/s = 3.1 m/s^2: harsh for a heavy or medium truck, not for a light one
    track = noisy(g.turn(9.0, 60.0, 3.0, 1))
    assert len(run(track, HEAVY)) == 1 and len(run(track, MEDIUM)) == 1
    assert run(track, LIGHT) == []


def test_min_duration_counts_the_window() -> None:
    track = g.fixes(g.turn(12.0, 50.0, 1.0, 1))  # 50 degrees in 1 s: two 2 s windows
    events = run(track, HEAVY)
    assert [e.duration_s for e in events] == [pytest.approx(3.0)]
    assert run(track, HEAVY.model_copy(update={"min_duration_s": 3.5})) == []


def test_course_at_low_speed_is_ignored() -> None:
    rng = np.random.default_rng(3)
    track = [
        f.model_copy(update={"speed_mps": 2.5, "course_deg": float(rng.uniform(0, 360))})
        for f in g.fixes(g.cruise(2.5, 30, 1))
    ]
    assert run(track, HEAVY) == []


def test_a_course_that_snaps_round_a_corner_is_not_driving() -> None:
    # a sharp polyline corner taken at 15 km/h: the course turns 90 degrees between two
    # epochs, a yaw rate no truck can reach at that speed (and 6.5 m/s^2)
    segs = [(5.0, 0.0, 0.0), (0.01, 0.0, 9000.0), (5.0, 0.0, 0.0)]
    for rate_hz in (1, 10):
        assert run(g.fixes(g.motion(segs, v0=15 * KMH, course0=0.0, rate_hz=rate_hz)), HEAVY) == []


def test_an_s_bend_is_two_episodes() -> None:
    segs = [(3.0, 0.0, 0.0), (2.0, 0.0, 40.0), (2.0, 0.0, -40.0), (3.0, 0.0, 0.0)]
    track = g.fixes(g.motion(segs, v0=10.0, course0=0.0, rate_hz=10))
    events = run(track, HEAVY)
    assert [e.details.direction for e in events] == ["right", "left"]


def test_a_gap_or_a_fix_without_course_ends_the_episode() -> None:
    track = g.fixes(g.turn(12.0, 90.0, 6.0, 1))  # 1 Hz, 3.1 m/s^2 from t=5 s to t=11 s
    (whole,) = run(track, HEAVY)
    assert (whole.start, whole.end) == (track[5].fix_time, track[11].fix_time)
    blank = [*track[:9], track[9].model_copy(update={"course_deg": None}), *track[10:]]
    gappy = [*track[:9], *track[12:]]  # 3 s without a fix
    for broken in (blank, gappy):
        assert [(e.start, e.end) for e in run(broken, HEAVY)] == [
            (track[5].fix_time, track[8].fix_time)
        ]


def test_duplicates_and_late_fixes_change_nothing() -> None:
    track = noisy(g.turn(40 * KMH, 90.0, 2.0, 1))
    state = CorneringState()
    for fix in track[:7]:
        state, _ = step(state, fix, HEAVY)
    for stale in (track[6], track[2]):
        assert step(state, stale, HEAVY) == (state, [])


def test_restart_closes_the_episode_and_forgets_the_window() -> None:
    track = g.fixes(g.turn(40 * KMH, 90.0, 2.0, 1))
    state = CorneringState()
    for fix in track[:8]:
        state, _ = step(state, fix, HEAVY)
    assert state.episode is not None
    state, events = restart(state, HEAVY)
    assert [e.kind for e in events] == [EventKind.HARSH_CORNERING]
    assert state.history == () and state.episode is None
    assert flush(state, HEAVY)[1] == []
