"""What makes a receiver lie in a city, applied on top of ``firmware_sim.gps.ReceiverModel``.

``ReceiverImpairments.apply`` takes each epoch's report and the truck's place on its route
and returns the report a receiver in Osaka's streets would give:

- multipath along ``canyons`` (stretches of the route between tall buildings): a
  correlated position error (first-order Gauss-Markov, 1-sigma ``canyon_sigma_m``, 10-30 m,
  correlation ``CANYON_TAU_S``), course noise of ``atan(canyon_course_mps / speed)``
  (Doppler velocity noise seen as an angle), extra speed noise, fewer satellites used and
  a worse HDOP;
- GPS jumps (``jumps_per_hour``): one to three epochs displaced 30-300 m; a share
  ``jump_speed_glitch`` of them also carry a speed off by 2.5-6 m/s (what a receiver's
  velocity filter does when it is fooled too);
- stationary drift: at rest, the speed jitters between 0 and ``drift_speed_mps`` with a
  random course, and the position wanders (1-sigma ``drift_sigma_m``, ``DRIFT_TAU_S``);
- tunnels (``tunnels_per_hour``, only while moving): 5-30 s without a fix (half the epochs
  say "no fix", half say nothing), then ``REACQUIRE_S`` of converging fixes with a poor HDOP.

Jumps and tunnels start only while the caller says the epoch is ``quiet`` (no scripted
episode under way); ``busy_until_s`` tells the caller when the last one is over, with a
margin. Every impairment is recorded (``ImpairmentRecord``) so that false alerts can be
traced to their cause. Randomness only from the generator given. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from citytrack.geo import LocalFrame
from firmware_sim.gps import COURSE_MIN_SPEED_MPS, ReceiverReport, SimEpoch, TruthEpoch
from firmware_sim.sky import NO_DOP, SkyFix

CANYON_TAU_S = 8.0
CANYON_SPEED_NOISE_MPS = 0.15
DRIFT_TAU_S = 30.0
MOVING_DECAY_TAU_S = 2.0  # the drift error fades this fast once the truck moves
JUMP_M = (30.0, 300.0)
JUMP_EPOCHS = (1, 3)
GLITCH_MPS = (2.5, 6.0)
TUNNEL_S = (5.0, 30.0)
TUNNEL_MIN_SPEED_MPS = 3.0
REACQUIRE_S = (2.0, 4.0)
REACQUIRE_ERROR_M = (10.0, 25.0)
QUIET_MARGIN_S = 5.0  # no episode starts this soon after an impairment

GPS_JUMP = "gps_jump"
SPEED_GLITCH = "speed_glitch"
TUNNEL = "tunnel"
MULTIPATH = "multipath"


@dataclass(frozen=True)
class ImpairmentConfig:
    """One receiver's city: rates per hour, canyon stretches (route metres), magnitudes."""

    canyons: tuple[tuple[float, float], ...] = ()
    canyon_sigma_m: float = 20.0
    canyon_course_mps: float = 0.8
    jumps_per_hour: float = 0.0
    jump_speed_glitch: float = 0.0  # probability that a jump also corrupts the speed
    tunnels_per_hour: float = 0.0
    drift_speed_mps: float = 0.0
    drift_sigma_m: float = 0.0


@dataclass(frozen=True)
class ImpairmentRecord:
    """An impairment the receiver suffered: kind and UTC interval (inclusive)."""

    kind: str  # GPS_JUMP | SPEED_GLITCH | TUNNEL | MULTIPATH
    start: datetime
    end: datetime


class _GaussMarkov:
    """A 2-D first-order Gauss-Markov error (east, north metres)."""

    def __init__(self) -> None:
        self.value = np.zeros(2)

    def step(self, rng: np.random.Generator, dt_s: float, sigma_m: float, tau_s: float) -> None:
        phi = math.exp(-dt_s / tau_s)
        self.value = phi * self.value + math.sqrt(1 - phi * phi) * sigma_m * rng.normal(size=2)

    def decay(self, dt_s: float, tau_s: float) -> None:
        self.value = self.value * math.exp(-dt_s / tau_s)


