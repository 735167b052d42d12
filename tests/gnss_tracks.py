"""Synthetic GNSS tracks for the detector tests: a true motion in, receiver-like fixes out.

A motion is a list of segments ``(duration_s, accel_mps2, yaw_dps)`` integrated at
``FINE_HZ`` (speed never below 0), sampled at the receiver's rate. Fixes carry the true
speed and course plus optional noise: white speed noise, course noise to match, and a
Gauss-Markov position error (receiver errors wander rather than jump).

``reported_fixes`` takes the fixes of the GPS simulator's receiver instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from citytrack.wire import Fix
from firmware_sim.gps import TruckSimulator

T0 = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
ORIGIN = (34.6700, 135.4960)  # Nagahori-dori at Yotsubashi-suji: 60 km/h, no school zone
FINE_HZ = 100.0
EARTH_RADIUS_M = 6_371_008.8
POSITION_TAU_S = 5.0

Segment = tuple[float, float, float]  # duration s, acceleration m/s^2, yaw rate deg/s


@dataclass(frozen=True)
class Motion:
    """True state at each receiver epoch: time (s from T0), speed, course, east, north (m)."""

    t_s: np.ndarray
    speed_mps: np.ndarray
    course_deg: np.ndarray
    east_m: np.ndarray
    north_m: np.ndarray


def motion(segments: Sequence[Segment], *, v0: float, course0: float, rate_hz: float) -> Motion:
    """Integrate ``segments`` from speed ``v0`` (m/s) and course ``course0`` (deg)."""
    dt = 1.0 / FINE_HZ
    v, c, e, n = v0, course0, 0.0, 0.0
    rows = [(v, c, e, n)]
    for duration_s, accel, yaw_dps in segments:
        for _ in range(round(duration_s * FINE_HZ)):
            v1 = max(v + accel * dt, 0.0)
            c1 = c + yaw_dps * dt
            mid = math.radians((c + c1) / 2)
            ds = (v + v1) / 2 * dt
            e, n, v, c = e + ds * math.sin(mid), n + ds * math.cos(mid), v1, c1
            rows.append((v, c, e, n))
    every = max(1, round(FINE_HZ / rate_hz))
    arr = np.array(rows[::every])
    t = np.arange(len(arr)) * every / FINE_HZ
    return Motion(t, arr[:, 0], arr[:, 1] % 360.0, arr[:, 2], arr[:, 3])


def gauss_markov(n: int, sigma_m: float, dt_s: float, rng: np.random.Generator) -> np.ndarray:
    """First-order Gauss-Markov error, 1-sigma ``sigma_m``, correlation time POSITION_TAU_S."""
    phi = math.exp(-dt_s / POSITION_TAU_S)
    out = np.empty(n)
    x = rng.normal(0.0, sigma_m)
    for i in range(n):
        out[i] = x
        x = phi * x + rng.normal(0.0, sigma_m * math.sqrt(1 - phi * phi))
    return out


def fixes(
    m: Motion,
    *,
    rng: np.random.Generator | None = None,
    speed_sigma: float = 0.0,
    position_sigma_m: float = 0.0,
    device_id: str = "truck-01",
    origin: tuple[float, float] = ORIGIN,
    hdop: float | None = 0.9,
) -> list[Fix]:
    """The receiver's fixes of a motion (course blank under 0.3 m/s, like real receivers)."""
    rng = rng or np.random.default_rng(0)
    k = m.t_s.size
    dt = float(m.t_s[1] - m.t_s[0]) if k > 1 else 1.0
    v = np.clip(m.speed_mps + rng.normal(0.0, speed_sigma, k), 0.0, None)
    course_err = np.degrees(rng.normal(0.0, speed_sigma, k) / np.maximum(m.speed_mps, 0.3))
    east = m.east_m + gauss_markov(k, position_sigma_m, dt, rng)
    north = m.north_m + gauss_markov(k, position_sigma_m, dt, rng)
    lat0, lon0 = origin
    out = []
    for i in range(k):
        at = T0 + timedelta(microseconds=round(float(m.t_s[i]) * 1e6))
        course = None if v[i] < 0.3 else float((m.course_deg[i] + course_err[i]) % 360.0)
        out.append(
            Fix(
                device_id=device_id,
                seq=i + 1,
                fix_time=at,
                recv_time=at,
                lat_deg=lat0 + math.degrees(north[i] / EARTH_RADIUS_M),
                lon_deg=lon0
                + math.degrees(east[i] / (EARTH_RADIUS_M * math.cos(math.radians(lat0)))),
                speed_mps=float(v[i]),
                course_deg=course,
                quality=1,
                sats_used=9,
                hdop=hdop,
            )
        )
    return out


def moved(fix: Fix, east_m: float, north_m: float) -> Fix:
    """``fix`` displaced by (east, north) metres."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(fix.lat_deg))))
    return fix.model_copy(update={"lat_deg": fix.lat_deg + dlat, "lon_deg": fix.lon_deg + dlon})


def cruise(speed_mps: float, seconds: float, rate_hz: float, course0: float = 0.0) -> Motion:
    """Constant speed, straight."""
    return motion([(seconds, 0.0, 0.0)], v0=speed_mps, course0=course0, rate_hz=rate_hz)


def brake(v0: float, decel_mps2: float, rate_hz: float, *, lead_s: float = 5.0) -> Motion:
    """Cruise ``lead_s`` at ``v0``, brake at ``decel_mps2`` to a stop, stand 5 s."""
    stop_s = v0 / decel_mps2
    segs = [(lead_s, 0.0, 0.0), (stop_s + 0.5, -decel_mps2, 0.0), (5.0, 0.0, 0.0)]
    return motion(segs, v0=v0, course0=0.0, rate_hz=rate_hz)


def turn(
    speed_mps: float, turn_deg: float, seconds: float, rate_hz: float, course0: float = 0.0
) -> Motion:
    """Straight 5 s, a constant-rate turn of ``turn_deg`` (+ right) over ``seconds``,
    straight 5 s, all at ``speed_mps``."""
    segs = [(5.0, 0.0, 0.0), (seconds, 0.0, turn_deg / seconds), (5.0, 0.0, 0.0)]
    return motion(segs, v0=speed_mps, course0=course0, rate_hz=rate_hz)


def reported_fixes(sim: TruckSimulator, epochs: int) -> Iterator[Fix]:
    """The fixes ``sim``'s receiver reports with a position over its next ``epochs`` epochs,
    numbered 1, 2, ...; while one is in hand, ``sim`` is at its epoch."""
    seq = 0
    for _ in range(epochs):
        report = sim.step().report
        if report is None or report.lat_deg is None or report.lon_deg is None:
            continue
        seq += 1
        yield Fix(
            device_id=sim.device_id,
            seq=seq,
            fix_time=report.time,
            recv_time=report.time,
            lat_deg=report.lat_deg,
            lon_deg=report.lon_deg,
            speed_mps=report.speed_mps,
            course_deg=report.course_deg,
        )
