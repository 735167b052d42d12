"""Harsh braking and harsh acceleration from the receiver's speed over ground.

Pure: no clock (time is the fix's GNSS time), no I/O. Two forms that agree on the same
data: ``step`` for a live stream, one fix at a time, and ``harsh_events_track`` for a
whole track as numpy arrays.

Estimator. A receiver's speed carries ~0.05-0.1 m/s of noise per epoch; differencing
consecutive 10 Hz epochs would turn that into ~1 m/s^2. So the acceleration at sample i is
the mean over a window of about one second::

    a_i = (v_i - v_j) / (t_i - t_j),   j = the latest sample with t_j <= t_i - REFERENCE_MIN_S

at any rate (1 Hz: the previous epoch; 10 Hz: ten epochs back). A gap longer than
``GAP_S`` between fixes, or a fix without speed, restarts the estimator: no acceleration
is ever computed across missing data. A window whose two speeds are both under
``VehicleClass.min_speed_mps`` is ignored (GNSS jitter at standstill).

Episodes. Consecutive samples whose window acceleration is at or beyond the class
threshold (``harsh_braking_mps2`` decelerating, ``harsh_acceleration_mps2`` accelerating)
form one episode. It starts at the first such window's reference sample and ends at the
last such sample, so its duration counts the window: at 1 Hz, speeds 11, 6, 1, 0 m/s give
windows of -5, -5, -1 m/s^2 and a 2 s episode. An episode that lasts at least
``min_duration_s`` becomes one ``DetectedEvent`` when the acceleration has stayed under
the threshold for ``LINGER_S`` (at 1 Hz: at the first window under it), when a window of
the opposite kind comes, or at a gap, or at ``flush``. Windows under the threshold for
less than ``LINGER_S`` belong to the episode if it goes on: at 10 Hz, speed noise around
the threshold would otherwise split one harsh stop into two alerts.

Fixes whose time is not after the last accepted fix (duplicates, out of order) are
ignored: the state is returned unchanged.

The detector trusts the speeds it is given: feed it the fixes ``analytics.driving.quality``
accepted (``VehicleDetectors`` does), and call ``restart`` where the filter reports a gap.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import NamedTuple, Protocol, TypeVar

import numpy as np

from analytics.driving.findings import DetectedEvent, Severity
from citytrack.alerts import HarshDetails
from citytrack.config import VehicleClass
from citytrack.wire import EventKind, Fix

REFERENCE_MIN_S = 0.95
"""Shortest accepted window, s: the nominal window less slack for timestamp jitter."""
GAP_S = 2.5
"""Longest interval between fixes that the estimator bridges, s."""
DURATION_EPS_S = 1e-3
"""Slack on the min_duration_s comparison for float timestamps, s."""
LINGER_S = 1.0
"""An episode survives windows under the threshold for less than this after its last
window over it, so noise at the threshold does not split one event in two (10 Hz), s."""
HIGH_RATIO = 1.5
"""Peak/threshold ratio from which an event is high severity."""
MEDIUM_RATIO = 1.2
"""Peak/threshold ratio from which an event is medium severity."""


class _Sample(NamedTuple):
    t_s: float  # POSIX time, s
    speed_mps: float


class Timed(Protocol):
    """A window sample: anything with a POSIX time ``t_s`` (s)."""

    @property
    def t_s(self) -> float: ...


S = TypeVar("S", bound=Timed)


@dataclass(frozen=True)
class HarshEpisode:
    """An open (or just closed) run of windows beyond a threshold. Times are POSIX s."""

    kind: EventKind  # HARSH_BRAKING | HARSH_ACCELERATION
    start_t_s: float
    end_t_s: float
    speed_from_mps: float
    speed_to_mps: float
    peak_mps2: float  # magnitude, >= 0
    peak_lat_deg: float
    peak_lon_deg: float


@dataclass(frozen=True)
class HarshState:
    """Per-device state: last accepted fix time (POSIX s), window samples, open episode."""

    last_t_s: float | None = None
    history: tuple[_Sample, ...] = ()
    episode: HarshEpisode | None = None


def severity_for(peak_mps2: float, threshold_mps2: float) -> Severity:
    """Severity from the peak acceleration magnitude relative to the threshold (both m/s^2)."""
    ratio = peak_mps2 / threshold_mps2
    if ratio >= HIGH_RATIO:
        return "high"
    return "medium" if ratio >= MEDIUM_RATIO else "low"


def _threshold(kind: EventKind, cfg: VehicleClass) -> float:
    return (
        cfg.harsh_braking_mps2 if kind == EventKind.HARSH_BRAKING else cfg.harsh_acceleration_mps2
    )


def _close(episode: HarshEpisode | None, cfg: VehicleClass) -> list[DetectedEvent]:
    """The event for a finished episode, or nothing if it was too short (or absent)."""
    if episode is None:
        return []
    duration_s = episode.end_t_s - episode.start_t_s
    if duration_s < cfg.min_duration_s - DURATION_EPS_S:
        return []
    threshold = _threshold(episode.kind, cfg)
    return [
        DetectedEvent(
            kind=episode.kind,
            severity=severity_for(episode.peak_mps2, threshold),
            start=datetime.fromtimestamp(episode.start_t_s, UTC),
            end=datetime.fromtimestamp(episode.end_t_s, UTC),
            lat_deg=episode.peak_lat_deg,
            lon_deg=episode.peak_lon_deg,
            details=HarshDetails(
                peak_mps2=episode.peak_mps2,
                threshold_mps2=threshold,
                speed_from_mps=episode.speed_from_mps,
                speed_to_mps=episode.speed_to_mps,
                duration_s=duration_s,
            ),
        )
    ]


def _lingers(episode: HarshEpisode, kind: EventKind | None, t_s: float) -> bool:
    """Whether ``episode`` stays open through a window of ``kind`` at ``t_s`` (POSIX s)."""
    return kind is None and t_s - episode.end_t_s < LINGER_S


def _classify(accel: float, ref: _Sample, cur: _Sample, cfg: VehicleClass) -> EventKind | None:
    """The harsh kind of one window, or None (under threshold, or both speeds too low)."""
    if cur.speed_mps < cfg.min_speed_mps and ref.speed_mps < cfg.min_speed_mps:
        return None
    if accel <= -cfg.harsh_braking_mps2:
        return EventKind.HARSH_BRAKING
    if accel >= cfg.harsh_acceleration_mps2:
        return EventKind.HARSH_ACCELERATION
    return None


def advance_window(
    history: tuple[S, ...], cur: S, reference_min_s: float = REFERENCE_MIN_S
) -> tuple[tuple[S, ...], S | None]:
    """Append ``cur`` to a window history (times increasing); return the trimmed history
    and the window's reference sample: the latest at least ``reference_min_s`` (s) before
    ``cur`` (None if there is none yet).

    Later samples never reach further back than this reference, so older ones are dropped.
    """
    j = bisect_right(history, cur.t_s - reference_min_s, key=lambda s: s.t_s) - 1
    if j < 0:
        return (*history, cur), None
    return (*history[j:], cur), history[j]


def _grow(
    episode: HarshEpisode | None,
    kind: EventKind,
    accel: float,
    ref: _Sample,
    cur: _Sample,
    fix: Fix,
) -> HarshEpisode:
    """Open an episode at this window, or extend the open one of the same kind."""
    if episode is None:
        return HarshEpisode(
            kind,
            ref.t_s,
            cur.t_s,
            ref.speed_mps,
            cur.speed_mps,
            abs(accel),
            fix.lat_deg,
            fix.lon_deg,
        )
    peak = abs(accel) > episode.peak_mps2
    return HarshEpisode(
        kind=kind,
        start_t_s=episode.start_t_s,
        end_t_s=cur.t_s,
        speed_from_mps=episode.speed_from_mps,
        speed_to_mps=cur.speed_mps,
        peak_mps2=abs(accel) if peak else episode.peak_mps2,
        peak_lat_deg=fix.lat_deg if peak else episode.peak_lat_deg,
        peak_lon_deg=fix.lon_deg if peak else episode.peak_lon_deg,
    )


def step(state: HarshState, fix: Fix, cfg: VehicleClass) -> tuple[HarshState, list[DetectedEvent]]:
    """Feed one fix; return the new state and the harsh events that ended with it.

    Uses ``fix.fix_time`` and ``fix.speed_mps`` (m/s); thresholds from ``cfg`` (m/s^2).
    """
    t_s = fix.fix_time.timestamp()
    if state.last_t_s is not None and t_s <= state.last_t_s:
        return state, []
    history, episode, events = state.history, state.episode, []
    gap = state.last_t_s is not None and t_s - state.last_t_s > GAP_S
    if fix.speed_mps is None or gap:
        events, history, episode = _close(episode, cfg), (), None
    if fix.speed_mps is None:
        return HarshState(t_s, (), None), events
    cur = _Sample(t_s, fix.speed_mps)
    history, ref = advance_window(history, cur)
    kind: EventKind | None = None
    accel = 0.0
    if ref is not None:
        accel = (cur.speed_mps - ref.speed_mps) / (cur.t_s - ref.t_s)
        kind = _classify(accel, ref, cur, cfg)
    if episode is not None and episode.kind != kind and not _lingers(episode, kind, t_s):
        events, episode = [*events, *_close(episode, cfg)], None
    if kind is not None and ref is not None:
        episode = _grow(episode, kind, accel, ref, cur, fix)
    return HarshState(t_s, history, episode), events


def restart(state: HarshState, cfg: VehicleClass) -> tuple[HarshState, list[DetectedEvent]]:
    """A gap in the trusted data: close the open episode and forget the window history.

    Later fixes are estimated afresh; fixes not after ``state.last_t_s`` stay ignored.
    """
    return HarshState(state.last_t_s, (), None), _close(state.episode, cfg)


def flush(state: HarshState, cfg: VehicleClass) -> tuple[HarshState, list[DetectedEvent]]:
    """End of data: close the open episode (if long enough, it becomes an event)."""
    return HarshState(state.last_t_s, state.history, None), _close(state.episode, cfg)


# --- vectorised form -------------------------------------------------------------------


def _in_order(t_s: np.ndarray) -> np.ndarray:
    """Mask of samples later than every earlier sample (what ``step`` accepts)."""
    keep = np.ones(t_s.shape, dtype=bool)
    if t_s.size > 1:
        keep[1:] = t_s[1:] > np.maximum.accumulate(t_s)[:-1]
    return keep


def _window_accel(t_s: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window acceleration (m/s^2, NaN where none), reference index (-1 where none) and
    the index where each sample's unbroken segment starts.

    ``t_s`` strictly increasing; ``v`` NaN where a fix had no speed.
    """
    n = t_s.size
    idx = np.arange(n)
    brk = np.ones(n, dtype=bool)
    brk[1:] = (np.diff(t_s) > GAP_S) | np.isnan(v[1:]) | np.isnan(v[:-1])
    seg_start = np.maximum.accumulate(np.where(brk, idx, 0))
    ref = np.searchsorted(t_s, t_s - REFERENCE_MIN_S, side="right") - 1
    valid = (ref >= seg_start) & ~np.isnan(v)
    accel = np.full(n, np.nan)
    r = ref[valid]
    accel[valid] = (v[valid] - v[r]) / (t_s[valid] - t_s[r])
    return accel, np.where(valid, ref, -1), seg_start


