"""Harsh cornering: lateral acceleration from the receiver's speed and course over ground.

Pure: no clock (time is the fix's GNSS time), no I/O. ``step`` feeds one fix at a time.

Estimator. The lateral (centripetal) acceleration of a vehicle is its speed times its yaw
rate, ``a = v * omega``. The yaw rate comes from the course over ground (RMC/VTG, the
direction of the Doppler velocity) over a window of about two seconds::

    omega_i = unwrap(c_i - c_j) / (t_i - t_j),   a_i = (v_i + v_j) / 2 * |omega_i|

with ``j`` the latest sample at least ``WINDOW_MIN_S`` before ``i`` and ``unwrap`` taking
the short way round (359 deg to 1 deg is +2 deg). Two seconds rather than harsh braking's
one: a course error is a cross-track velocity error (0.1 m/s in open sky, up to ~1 m/s
between tall buildings) and the window divides it by its length, while a harsh turn (a
street corner at speed) lasts two seconds or more anyway. Course is used only from
``max(COURSE_MIN_SPEED_MPS, VehicleClass.min_speed_mps)``: slower, a receiver's course is
mostly noise, and no turn that slow can be harsh (at 3 m/s, even a 5 m radius gives
1.8 m/s^2). A slower fix, a fix without course or speed, or a gap over ``GAP_S`` restarts
the estimator.

Plausibility. A road vehicle turns no tighter than ``MIN_TURN_RADIUS_M`` (``omega <= v/R``
between any two samples) and no harder than its tyres grip (``MAX_LATERAL_MPS2``, about
1 g). Beyond either is a course artefact (a course that snapped round a corner between
two epochs, say) rather than driving: it closes the open episode and the estimator
restarts at that fix.

Episodes. Consecutive windows at or over ``VehicleClass.harsh_cornering_mps2`` turning the
same way form one episode, timed like harsh braking (from the first window's reference
sample to the last sample); like a harsh episode it survives windows under the threshold
for less than ``LINGER_S``. An episode lasting ``min_duration_s`` becomes one
``harsh_cornering`` event when the lateral acceleration has fallen back for ``LINGER_S``,
the turn changes direction, the estimator restarts, or at ``flush``. Fixes not after the
last accepted fix are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from analytics.driving.findings import DetectedEvent
from analytics.driving.harsh import DURATION_EPS_S, GAP_S, LINGER_S, advance_window, severity_for
from analytics.driving.quality import COURSE_MIN_SPEED_MPS, angle_diff_deg
from citytrack.alerts import CorneringDetails
from citytrack.config import VehicleClass
from citytrack.wire import EventKind, Fix

WINDOW_MIN_S = 1.95
"""Shortest yaw window (2 s nominal, less slack for timestamp jitter), s."""
MIN_TURN_RADIUS_M = 5.0
"""Tightest turn of any road vehicle (a small car's turning circle), m."""
MAX_LATERAL_MPS2 = 9.81
"""Tyre grip: no road vehicle corners harder than about 1 g, m/s^2."""

Direction = Literal["left", "right"]


class _Sample(NamedTuple):
    t_s: float  # POSIX time, s
    speed_mps: float
    course_deg: float  # true course over ground, degrees clockwise from north


@dataclass(frozen=True)
class CorneringEpisode:
    """An open (or just closed) run of windows over the threshold. Times are POSIX s."""

    direction: Direction
    start_t_s: float
    end_t_s: float
    turn_deg: float  # heading change from the first reference sample to the last, signed
    last_course_deg: float
    peak_mps2: float
    peak_speed_mps: float
    peak_lat_deg: float
    peak_lon_deg: float


@dataclass(frozen=True)
class CorneringState:
    """Per-device state: last accepted fix time (POSIX s), window samples, open episode."""

    last_t_s: float | None = None
    history: tuple[_Sample, ...] = ()
    episode: CorneringEpisode | None = None


def yaw_rate_rps(course_from_deg: float, course_to_deg: float, dt_s: float) -> float:
    """Mean yaw rate between two courses ``dt_s`` apart, rad/s; positive = turning right."""
    return math.radians(angle_diff_deg(course_to_deg, course_from_deg)) / dt_s


def _min_speed_mps(cfg: VehicleClass) -> float:
    return max(COURSE_MIN_SPEED_MPS, cfg.min_speed_mps)


def _can_turn(prev: _Sample, cur: _Sample) -> bool:
    """Could a road vehicle turn this fast between two samples? (its turning circle)"""
    yaw = yaw_rate_rps(prev.course_deg, cur.course_deg, cur.t_s - prev.t_s)
    return abs(yaw) <= max(prev.speed_mps, cur.speed_mps) / MIN_TURN_RADIUS_M


def _close(episode: CorneringEpisode | None, cfg: VehicleClass) -> list[DetectedEvent]:
    """The event for a finished episode, or nothing if it was too short (or absent)."""
    if episode is None:
        return []
    duration_s = episode.end_t_s - episode.start_t_s
    if duration_s < cfg.min_duration_s - DURATION_EPS_S:
        return []
    threshold = cfg.harsh_cornering_mps2
    return [
        DetectedEvent(
            kind=EventKind.HARSH_CORNERING,
            severity=severity_for(episode.peak_mps2, threshold),
            start=datetime.fromtimestamp(episode.start_t_s, UTC),
            end=datetime.fromtimestamp(episode.end_t_s, UTC),
            lat_deg=episode.peak_lat_deg,
            lon_deg=episode.peak_lon_deg,
            details=CorneringDetails(
                peak_mps2=episode.peak_mps2,
                threshold_mps2=threshold,
                speed_mps=episode.peak_speed_mps,
                turn_deg=abs(episode.turn_deg),
                direction=episode.direction,
                duration_s=duration_s,
            ),
        )
    ]


def _grow(
    episode: CorneringEpisode | None,
    direction: Direction,
    lateral_mps2: float,
    ref: _Sample,
    cur: _Sample,
    fix: Fix,
) -> CorneringEpisode:
    """Open an episode at this window, or extend the open one (same direction)."""
    if episode is None:
        turn = angle_diff_deg(cur.course_deg, ref.course_deg)
        return CorneringEpisode(
            direction,
            ref.t_s,
            cur.t_s,
            turn,
            cur.course_deg,
            lateral_mps2,
            cur.speed_mps,
            fix.lat_deg,
            fix.lon_deg,
        )
    peak = lateral_mps2 > episode.peak_mps2
    return CorneringEpisode(
        direction=direction,
        start_t_s=episode.start_t_s,
        end_t_s=cur.t_s,
        turn_deg=episode.turn_deg + angle_diff_deg(cur.course_deg, episode.last_course_deg),
        last_course_deg=cur.course_deg,
        peak_mps2=lateral_mps2 if peak else episode.peak_mps2,
        peak_speed_mps=cur.speed_mps if peak else episode.peak_speed_mps,
        peak_lat_deg=fix.lat_deg if peak else episode.peak_lat_deg,
        peak_lon_deg=fix.lon_deg if peak else episode.peak_lon_deg,
    )


def _sample(fix: Fix, cfg: VehicleClass) -> _Sample | None:
    """The fix as a window sample, or None if its course cannot be used."""
    if fix.speed_mps is None or fix.course_deg is None or fix.speed_mps < _min_speed_mps(cfg):
        return None
    return _Sample(fix.fix_time.timestamp(), fix.speed_mps, fix.course_deg)


def _window(
    state: CorneringState, cur: _Sample, fix: Fix, cfg: VehicleClass
) -> tuple[CorneringState, list[DetectedEvent]]:
    """Add a usable sample to an unbroken history and classify its window."""
    if state.history and not _can_turn(state.history[-1], cur):
        return CorneringState(cur.t_s, (cur,), None), _close(state.episode, cfg)
    history, ref = advance_window(state.history, cur, WINDOW_MIN_S)
    if ref is None:
        return CorneringState(cur.t_s, history, state.episode), []
    yaw = yaw_rate_rps(ref.course_deg, cur.course_deg, cur.t_s - ref.t_s)
    lateral = (ref.speed_mps + cur.speed_mps) / 2 * abs(yaw)
    if lateral > MAX_LATERAL_MPS2:
        return CorneringState(cur.t_s, (cur,), None), _close(state.episode, cfg)
    direction: Direction | None = None
    if lateral >= cfg.harsh_cornering_mps2:
        direction = "right" if yaw > 0 else "left"
    episode, events = state.episode, []
    lingers = direction is None and episode is not None and cur.t_s - episode.end_t_s < LINGER_S
    if episode is not None and episode.direction != direction and not lingers:
        events, episode = _close(episode, cfg), None
    if direction is not None:
        episode = _grow(episode, direction, lateral, ref, cur, fix)
    return CorneringState(cur.t_s, history, episode), events


def step(
    state: CorneringState, fix: Fix, cfg: VehicleClass
) -> tuple[CorneringState, list[DetectedEvent]]:
    """Feed one fix; return the new state and the cornering events that ended with it.

    Uses ``fix.fix_time``, ``fix.speed_mps`` (m/s) and ``fix.course_deg`` (degrees);
    threshold and minimum duration from ``cfg`` (m/s^2, s).
    """
    t_s = fix.fix_time.timestamp()
    if state.last_t_s is not None and t_s <= state.last_t_s:
        return state, []
    cur = _sample(fix, cfg)
    gap = state.last_t_s is not None and t_s - state.last_t_s > GAP_S
    if cur is None or gap:
        history = () if cur is None else (cur,)
        return CorneringState(t_s, history, None), _close(state.episode, cfg)
    return _window(state, cur, fix, cfg)


def restart(state: CorneringState, cfg: VehicleClass) -> tuple[CorneringState, list[DetectedEvent]]:
    """A gap in the trusted data: close the open episode and forget the window history."""
    return CorneringState(state.last_t_s, (), None), _close(state.episode, cfg)


def flush(state: CorneringState, cfg: VehicleClass) -> tuple[CorneringState, list[DetectedEvent]]:
    """End of data: close the open episode (if long enough, it becomes an event)."""
    return CorneringState(state.last_t_s, state.history, None), _close(state.episode, cfg)
