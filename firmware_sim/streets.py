"""A truck on a street grid: L-shaped paths, congestion, piecewise motion, GNSS reports.

Geometry: a ``citytrack.geo.LocalFrame`` projects WGS84 onto local (east, north) metres
around a centre (equirectangular: over a ward its error is far below GNSS noise). Between
two positions a truck drives an L: first along the east-west street at the start's
latitude to the destination's longitude, then north-south to the destination
(``l_path``). The length is the L1 (Manhattan) distance. The day's route is one
``DayPath`` polyline of those Ls.

Motion is a list of constant-acceleration phases (``MotionBuilder``): a leg starts and ends
at rest, takes its corner at ``DrivingModel.corner_kmh``, stops at the traffic lights it
meets (random places, random waits) and otherwise cruises at the congestion profile's
speed for the local hour, times a per-leg random factor. Ramps are ``accel_mps2`` and
``decel_mps2`` (also drawn per leg). ``MotionBuilder.sample`` evaluates distance and speed at
any times, vectorised, so a day at 1 Hz costs a few numpy calls.

What the truck's GNSS receiver makes of that motion at 1 Hz (``ReceiverModel.observe``):
noise, dropouts, satellites in use and DOPs, as arrays over the epochs.

Pure: no clock, no I/O; randomness only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from citytrack.geo import LocalFrame

FloatArray = npt.NDArray[np.float64]
COURSE_MIN_SPEED_MPS = 0.3  # receivers leave the course empty when (nearly) at rest
ALTITUDE_M = 4.0  # ground height around Namba, above mean sea level
LIGHT_CLEAR_M = 25.0  # no traffic-light stop this close to a leg's ends (the truck stops there)
_NOISE_BLOCK = 64  # Gauss-Markov recursion evaluated this many epochs at a time


def l_path(a_xy: tuple[float, float], b_xy: tuple[float, float]) -> list[tuple[float, float]]:
    """Vertices after ``a`` of the L from ``a`` to ``b``: east-west first, then north-south.

    The corner is left out when the L is a straight line; empty when ``a == b``.
    """
    corner = (b_xy[0], a_xy[1])
    out = [p for p in (corner, b_xy) if p != a_xy]
    if len(out) == 2 and out[0] == out[1]:
        out.pop()
    return out


class DayPath:
    """A polyline in local metres, grown vertex by vertex; positions and courses along it."""

    def __init__(self, start_xy: tuple[float, float]) -> None:
        self._xy: list[tuple[float, float]] = [start_xy]
        self._s: list[float] = [0.0]

    @property
    def length_m(self) -> float:
        return self._s[-1]

    @property
    def end_xy(self) -> tuple[float, float]:
        return self._xy[-1]

    def extend_to(self, b_xy: tuple[float, float]) -> tuple[float, float | None]:
        """Append the L to ``b_xy``; returns its length and where its corner is along it, m."""
        a = self._xy[-1]
        start = self._s[-1]
        vertices = l_path(a, b_xy)
        for p in vertices:
            q = self._xy[-1]
            self._xy.append(p)
            self._s.append(self._s[-1] + abs(p[0] - q[0]) + abs(p[1] - q[1]))
        corner = self._s[-len(vertices)] - start if len(vertices) == 2 else None
        return self._s[-1] - start, corner

    def xy_at(self, s_m: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(east, north, course deg) at distances ``s_m`` along the path (vectorised).

        The course is the heading of the segment the truck is on (after a vertex, the next).
        """
        xy = np.asarray(self._xy)
        vs = np.asarray(self._s)
        if len(vs) < 2:
            z = np.zeros_like(s_m)
            return z + xy[0, 0], z + xy[0, 1], z
        seg = xy[1:] - xy[:-1]
        length = vs[1:] - vs[:-1]
        course = np.degrees(np.arctan2(seg[:, 0], seg[:, 1])) % 360.0
        s = np.clip(s_m, 0.0, vs[-1])
        i = np.clip(np.searchsorted(vs, s, side="right") - 1, 0, len(seg) - 1)
        f = (s - vs[i]) / length[i]
        x = xy[i, 0] + seg[i, 0] * f
        y = xy[i, 1] + seg[i, 1] * f
        return x, y, course[i]


