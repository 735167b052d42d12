"""Synthetic garbage-truck days for the routing tests: known stops in, receiver-like fixes out.

A truck drives an L (east-west first, then north-south) between its stops at ``CRUISE_MPS``
with ``ACCEL_MPS2`` ramps, stands still for each stop's dwell, and its receiver reports at
1 Hz with a Gauss-Markov position error (``noise_m`` 1-sigma, wandering rather than
jumping), Doppler speed noise, single lost epochs and the odd multi-second outage, and now
and then a one-epoch speed glitch while standing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from analytics.routing.stops import DayTrack
from citytrack.wire import Fix

EARTH_RADIUS_M = 6_371_008.8
CRUISE_MPS = 8.0
ACCEL_MPS2 = 1.2
TZ = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class Stop:
    """Where the truck stands (WGS84) and for how long, s."""

    lat_deg: float
    lon_deg: float
    dwell_s: float


@dataclass(frozen=True)
class TrueDwell:
    start_s: float  # UNIX seconds
    end_s: float
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True)
class SimDay:
    track: DayTrack
    truth: tuple[TrueDwell, ...]

    def fixes(self, first_seq: int = 1) -> list[Fix]:
        """The track as wire fixes numbered from ``first_seq``."""
        t = self.track
        return [
            Fix(
                device_id=t.device_id,
                seq=first_seq + i,
                fix_time=datetime.fromtimestamp(float(t.t_s[i]), UTC),
                recv_time=datetime.fromtimestamp(float(t.t_s[i]) + 0.3, UTC),
                lat_deg=float(t.lat_deg[i]),
                lon_deg=float(t.lon_deg[i]),
                speed_mps=float(t.speed_mps[i]),
                quality=1,
                sats_used=9,
                hdop=0.9,
            )
            for i in range(len(t.t_s))
        ]


def _leg_profile(distance_m: float) -> tuple[float, float, float]:
    """Trapezoid: time accelerating, time cruising, top speed."""
    v = min(CRUISE_MPS, math.sqrt(distance_m * ACCEL_MPS2))
    t_acc = v / ACCEL_MPS2
    cruise = (distance_m - v * t_acc) / v if v > 0 else 0.0
    return t_acc, max(0.0, cruise), v


def _along(t: float, distance_m: float) -> tuple[float, float]:
    """Distance covered and speed ``t`` s into a leg of ``distance_m``."""
    t_acc, t_cruise, v = _leg_profile(distance_m)
    if t < t_acc:
        return 0.5 * ACCEL_MPS2 * t * t, ACCEL_MPS2 * t
    if t < t_acc + t_cruise:
        return 0.5 * v * t_acc + v * (t - t_acc), v
    left = max(0.0, 2 * t_acc + t_cruise - t)
    return distance_m - 0.5 * ACCEL_MPS2 * left * left, ACCEL_MPS2 * left


def _xy(lat: float, lon: float, lat0: float, lon0: float) -> tuple[float, float]:
    east = math.radians(lon - lon0) * math.cos(math.radians(lat0)) * EARTH_RADIUS_M
    return east, math.radians(lat - lat0) * EARTH_RADIUS_M


def _truth_path(
    stops: Sequence[Stop], t0: float
) -> tuple[list[tuple[float, ...]], list[TrueDwell]]:
    """Per-second (t, east, north, speed) samples of the true motion, and the true dwells."""
    lat0, lon0 = stops[0].lat_deg, stops[0].lon_deg
    samples: list[tuple[float, ...]] = []
    truth: list[TrueDwell] = []
    t = t0
    for k, stop in enumerate(stops):
        x, y = _xy(stop.lat_deg, stop.lon_deg, lat0, lon0)
        for s in range(int(stop.dwell_s)):
            samples.append((t + s, x, y, 0.0))
        truth.append(TrueDwell(t, t + int(stop.dwell_s) - 1, stop.lat_deg, stop.lon_deg))
        t += int(stop.dwell_s)
        if k + 1 == len(stops):
            break
        nx, ny = _xy(stops[k + 1].lat_deg, stops[k + 1].lon_deg, lat0, lon0)
        corner = (nx, y)
        legs = [((x, y), corner), (corner, (nx, ny))]
        for (ax, ay), (bx, by) in legs:
            length = math.hypot(bx - ax, by - ay)
            if length < 1:
                continue
            t_acc, t_cruise, _ = _leg_profile(length)
            duration = math.ceil(2 * t_acc + t_cruise)
            for s in range(duration):
                d, v = _along(float(s), length)
                f = d / length
                samples.append((t + s, ax + f * (bx - ax), ay + f * (by - ay), v))
            t += duration
    return samples, truth


def simulate_day(
    device_id: str,
    day: date,
    stops: Sequence[Stop],
    rng: np.random.Generator,
    *,
    start: time = time(8, 30),
    noise_m: float = 3.0,
    lost_prob: float = 0.02,
    glitch_prob: float = 0.01,
) -> SimDay:
    """One truck-day through ``stops`` (the first is where it starts, e.g. the depot)."""
    t0 = datetime.combine(day, start, tzinfo=TZ).timestamp()
    samples, truth = _truth_path(stops, t0)
    arr = np.array(samples)
    n = len(arr)
    # Gauss-Markov error, tau 20 s, stationary sigma noise_m
    phi = math.exp(-1 / 20)
    err = np.zeros((n, 2))
    err[0] = rng.normal(0, noise_m, 2)
    shocks = rng.normal(0, noise_m * math.sqrt(1 - phi * phi), (n, 2))
    for i in range(1, n):
        err[i] = phi * err[i - 1] + shocks[i]
    speed = np.abs(arr[:, 3] + rng.normal(0, 0.08, n))
    glitch = (arr[:, 3] == 0) & (rng.random(n) < glitch_prob)
    speed[glitch] = rng.uniform(1.5, 3.0, int(glitch.sum()))
    keep = rng.random(n) >= lost_prob
    for begin in np.flatnonzero(rng.random(n) < 0.002):  # outages of 5-40 s
        keep[begin : begin + int(rng.integers(5, 40))] = False
    keep[0] = True
    lat0, lon0 = stops[0].lat_deg, stops[0].lon_deg
    east, north = arr[:, 1] + err[:, 0], arr[:, 2] + err[:, 1]
    lat = lat0 + np.degrees(north / EARTH_RADIUS_M)
    lon = lon0 + np.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(lat0))))
    track = DayTrack(device_id, day, arr[keep, 0], lat[keep], lon[keep], speed[keep])
    return SimDay(track, tuple(truth))


def grid_stops(
    rng: np.random.Generator, n: int, origin: tuple[float, float], spacing_m: float = 150.0
) -> list[tuple[float, float]]:
    """``n`` distinct points on a ``spacing_m`` grid within 1.5 km of ``origin``."""
    cells = rng.choice(100, size=n, replace=False)
    lat0, lon0 = origin
    out = []
    for cell in cells:
        east, north = (cell % 10) * spacing_m, (cell // 10) * spacing_m
        out.append(
            (
                lat0 + math.degrees(north / EARTH_RADIUS_M),
                lon0 + math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(lat0)))),
            )
        )
    return out


def days_from(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]