class ReceiverImpairments:
    """Per-receiver impairment state; ``apply`` once per epoch, in order."""

    def __init__(
        self,
        cfg: ImpairmentConfig,
        *,
        rate_hz: float,
        route_length_m: float,
        rng: np.random.Generator,
    ) -> None:
        self.cfg = cfg
        self.dt_s = 1.0 / rate_hz
        self.route_length_m = route_length_m
        self.rng = rng
        self.records: list[ImpairmentRecord] = []
        self.busy_until_s = 0.0  # seconds since start; see the module docstring
        self._canyon = _GaussMarkov()
        self._drift = _GaussMarkov()
        self._in_canyon_since: datetime | None = None
        self._last_time: datetime | None = None
        self._jump_left = 0
        self._jump_m = np.zeros(2)
        self._jump_dv = 0.0
        self._tunnel_until: datetime | None = None
        self._reacquire_left = 0
        self._reacquire_m = np.zeros(2)

    def _in_canyon(self, s_m: float) -> bool:
        s = math.fmod(s_m, self.route_length_m)
        return any(a <= s < b for a, b in self.cfg.canyons)

    def apply(
        self, epoch: SimEpoch, s_m: float, t_s: float, *, quiet: bool
    ) -> ReceiverReport | None:
        """The impaired report of ``epoch`` (None: nothing emitted).

        ``s_m``: the truck's distance along its route (m); ``t_s``: seconds since start.
        """
        truth, report = epoch.truth, epoch.report
        self._track_canyon(truth.time, self._in_canyon(s_m))
        at_rest = truth.speed_mps <= 0.0
        if at_rest and self.cfg.drift_sigma_m > 0:
            self._drift.step(self.rng, self.dt_s, self.cfg.drift_sigma_m, DRIFT_TAU_S)
        else:
            self._drift.decay(self.dt_s, MOVING_DECAY_TAU_S)
        self._last_time = truth.time
        if self._tunnel_until is not None or self._maybe_tunnel(truth, t_s, quiet):
            return self._in_tunnel(truth.time, report)
        jumping = self._jumping(truth.time, t_s, quiet)
        if report is None or not report.fix:
            return report
        return self._impair(report, at_rest, jumping)

    def _track_canyon(self, time: datetime, inside: bool) -> None:
        if inside:
            self._canyon.step(self.rng, self.dt_s, self.cfg.canyon_sigma_m, CANYON_TAU_S)
            if self._in_canyon_since is None:
                self._in_canyon_since = time
            return
        self._canyon.decay(self.dt_s, CANYON_TAU_S)
        if self._in_canyon_since is not None and self._last_time is not None:
            self.records.append(ImpairmentRecord(MULTIPATH, self._in_canyon_since, self._last_time))
            self._in_canyon_since = None

    def close(self) -> None:
        """End of the run: record a canyon the truck is still in."""
        if self._in_canyon_since is not None and self._last_time is not None:
            self.records.append(ImpairmentRecord(MULTIPATH, self._in_canyon_since, self._last_time))
            self._in_canyon_since = None

    def _chance(self, per_hour: float) -> bool:
        return per_hour > 0 and self.rng.random() < per_hour * self.dt_s / 3600.0

    def _maybe_tunnel(self, truth: TruthEpoch, t_s: float, quiet: bool) -> bool:
        if not quiet or self._jump_left or truth.speed_mps < TUNNEL_MIN_SPEED_MPS:
            return False
        if not self._chance(self.cfg.tunnels_per_hour):
            return False
        length_s = float(self.rng.uniform(*TUNNEL_S))
        self._tunnel_until = truth.time + timedelta(seconds=length_s)
        reacquire_s = float(self.rng.uniform(*REACQUIRE_S))
        self._reacquire_left = max(1, round(reacquire_s / self.dt_s))
        end = self._tunnel_until + timedelta(seconds=reacquire_s)
        self.records.append(ImpairmentRecord(TUNNEL, truth.time, end))
        self.busy_until_s = t_s + length_s + reacquire_s + QUIET_MARGIN_S
        angle = self.rng.uniform(0.0, 2 * math.pi)
        size = self.rng.uniform(*REACQUIRE_ERROR_M)
        self._reacquire_m = size * np.array([math.sin(angle), math.cos(angle)])
        return True

    def _in_tunnel(self, time: datetime, report: ReceiverReport | None) -> ReceiverReport | None:
        """No fix inside; once out, the first fixes converge on the truth."""
        assert self._tunnel_until is not None
        if time < self._tunnel_until:
            if report is None or self.rng.random() < 0.5:
                return None
            return _no_fix(report)
        self._reacquire_left -= 1
        if self._reacquire_left <= 0:
            self._tunnel_until = None
        if report is None or not report.fix:
            return report
        self._reacquire_m = self._reacquire_m * 0.6
        hdop = float(self.rng.uniform(2.5, 6.0))
        return _moved(_degraded(report, hdop, drop=4), self._reacquire_m, report.speed_mps)

    def _jumping(self, time: datetime, t_s: float, quiet: bool) -> bool:
        """Whether this epoch is displaced: a jump goes on, or one starts now."""
        if self._jump_left:
            self._jump_left -= 1
            return True
        if not quiet or not self._chance(self.cfg.jumps_per_hour):
            return False
        n = int(self.rng.integers(JUMP_EPOCHS[0], JUMP_EPOCHS[1] + 1))
        angle, size = self.rng.uniform(0.0, 2 * math.pi), self.rng.uniform(*JUMP_M)
        self._jump_m = size * np.array([math.sin(angle), math.cos(angle)])
        glitch = self.rng.random() < self.cfg.jump_speed_glitch
        sign = 1.0 if self.rng.random() < 0.5 else -1.0
        self._jump_dv = sign * float(self.rng.uniform(*GLITCH_MPS)) if glitch else 0.0
        self._jump_left = n - 1
        end = time + timedelta(seconds=(n - 1) * self.dt_s)
        self.records.append(ImpairmentRecord(SPEED_GLITCH if glitch else GPS_JUMP, time, end))
        self.busy_until_s = t_s + n * self.dt_s + QUIET_MARGIN_S
        return True

    def _impair(self, report: ReceiverReport, at_rest: bool, jumping: bool) -> ReceiverReport:
        """Canyon error, drift at rest and the jump (if any) applied to a fix."""
        assert report.speed_mps is not None
        offset = self._canyon.value + self._drift.value
        speed, course = report.speed_mps, report.course_deg
        if jumping:
            offset = offset + self._jump_m
            speed = max(0.0, speed + self._jump_dv)
        if at_rest and self.cfg.drift_speed_mps > 0 and not jumping:
            speed = float(self.rng.uniform(0.0, self.cfg.drift_speed_mps))
            course = float(self.rng.uniform(0.0, 360.0))
        if self._in_canyon_since is not None and not at_rest:
            speed = abs(speed + float(self.rng.normal(0.0, CANYON_SPEED_NOISE_MPS)))
            sigma = math.degrees(math.atan2(self.cfg.canyon_course_mps, max(speed, 0.1)))
            course = (report.course_deg or 0.0) + float(self.rng.normal(0.0, sigma))
            report = _degraded(report, report.sky.hdop * float(self.rng.uniform(1.3, 2.0)), 3)
        if speed < COURSE_MIN_SPEED_MPS:
            course = None
        out = _moved(report, offset, speed)
        return replace(out, course_deg=None if course is None else course % 360.0)