def _codes(accel: np.ndarray, v: np.ndarray, ref: np.ndarray, cfg: VehicleClass) -> np.ndarray:
    """Per sample: -1 harsh braking window, +1 harsh acceleration window, 0 neither."""
    valid = ref >= 0
    v_ref = np.where(valid, v[np.maximum(ref, 0)], np.nan)
    slow = (v < cfg.min_speed_mps) & (v_ref < cfg.min_speed_mps)
    live = valid & ~slow
    codes = np.zeros(v.shape, dtype=np.int8)
    codes[live & (accel <= -cfg.harsh_braking_mps2)] = -1
    codes[live & (accel >= cfg.harsh_acceleration_mps2) & (codes == 0)] = 1
    return codes


def _runs(codes: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of equal non-zero codes."""
    if codes.size == 0:
        return []
    change = np.ones(codes.size + 1, dtype=bool)
    change[1:-1] = codes[1:] != codes[:-1]
    bounds = np.flatnonzero(change)
    return [(int(a), int(b) - 1) for a, b in pairwise(bounds) if codes[a]]


def _linger(
    runs: list[tuple[int, int]], codes: np.ndarray, t_s: np.ndarray, seg_start: np.ndarray
) -> list[tuple[int, int]]:
    """Join runs of one code separated only by neutral samples within LINGER_S of the
    first run's end, in one unbroken segment (what ``step`` does with ``_lingers``)."""
    out: list[tuple[int, int]] = []
    for first, last in runs:
        if out:
            a, b = out[-1]
            joined = (
                codes[a] == codes[first]
                and seg_start[b] == seg_start[first]
                and t_s[first - 1] - t_s[b] < LINGER_S
            )
            if joined:
                out[-1] = (a, last)
                continue
        out.append((first, last))
    return out


def harsh_events_track(
    t_s: np.ndarray,
    speed_mps: np.ndarray,
    cfg: VehicleClass,
    lat_deg: np.ndarray | None = None,
    lon_deg: np.ndarray | None = None,
) -> list[DetectedEvent]:
    """All harsh events of one device's track, in the order ``step`` + ``flush`` emit them.

    Args:
        t_s: fix times, POSIX seconds (``fix_time.timestamp()``), in arrival order.
        speed_mps: receiver speed per fix, m/s; NaN for a fix without speed.
        cfg: thresholds of the vehicle's class.
        lat_deg, lon_deg: fix positions, WGS84 degrees (events get NaN if omitted).

    Raises:
        ValueError: arrays of different lengths, or non-finite times.
    """
    t = np.asarray(t_s, dtype=float)
    v = np.asarray(speed_mps, dtype=float)
    lat = np.full(t.shape, np.nan) if lat_deg is None else np.asarray(lat_deg, dtype=float)
    lon = np.full(t.shape, np.nan) if lon_deg is None else np.asarray(lon_deg, dtype=float)
    if t.ndim != 1 or not (t.shape == v.shape == lat.shape == lon.shape):
        raise ValueError("t_s, speed_mps, lat_deg and lon_deg must be 1-D of one length")
    if not np.all(np.isfinite(t)):
        raise ValueError("t_s must be finite")
    keep = _in_order(t)
    t, v, lat, lon = t[keep], v[keep], lat[keep], lon[keep]
    accel, ref, seg_start = _window_accel(t, v)
    codes = _codes(accel, v, ref, cfg)
    events: list[DetectedEvent] = []
    for first, last in _linger(_runs(codes), codes, t, seg_start):
        own = codes[first : last + 1] == codes[first]  # not the lingering windows between
        k = first + int(np.argmax(np.where(own, np.abs(accel[first : last + 1]), -np.inf)))
        r = int(ref[first])
        kind = EventKind.HARSH_BRAKING if codes[first] < 0 else EventKind.HARSH_ACCELERATION
        ends = (float(t[r]), float(t[last]), float(v[r]), float(v[last]))
        peak = (float(abs(accel[k])), float(lat[k]), float(lon[k]))
        events.extend(_close(HarshEpisode(kind, *ends, *peak), cfg))
    return events