@dataclass(frozen=True)
class CongestionProfile:
    """Cruising speed by local hour band (key = first hour of the band), km/h.

    The default is slow in the morning (07-09) and evening (16-19) rush hours of a
    downtown ward. Each leg's cruise is the band's speed times a lognormal factor of
    1-sigma ``leg_sigma``, kept within ``leg_clip``.
    """

    cruise_kmh_by_hour: Mapping[int, float] = field(
        default_factory=lambda: {0: 30.0, 7: 17.0, 9: 28.0, 16: 18.0, 19: 30.0}
    )
    leg_sigma: float = 0.12
    leg_clip: tuple[float, float] = (0.75, 1.3)

    def cruise_kmh(self, local_hour: int) -> float:
        """The band's cruising speed at ``local_hour`` (0-23), km/h."""
        starts = sorted(h for h in self.cruise_kmh_by_hour if h <= local_hour)
        return self.cruise_kmh_by_hour[starts[-1] if starts else min(self.cruise_kmh_by_hour)]

    def draw_cruise_mps(self, local_hour: int, rng: np.random.Generator) -> float:
        """One leg's cruising speed, m/s."""
        factor = float(np.clip(rng.lognormal(0.0, self.leg_sigma), *self.leg_clip))
        return self.cruise_kmh(local_hour) * factor / 3.6


@dataclass(frozen=True)
class LegPlan:
    """One leg to drive: length, corner position (m from start), lights, cruise and ramps."""

    length_m: float
    corner_m: float | None
    lights: list[tuple[float, float]]
    cruise_mps: float
    accel_mps2: float
    decel_mps2: float
    corner_mps: float


@dataclass(frozen=True)
class DrivingModel:
    """How a packer truck drives between stops (SI units unless named otherwise).

    Ramps are drawn per leg, uniform within ``ramp_spread`` of the nominal values.
    Traffic lights: a Poisson number per leg (``lights_per_km``), at uniform random places
    at least ``light_spacing_m`` apart, each a wait uniform in ``light_wait_s``.
    """

    congestion: CongestionProfile = field(default_factory=CongestionProfile)
    accel_mps2: float = 0.8
    decel_mps2: float = 1.1
    ramp_spread: float = 0.15
    corner_kmh: float = 12.0
    lights_per_km: float = 1.5
    light_wait_s: tuple[float, float] = (10.0, 40.0)
    light_spacing_m: float = 40.0

    def draw_lights(self, length_m: float, rng: np.random.Generator) -> list[tuple[float, float]]:
        """Traffic-light stops on a leg: (distance from its start m, wait s), in order."""
        usable = length_m - 2 * LIGHT_CLEAR_M
        if usable <= 0 or self.lights_per_km <= 0:
            return []
        n = int(rng.poisson(self.lights_per_km * usable / 1000.0))
        where = np.sort(rng.uniform(LIGHT_CLEAR_M, length_m - LIGHT_CLEAR_M, n))
        waits = rng.uniform(*self.light_wait_s, n)
        out: list[tuple[float, float]] = []
        for s, w in zip(where.tolist(), waits.tolist(), strict=True):
            if not out or s - out[-1][0] >= self.light_spacing_m:
                out.append((s, w))
        return out

    def plan_leg(
        self, length_m: float, corner_m: float | None, local_hour: int, rng: np.random.Generator
    ) -> LegPlan:
        """Draw a leg's cruise (congestion at ``local_hour``), ramps and traffic lights."""
        cruise = self.congestion.draw_cruise_mps(local_hour, rng)
        k = rng.uniform(1.0 - self.ramp_spread, 1.0 + self.ramp_spread, 2)
        a, b = self.accel_mps2 * float(k[0]), self.decel_mps2 * float(k[1])
        lights = self.draw_lights(length_m, rng)
        return LegPlan(length_m, corner_m, lights, cruise, a, b, self.corner_kmh / 3.6)