def _moved(report: ReceiverReport, offset_m: np.ndarray, speed_mps: float | None) -> ReceiverReport:
    """``report`` displaced by (east, north) metres, with ``speed_mps``."""
    assert report.lat_deg is not None and report.lon_deg is not None
    frame = LocalFrame(report.lat_deg, report.lon_deg)
    lat, lon = frame.to_latlon(float(offset_m[0]), float(offset_m[1]))
    return replace(report, lat_deg=lat, lon_deg=lon, speed_mps=speed_mps)


def _degraded(report: ReceiverReport, hdop: float, drop: int) -> ReceiverReport:
    """Fewer satellites used (never under four) and a worse HDOP (PDOP, VDOP in step)."""
    sky = report.sky
    used = sky.used_prns[: max(4, len(sky.used_prns) - drop)]
    ratio = hdop / sky.hdop if sky.hdop > 0 else 1.0
    sky = replace(
        sky,
        used_prns=used,
        hdop=round(min(hdop, NO_DOP), 2),
        pdop=round(min(sky.pdop * ratio, NO_DOP), 2),
        vdop=round(min(sky.vdop * ratio, NO_DOP), 2),
    )
    return replace(report, sky=sky)


def _no_fix(report: ReceiverReport) -> ReceiverReport:
    """The receiver in a tunnel: satellites listed, none tracked, no position."""
    sats = tuple(replace(s, snr_dbhz=None) for s in report.sky.satellites)
    sky = SkyFix(sats, (), NO_DOP, NO_DOP, NO_DOP)
    return ReceiverReport(report.time, False, None, None, None, None, None, sky)
