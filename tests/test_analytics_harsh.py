"""Harsh braking / harsh acceleration: scripted speed traces, properties, step == vectorised."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.driving.findings import DetectedEvent
from analytics.driving.harsh import (
    LINGER_S,
    HarshState,
    advance_window,
    flush,
    harsh_events_track,
    restart,
    step,
)
from citytrack.config import VehicleClass, load_config
from citytrack.wire import EventKind, Fix

T0 = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)


class Sample(NamedTuple):
    t_s: float
    speed_mps: float


CLASSES = load_config().city.vehicle_classes
HEAVY = CLASSES["heavy"]
LIGHT = CLASSES["light"]
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fixes_at(times_s: Sequence[float], speeds: Sequence[float | None]) -> list[Fix]:
    """Fixes at T0 + times_s (s), moving north a little each fix, with the given speeds."""
    return [
        Fix(
            device_id="truck-01",
            seq=i + 1,
            fix_time=T0 + timedelta(microseconds=round(t * 1e6)),
            recv_time=T0 + timedelta(microseconds=round(t * 1e6)),
            lat_deg=34.66 + i * 1e-5,
            lon_deg=135.49,
            speed_mps=v,
        )
        for i, (t, v) in enumerate(zip(times_s, speeds, strict=True))
    ]


def fixes(speeds: Sequence[float | None], rate_hz: float = 1.0) -> list[Fix]:
    return fixes_at([i / rate_hz for i in range(len(speeds))], speeds)


def run(track: Sequence[Fix], cfg: VehicleClass) -> list[DetectedEvent]:
    """All events of a track through step, then flush."""
    state, found = HarshState(), []
    for fix in track:
        state, events = step(state, fix, cfg)
        found.extend(events)
    return found + flush(state, cfg)[1]


def ramp(
    v0: float, accel: float, v1: float, rate_hz: float, *, lead_s: float = 5, tail_s: float = 5
) -> np.ndarray:
    """Speeds (m/s): v0 for lead_s, constant accel (m/s^2) until v1, then v1 for tail_s."""
    ramp_s = abs(v1 - v0) / abs(accel)
    t = np.arange(0, lead_s + ramp_s + tail_s, 1 / rate_hz)
    v = v0 + accel * np.clip(t - lead_s, 0, ramp_s)
    return np.asarray(v, dtype=float)


def noisy(v: np.ndarray, sigma: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(x) for x in np.clip(v + rng.normal(0, sigma, v.size), 0, None)]


def test_1hz_braking_11_6_1_0_is_one_event() -> None:
    events = run(fixes([11, 11, 11, 6, 1, 0, 0, 0]), HEAVY)
    assert len(events) == 1
    ev = events[0]
    assert ev.kind == EventKind.HARSH_BRAKING
    assert ev.details.peak_mps2 == pytest.approx(5.0)
    assert ev.details.speed_from_mps == 11 and ev.details.speed_to_mps == 1
    # the episode counts its first window: from the last 11 m/s fix to the 1 m/s fix
    assert (ev.start, ev.end) == (T0 + timedelta(seconds=2), T0 + timedelta(seconds=4))
    assert ev.details.duration_s == pytest.approx(2.0)
    assert ev.severity == "high"  # 5.0 / 3.0 >= 1.5
    assert ev.lat_deg == pytest.approx(34.66 + 3e-5)  # first fix of peak deceleration


def test_event_is_emitted_when_the_braking_ends() -> None:
    state, per_fix = HarshState(), []
    for fix in fixes([11, 11, 6, 1, 0, 0]):
        state, events = step(state, fix, HEAVY)
        per_fix.append(len(events))
    assert per_fix == [0, 0, 0, 0, 1, 0]
    assert flush(state, HEAVY)[1] == []


@pytest.mark.parametrize("rate_hz", [1, 10])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_harsh_braking_5mps2_from_11_is_detected(rate_hz: int, seed: int) -> None:
    speeds = noisy(ramp(11, -5, 0, rate_hz), 0.1, seed)
    events = run(fixes(speeds, rate_hz), HEAVY)
    assert [e.kind for e in events] == [EventKind.HARSH_BRAKING]
    assert events[0].details.peak_mps2 == pytest.approx(5.0, abs=0.5)
    assert 1.0 <= events[0].duration_s <= 3.5


@pytest.mark.parametrize("rate_hz", [1, 10])
@pytest.mark.parametrize("cfg", [HEAVY, LIGHT])
def test_normal_stop_at_1_5mps2_is_not_harsh(rate_hz: int, cfg: VehicleClass) -> None:
    speeds = noisy(ramp(11, -1.5, 0, rate_hz), 0.1, seed=7)
    assert run(fixes(speeds, rate_hz), cfg) == []


@pytest.mark.parametrize("rate_hz", [1, 10])
def test_harsh_acceleration_3mps2_depends_on_class(rate_hz: int) -> None:
    speeds = noisy(ramp(0, 3, 12, rate_hz), 0.05, seed=11)
    events = run(fixes(speeds, rate_hz), HEAVY)
    assert [e.kind for e in events] == [EventKind.HARSH_ACCELERATION]
    assert events[0].severity == "medium"  # 3.0 / 2.2 is between 1.2 and 1.5
    assert events[0].details.threshold_mps2 == HEAVY.harsh_acceleration_mps2
    assert run(fixes(speeds, rate_hz), LIGHT) == []  # 3.4 m/s^2 threshold


def test_min_duration_counts_the_window() -> None:
    strict = HEAVY.model_copy(update={"min_duration_s": 2.0})
    assert run(fixes([11, 11, 6, 6, 6]), strict) == []  # one 1 s window
    assert len(run(fixes([11, 11, 6, 1, 1]), strict)) == 1  # two windows: 2 s
    assert len(run(fixes([11, 11, 6, 6, 6]), HEAVY)) == 1  # min_duration_s = 1.0


def test_windows_with_both_speeds_under_min_speed_are_ignored() -> None:
    cfg = HEAVY.model_copy(update={"min_speed_mps": 5.0})
    assert run(fixes([4.5, 4.5, 0.5, 0.5]), cfg) == []  # -4 m/s^2, both under 5 m/s
    assert len(run(fixes([5.5, 5.5, 1.5, 1.5]), cfg)) == 1  # -4 m/s^2, one over 5 m/s


def test_a_gap_resets_the_estimator() -> None:
    # 11 m/s, 3 s without a fix, then 0 m/s: -3.7 m/s^2 if bridged
    assert run(fixes_at([0, 1, 2, 5, 6], [11, 11, 11, 0, 0]), HEAVY) == []
    # one lost 1 Hz epoch (2 s) is bridged: -4 m/s^2 over a 2 s window
    assert len(run(fixes_at([0, 1, 2, 4, 5], [11, 11, 11, 3, 3]), HEAVY)) == 1


def test_a_fix_without_speed_resets_the_estimator() -> None:
    assert run(fixes([11, 11, 11, None, 2, 2, 2]), HEAVY) == []


def test_a_gap_closes_an_open_episode() -> None:
    # bridged, 15 -> 2 m/s over the 4 s gap would be -3.25 m/s^2 and extend the episode
    track = fixes_at([0, 1, 2, 3, 7, 8], [25, 25, 20, 15, 2, 2])
    state = HarshState()
    at_gap: list[DetectedEvent] = []
    for fix in track[:5]:
        state, at_gap = step(state, fix, HEAVY)
    assert [e.kind for e in at_gap] == [EventKind.HARSH_BRAKING]
    assert at_gap[0].end == T0 + timedelta(seconds=3)


def test_duplicate_and_out_of_order_fixes_leave_the_state_unchanged() -> None:
    track = fixes([11, 11, 6, 1, 0])
    state = HarshState()
    for fix in track[:3]:
        state, _ = step(state, fix, HEAVY)
    for stale in (track[2], track[0], replace_speed(track[2], 0.0)):
        again, events = step(state, stale, HEAVY)
        assert again == state and events == []
    shuffled = [track[0], track[1], track[1], track[0], track[2], track[3], track[2], track[4]]
    assert run(shuffled, HEAVY) == run(track, HEAVY)


def replace_speed(fix: Fix, speed_mps: float) -> Fix:
    return fix.model_copy(update={"speed_mps": speed_mps})


def test_braking_then_acceleration_are_two_events() -> None:
    events = run(fixes([11, 11, 6, 1, 1, 1, 5, 9, 12, 12]), HEAVY)
    assert [e.kind for e in events] == [EventKind.HARSH_BRAKING, EventKind.HARSH_ACCELERATION]


def test_a_short_dip_under_the_threshold_does_not_split_the_episode() -> None:
    # 10 Hz: -3.5 m/s^2, then 0.5 s at -2.5 (under 3.0), then -3.5 again: one stop
    decel = [3.5] * 20 + [2.5] * 5 + [3.5] * 10
    speeds = list(np.maximum(14.0 - np.cumsum([0.0] * 10 + decel) / 10, 0.0)) + [0.0] * 10
    events = run(fixes(speeds, 10), HEAVY)
    assert [e.kind for e in events] == [EventKind.HARSH_BRAKING]
    # a dip of LINGER_S or more ends it: two stops
    decel = [3.5] * 20 + [2.5] * round(LINGER_S * 10 + 11) + [3.5] * 10
    speeds = list(np.maximum(14.0 - np.cumsum([0.0] * 10 + decel) / 10, 0.0)) + [0.0] * 10
    assert [e.kind for e in run(fixes(speeds, 10), HEAVY)] == [EventKind.HARSH_BRAKING] * 2


@PROPERTY
@given(margin=st.floats(0.3, 1.5), seed=st.integers(0, 2**32 - 1))
def test_one_launch_is_one_event_at_10hz(margin: float, seed: int) -> None:
    # noise where the window acceleration crosses the threshold must not split the event
    accel = HEAVY.harsh_acceleration_mps2 + margin
    speeds = noisy(ramp(0.0, accel, 12.0, 10), 0.1, seed)
    assert [e.kind for e in run(fixes(speeds, 10), HEAVY)] == [EventKind.HARSH_ACCELERATION]


def test_restart_closes_the_episode_and_forgets_the_window() -> None:
    state = HarshState()
    for fix in fixes([11, 11, 6, 1]):
        state, _ = step(state, fix, HEAVY)
    state, events = restart(state, HEAVY)
    assert [e.kind for e in events] == [EventKind.HARSH_BRAKING]
    assert (state.history, state.episode) == ((), None)
    # the next fix has no window to compare with, however different its speed
    state, events = step(state, fixes([11, 11, 6, 1, 12])[4], HEAVY)
    assert events == [] and state.episode is None


def test_advance_window_finds_the_reference_a_second_back() -> None:
    samples = [(t / 10, 0.0) for t in range(25)]
    history: tuple[Sample, ...] = ()
    refs = []
    for t_s, v in samples:
        cur = Sample(t_s, v)
        history, ref = advance_window(history, cur)
        refs.append(None if ref is None else round(ref.t_s, 1))
    assert refs[:10] == [None] * 10 and refs[10] == 0.0 and refs[24] == 1.4
    assert history[0].t_s == pytest.approx(1.4)


# --- properties --------------------------------------------------------------------------


@PROPERTY
@given(
    speed=st.floats(0, 25),
    sigma=st.floats(0, 0.1),
    rate_hz=st.sampled_from([1, 10]),
    seed=st.integers(0, 2**32 - 1),
    cfg=st.sampled_from([HEAVY, LIGHT]),
)
def test_constant_speed_with_noise_is_never_harsh(
    speed: float, sigma: float, rate_hz: int, seed: int, cfg: VehicleClass
) -> None:
    speeds = noisy(np.full(60 * rate_hz, speed), sigma, seed)
    assert run(fixes(speeds, rate_hz), cfg) == []


@PROPERTY
@given(
    jitter=st.floats(0, 0.5),
    rate_hz=st.sampled_from([1, 10]),
    seed=st.integers(0, 2**32 - 1),
    min_speed_mps=st.sampled_from([0.0, HEAVY.min_speed_mps]),
)
def test_stationary_drift_is_never_harsh(
    jitter: float, rate_hz: int, seed: int, min_speed_mps: float
) -> None:
    # also with the standstill gate off: the 1 s window alone must absorb 10 Hz jitter
    cfg = HEAVY.model_copy(update={"min_speed_mps": min_speed_mps})
    rng = np.random.default_rng(seed)
    speeds = [float(x) for x in rng.uniform(0, jitter, 60 * rate_hz)]
    assert run(fixes(speeds, rate_hz), cfg) == []


@st.composite
def tracks(draw: st.DrawFn) -> tuple[list[float], list[float | None]]:
    """Piecewise-constant-acceleration drives, with noise, lost epochs, data gaps, missing
    speeds, duplicates and late fixes: (times_s, speeds_mps)."""
    rate_hz = draw(st.sampled_from([1, 10]))
    silent_s = st.sampled_from([0.0, 0.0, 0.0, 2.0, 3.0, 6.0])  # receiver silent, truck moving
    segments = draw(
        st.lists(st.tuples(st.floats(0.5, 8), st.floats(-6, 4), silent_s), min_size=1, max_size=8)
    )
    loss = draw(st.sampled_from([0.0, 0.05, 0.3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    times, speeds, v = [], [], draw(st.floats(0, 20))
    t = 0.0
    for duration_s, accel, quiet_s in segments:
        for k in range(max(1, round(duration_s * rate_hz))):
            v = min(max(v + accel / rate_hz, 0.0), 30.0)
            t += 1 / rate_hz
            if k < quiet_s * rate_hz or rng.random() < loss:
                continue  # no fix this epoch
            times.append(t)
            speeds.append(None if rng.random() < 0.02 else max(v + rng.normal(0, 0.08), 0.0))
    for _ in range(draw(st.integers(0, 3))):  # repeat or replay some fixes late
        if times:
            i, j = sorted(int(x) for x in rng.integers(0, len(times), 2))
            times.insert(j + 1, times[i])
            speeds.insert(j + 1, speeds[i])
    return times, speeds


@PROPERTY
@given(track=tracks(), cfg=st.sampled_from([HEAVY, LIGHT]))
def test_step_agrees_with_vectorised(
    track: tuple[list[float], list[float | None]], cfg: VehicleClass
) -> None:
    times_s, speeds = track
    fx = fixes_at(times_s, speeds)
    vectorised = harsh_events_track(
        np.array([f.fix_time.timestamp() for f in fx]),
        np.array([np.nan if f.speed_mps is None else f.speed_mps for f in fx]),
        cfg,
        np.array([f.lat_deg for f in fx]),
        np.array([f.lon_deg for f in fx]),
    )
    assert vectorised == run(fx, cfg)


def test_vectorised_finds_the_scripted_events() -> None:
    fx = fixes([11, 11, 6, 1, 1, 1, 5, 9, 12, 12, None, 12, 12])
    t = np.array([f.fix_time.timestamp() for f in fx])
    v = np.array([np.nan if f.speed_mps is None else f.speed_mps for f in fx])
    events = harsh_events_track(t, v, HEAVY)
    assert [e.kind for e in events] == [EventKind.HARSH_BRAKING, EventKind.HARSH_ACCELERATION]
    assert all(np.isnan(e.lat_deg) and np.isnan(e.lon_deg) for e in events)  # no positions
    assert [(e.start, e.end) for e in events] == [(e.start, e.end) for e in run(fx, HEAVY)]


def test_vectorised_rejects_bad_arrays() -> None:
    with pytest.raises(ValueError, match="one length"):
        harsh_events_track(np.arange(3.0), np.zeros(2), HEAVY)
    with pytest.raises(ValueError, match="finite"):
        harsh_events_track(np.array([0.0, np.nan]), np.zeros(2), HEAVY)
    assert harsh_events_track(np.array([]), np.array([]), HEAVY) == []