class MotionBuilder:
    """Distance along the day's path as constant-acceleration phases, from t = 0 s."""

    def __init__(self) -> None:
        self.t_s = 0.0
        self.s_m = 0.0
        self._t0: list[float] = []
        self._dur: list[float] = []
        self._s0: list[float] = []
        self._v0: list[float] = []
        self._a: list[float] = []

    def _phase(self, dur_s: float, v0_mps: float, a_mps2: float) -> None:
        if dur_s <= 1e-9:
            return
        self._t0.append(self.t_s)
        self._dur.append(dur_s)
        self._s0.append(self.s_m)
        self._v0.append(v0_mps)
        self._a.append(a_mps2)
        self.t_s += dur_s
        self.s_m += v0_mps * dur_s + 0.5 * a_mps2 * dur_s * dur_s

    def dwell(self, dur_s: float) -> None:
        """Stand still for ``dur_s`` seconds."""
        self._phase(dur_s, 0.0, 0.0)

    def run(self, d_m: float, v0: float, v1: float, vc: float, a: float, b: float) -> None:
        """Cover ``d_m`` from speed ``v0`` to ``v1`` (m/s), cruising at most at ``vc``.

        Accelerates at ``a``, cruises, slows at ``b`` (a triangle when ``d_m`` is short).
        """
        start = self.s_m
        vc = max(vc, v0, v1)
        d_acc = (vc * vc - v0 * v0) / (2 * a)
        d_dec = (vc * vc - v1 * v1) / (2 * b)
        cruise_s = 0.0
        if d_acc + d_dec <= d_m:
            vp = vc
            cruise_s = (d_m - d_acc - d_dec) / vc
        else:
            vp2 = (2 * a * b * d_m + b * v0 * v0 + a * v1 * v1) / (a + b)
            vp = math.sqrt(max(vp2, v0 * v0, v1 * v1))
        self._phase((vp - v0) / a, v0, a)
        self._phase(cruise_s, vp, 0.0)
        self._phase((vp - v1) / b, vp, -b)
        self.s_m = start + d_m  # absorbs rounding, so legs join exactly

    def drive_leg(self, leg: LegPlan) -> list[tuple[float, float, float]]:
        """Drive a leg from rest to rest; returns the light stops as (t s, s m, wait s)."""
        start = self.s_m
        marks = [(0.0, 0.0, 0.0), (leg.length_m, 0.0, 0.0)]
        if leg.corner_m is not None:
            marks.append((leg.corner_m, min(leg.corner_mps, leg.cruise_mps), -1.0))
        marks += [(s, 0.0, w) for s, w in leg.lights]
        marks.sort(key=lambda m: m[0])
        v = _feasible_speeds(marks, leg.accel_mps2, leg.decel_mps2)
        stops: list[tuple[float, float, float]] = []
        for k in range(1, len(marks)):
            d = marks[k][0] - marks[k - 1][0]
            if d > 0:
                run = (v[k - 1], v[k], leg.cruise_mps, leg.accel_mps2, leg.decel_mps2)
                self.run(d, *run)
            wait = marks[k][2]
            if wait > 0 and k < len(marks) - 1:
                stops.append((self.t_s, self.s_m, wait))
                self.dwell(wait)
        self.s_m = start + leg.length_m
        return stops

    def sample(self, t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Distance along the path (m) and speed (m/s) at times ``t_s`` (vectorised)."""
        if not self._t0:
            return np.full_like(t_s, self.s_m), np.zeros_like(t_s)
        t0 = np.asarray(self._t0)
        dur = np.asarray(self._dur)
        i = np.clip(np.searchsorted(t0, t_s, side="right") - 1, 0, len(t0) - 1)
        tau = np.clip(t_s - t0[i], 0.0, dur[i])
        v0 = np.asarray(self._v0)[i]
        a = np.asarray(self._a)[i]
        s = np.asarray(self._s0)[i] + v0 * tau + 0.5 * a * tau * tau
        s = np.where(t_s >= self.t_s, self.s_m, s)
        return s, np.maximum(v0 + a * tau, 0.0) * (t_s < self.t_s)


def _feasible_speeds(marks: list[tuple[float, float, float]], a: float, b: float) -> list[float]:
    """Speeds at the marks, lowered so that each is reachable from its neighbours."""
    v = [m[1] for m in marks]
    for k in range(1, len(v)):
        v[k] = min(v[k], math.sqrt(v[k - 1] ** 2 + 2 * a * (marks[k][0] - marks[k - 1][0])))
    for k in range(len(v) - 2, -1, -1):
        v[k] = min(v[k], math.sqrt(v[k + 1] ** 2 + 2 * b * (marks[k + 1][0] - marks[k][0])))
    return v


@dataclass(frozen=True)
class Observed:
    """What the receiver reports at each epoch (arrays, one entry per epoch)."""

    t_s: FloatArray  # fix time, s since the start
    recv_s: FloatArray  # when the unit read it, s since the start
    lat_deg: FloatArray
    lon_deg: FloatArray
    speed_mps: FloatArray
    course_deg: FloatArray  # meaningless below COURSE_MIN_SPEED_MPS
    alt_m: FloatArray
    sats_used: FloatArray
    hdop: FloatArray
    pdop: FloatArray
    vdop: FloatArray
    sent: npt.NDArray[np.bool_]  # False: lost in a dropout, nothing sent


@dataclass(frozen=True)
class ReceiverModel:
    """GNSS imperfections at 1 Hz: noise (m, m/s, s), dropouts, satellites in use.

    Position error is a first-order Gauss-Markov process per axis (receiver errors wander
    rather than jump); speed is Doppler-derived (white noise); the course is the direction
    of motion with a jitter of ``atan(speed_sigma / speed)``. Satellites in use wander
    within ``sats_range`` (correlation 2 min) and HDOP follows them. Dropouts: Poisson
    outages of ``outage_s`` seconds, plus single lost epochs.
    """

    position_sigma_m: float = 1.8  # per axis: about 2.5 m horizontal RMS
    noise_tau_s: float = 10.0
    speed_sigma_mps: float = 0.08
    outages_per_h: float = 1.5
    outage_s: tuple[int, int] = (3, 30)
    epoch_loss: float = 0.003
    latency_s: tuple[float, float] = (0.05, 0.4)
    sats_range: tuple[int, int] = (5, 12)

    def observe(
        self,
        t_s: FloatArray,
        x_m: FloatArray,
        y_m: FloatArray,
        v_mps: FloatArray,
        course_deg: FloatArray,
        frame: LocalFrame,
        rng: np.random.Generator,
    ) -> Observed:
        """The receiver's reports of the true motion at 1 Hz epochs ``t_s``."""
        n = len(t_s)
        sigma = self.position_sigma_m
        ex, ey, ez = (gauss_markov(n, self.noise_tau_s, k * sigma, rng) for k in (1, 1, 2))
        lat, lon = frame.to_latlon(x_m + ex, y_m + ey)
        speed = np.abs(v_mps + rng.normal(0.0, self.speed_sigma_mps, n)).round(3)
        jitter = np.degrees(np.arctan2(self.speed_sigma_mps, np.maximum(speed, 1e-3)))
        course = np.round(course_deg + jitter * rng.normal(0.0, 1.0, n), 1) % 360.0
        course[course >= 360.0] = 0.0
        lo, hi = self.sats_range
        wander = gauss_markov(n, 120.0, (hi - lo) / 3, rng)
        sats = np.clip(np.round((lo + hi) / 2 + wander), lo, hi)
        hdop = np.round(0.45 + 6.0 / sats + np.abs(rng.normal(0.0, 0.04, n)), 2)
        pdop = np.round(hdop * 1.7, 2)
        vdop = np.sqrt(pdop**2 - hdop**2).round(2)
        recv = t_s + rng.uniform(*self.latency_s, n)
        alt = np.round(ALTITUDE_M + ez, 1)
        return Observed(
            t_s, recv, lat, lon, speed, course, alt, sats, hdop, pdop, vdop, ~self._lost(n, rng)
        )

    def _lost(self, n: int, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
        """Mask of epochs with nothing sent: outages and single lost epochs."""
        lost = rng.random(n) < self.epoch_loss
        k = int(rng.poisson(self.outages_per_h * n / 3600.0))
        starts = rng.integers(0, max(n, 1), k)
        lengths = rng.integers(self.outage_s[0], self.outage_s[1] + 1, k)
        for a, m in zip(starts.tolist(), lengths.tolist(), strict=True):
            lost[a : a + m] = True
        return lost


def gauss_markov(n: int, tau_s: float, sigma: float, rng: np.random.Generator) -> FloatArray:
    """``n`` 1 Hz samples of a stationary first-order Gauss-Markov process (1-sigma ``sigma``).

    ``x[k] = phi * x[k-1] + w[k]`` with ``phi = exp(-1 / tau_s)``, evaluated in blocks as
    ``phi^k * (phi * carry + cumsum(w * phi^-k))`` (short blocks keep ``phi^-k`` finite).
    """
    phi = math.exp(-1.0 / tau_s)
    w = rng.normal(0.0, sigma * math.sqrt(1.0 - phi * phi), n)
    if n:
        w[0] = rng.normal(0.0, sigma)
    out = np.empty(n)
    powers = phi ** np.arange(_NOISE_BLOCK)
    carry = 0.0
    for a in range(0, n, _NOISE_BLOCK):
        blk = w[a : a + _NOISE_BLOCK]
        p = powers[: len(blk)]
        out[a : a + len(blk)] = p * (phi * carry + np.cumsum(blk / p))
        carry = float(out[a + len(blk) - 1])
    return out
