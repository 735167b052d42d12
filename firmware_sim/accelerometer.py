"""A simulated accelerometer on a truck: the simulator's true motion in, sensor samples out.

Size: a sensor model whose parts (road profile, cab dynamics, noise, mounting) are each
documented with their magnitudes and sources at the top; one model, one module.

Body frame (ISO 8855): x forward, y left, z up. An accelerometer measures specific force,
so a truck at rest on the level reads +g upwards. Over each sample interval the model takes
the mean of the true motion (what a sensor's anti-aliasing filter does): ``a_x = dv/dt``
and ``a_y = v * yaw rate`` (to the left). The cab is tilted by the road and by its own
suspension, which puts part of gravity into the horizontal axes (small angles)::

    f_x = a_x + g sin(theta)             theta = road grade + pitch of the cab (nose up +)
    f_y = a_y + g cos(theta) sin(phi)    phi = -crossfall + roll of the cab (left side up +)
    f_z = g cos(theta) cos(phi) + v^2 d(grade)/ds   (crests and sags of the profile)

plus vibration and jolts; the sensor sits in the cab with a ``Mounting`` and adds its bias
(which drifts with temperature) and white noise::

    f_sensor = R_mount @ f_body + bias(temperature) + white noise

Magnitudes and their basis (defaults; per truck the simulator draws within the ranges;
"cited" where a standard or datasheet gives the figure, otherwise reasoned):

- Road (``Road``, a ``GradeProfile`` fixed along the route, so each lap is the same road):
  central Osaka is flat; streets rise and fall gently (1-sigma 0.8 % over 150-1200 m)
  and climb onto bridges over its rivers and canals or dip into underpasses (0.6 per km,
  2-5 % ramps of 30-100 m, vertical curves of 30 m). Japan's Road Structure Ordinance
  (道路構造令, art. 20, cited) caps urban streets at 5 % (60 km/h design) to 7 % (40
  km/h), and art. 24 sets the crossfall of a paved carriageway at 1.5-2 %: the left lane
  drains to the left kerb, so the cab leans left by ``crossfall`` (2 %, +-0.5 %). 5 % of
  grade is 0.49 m/s^2 along x, as much as a gentle acceleration. Speed humps (0.3 per km;
  10 cm high as in MLIT's technical standard for 凸部 in Zone 30 streets, ~4 m long) and
  the expansion joints at both ends of each bridge deck are fixed places on the route.
- Cab (``Body``, reasoned): load transfer on an 8 t packer (wheelbase 3.4-4.4 m, loaded
  centre of gravity ~1.3 m) is ~2.7 kN per m/s^2; on leaf springs (axle rates ~300 and
  ~600 kN/m) and tyres that pitches the chassis ~0.25 deg per m/s^2, and the cab on its
  own rubber or spring mounts adds as much again or more, so the sensor on the dashboard
  pitches 0.4-1.0 deg per m/s^2 (nose down when braking). Roll: the moment ``m h a_y``
  (7 t, 0.7 m above the roll axis) over a roll stiffness of ~400 kN m/rad, with tyre
  compliance, gives 0.8-1.0 deg per m/s^2 for the chassis; with the cab, 0.6-1.4 deg per
  m/s^2 (outwards in a turn). Both tilt gravity in the direction of the acceleration, so
  the sensor reads more than the truth by g x gradient: 7-17 % longitudinally, 10-24 %
  laterally. Pitch and roll follow the acceleration as damped oscillators (pitch 1.5-2.2
  Hz, roll 0.8-1.3 Hz, damping ratio 0.25-0.45): a harsh stop overshoots, and the cab
  rocks back when the truck comes to rest.
- Vibration (``ImuNoise``, reasoned): broadband (correlation 0.03 s) with a vertical
  1-sigma of 0.05 m/s^2 at idle plus 0.04 m/s^2 per m/s of speed (0.4-0.5 m/s^2 at 35-45
  km/h, the order of the whole-body vibration reported for refuse-collection trucks),
  0.4 of that horizontally, and body bounce near 2 Hz (0.02 per m/s vertical, 0.3 of it
  fore-aft).
- Potholes, manhole covers and patches (reasoned; 6 per km, Poisson in distance): jolts of
  0.05-0.15 s, 3-10 m/s^2 vertical, fore-aft -50 % to +25 % of that (a wheel hitting an
  edge is held back), hit by the front axle and again by the rear one a wheelbase later.
  A hump gives 0.4 m/s^2 per m/s of speed vertically (at most 8) over its length, and
  the pitch over it (10 cm over the wheelbase: ~0.25 m/s^2 fore-aft, then back).
- Sensor: a mounting (``Mounting``: any yaw, pitch and roll within 5 degrees, a constant
  bias of 1-sigma 0.1 m/s^2 per axis), white noise 0.05 m/s^2, and bias drift with
  temperature: 1-sigma 0.5 mg/K per axis (cited: consumer MEMS datasheets give +-0.5 to
  +-1 mg/K, e.g. ST LIS3DH "zero-g level change vs. temperature"), the cab warming 10-30
  K after power-up (time constant 20 min, reasoned) and wandering +-3 K (30 min): up to
  ~0.15 m/s^2.

``Road.flat()``, ``Body.rigid()`` and ``ImuNoise.quiet()`` turn the parts off (tests).

Line protocol (one sample per line, ASCII, what ``citytrack sim gps --imu-rate`` writes to
its second pty and ``edge_agent.pctim.ImuDecoder`` reads)::

    $PCTIM,<unix_time_s>,<ax_mps2>,<ay_mps2>,<az_mps2>*hh<CR><LF>
    $PCTIM,1764140520.020,0.123,-0.456,9.801*5D

A proprietary NMEA-style sentence (``P`` + maker ``CT`` + ``IM``): POSIX time of the sample
(UTC, seconds, 3 decimals), then the specific force along the sensor's own x, y, z axes
(m/s^2, 3 decimals); ``hh`` is the NMEA checksum (XOR of the bytes between ``$`` and ``*``,
two upper-case hex digits).

``ImuSimulator`` hangs the model on a ``TruckSimulator``: after each of its epochs,
``collect`` returns the samples of the interval that epoch closed, from the driver's
integration steps (constant acceleration within a step, so speed and position are exact at
any sample time). The truck must drive a path with arcs at its corners (``geometry`` of the
simulator, e.g. ``firmware_sim.corners.RoundedRoute``): on a polyline it would turn on the
spot, which no accelerometer can feel. The ground-truth labels are the simulator's
(``TruckSimulator.pop_labels``): the GPS and the IMU see the same driver; the labels are
the true motion (``a_x``, ``a_y``), not what the tilted sensor reads.

Pure: no clock, no I/O; randomness from the seeded ``numpy.random.Generator``.

Errors: ``ValueError`` for a rate outside [``MIN_RATE_HZ``, ``MAX_RATE_HZ``] or a simulator
without arcs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce
from operator import xor

import numpy as np

from firmware_sim.driving import DriveStep
from firmware_sim.gps import TruckSimulator

G_MPS2 = 9.80665
MIN_RATE_HZ = 10.0
MAX_RATE_HZ = 100.0
MAX_TILT_DEG = 5.0  # pitch and roll of a sensor bolted in "roughly level"
BIAS_SIGMA_MPS2 = 0.1  # constant offset per axis of a consumer MEMS accelerometer
SENTENCE = "PCTIM"
PROFILE_M = 20_000.0  # length of a road profile when the route's is not known
PROFILE_STEP_M = 2.0
HUMP_HEIGHT_M = 0.10
HUMP_LENGTH_M = 4.0
_WAVES = 8  # sinusoids making up the gentle rise and fall of the streets
_BLOCK = 64  # samples per block of the filter recursions


@dataclass(frozen=True)
class Mounting:
    """How the sensor sits in the truck: yaw, pitch, roll (degrees) and bias (m/s^2).

    The rotation takes the body axes to the sensor's: yaw about z, then pitch about the new
    y, then roll about the new x.
    """

    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    bias_mps2: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        *,
        max_tilt_deg: float = MAX_TILT_DEG,
        bias_sigma_mps2: float = BIAS_SIGMA_MPS2,
    ) -> Mounting:
        """Any yaw, pitch and roll within ``max_tilt_deg``, bias N(0, ``bias_sigma_mps2``)."""
        yaw = float(rng.uniform(0.0, 360.0))
        pitch, roll = (float(x) for x in rng.uniform(-max_tilt_deg, max_tilt_deg, 2))
        bx, by, bz = (float(x) for x in rng.normal(0.0, bias_sigma_mps2, 3))
        return cls(yaw, pitch, roll, (bx, by, bz))

    def matrix(self) -> np.ndarray:
        """The 3x3 rotation ``R`` with ``f_sensor = R @ f_body``."""
        y, p, r = (math.radians(a) for a in (self.yaw_deg, self.pitch_deg, self.roll_deg))
        rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
        ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
        rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
        return np.asarray((rz @ ry @ rx).T)


@dataclass(frozen=True)
class Body:
    """How the cab (and the sensor on it) tilts under acceleration; see the module docstring.

    Gradients in degrees per m/s^2 (pitch nose-up when accelerating, roll outwards in a
    turn), natural frequencies (Hz) and damping ratio of the suspension; wheelbase (m).
    """

    pitch_deg_per_mps2: float = 0.7
    roll_deg_per_mps2: float = 1.0
    pitch_hz: float = 1.8
    roll_hz: float = 1.0
    damping: float = 0.35
    wheelbase_m: float = 3.8

    @classmethod
    def random(cls, rng: np.random.Generator) -> Body:
        """A loaded packer truck drawn within the ranges of the module docstring."""
        pitch, roll, pitch_hz, roll_hz, damping, wheelbase = (
            float(rng.uniform(lo, hi))
            for lo, hi in ((0.4, 1.0), (0.6, 1.4), (1.5, 2.2), (0.8, 1.3), (0.25, 0.45), (3.4, 4.4))
        )
        return cls(pitch, roll, pitch_hz, roll_hz, damping, wheelbase)

    @classmethod
    def rigid(cls) -> Body:
        """No pitch or roll at all."""
        return cls(0.0, 0.0)


@dataclass(frozen=True)
class Road:
    """What a ``GradeProfile`` is drawn from: grades are fractions (0.05 = 5 %)."""

    undulation: float = 0.008  # 1-sigma grade of the streets' gentle rise and fall
    wavelength_m: tuple[float, float] = (150.0, 1200.0)
    ramps_per_km: float = 0.6  # bridges (up, deck, down) and underpasses (down, up)
    ramp_grade: tuple[float, float] = (0.02, 0.05)
    ramp_m: tuple[float, float] = (30.0, 100.0)
    deck_m: tuple[float, float] = (20.0, 150.0)
    vertical_curve_m: float = 30.0  # grade changes are spread over this length
    crossfall: float = 0.02  # the lane slopes down to the left kerb
    crossfall_sigma: float = 0.005
    humps_per_km: float = 0.3

    @classmethod
    def flat(cls) -> Road:
        """Level, no crossfall, no humps or joints."""
        return cls(0.0, ramps_per_km=0.0, crossfall=0.0, crossfall_sigma=0.0, humps_per_km=0.0)


@dataclass(frozen=True)
class ImuNoise:
    """What the road and the sensor add to the truth (1-sigma values, m/s^2 unless named)."""

    white_mps2: float = 0.05  # sensor noise per axis, per sample
    vibration_per_mps: float = 0.04  # broadband, vertical, per m/s of speed
    vibration_idle_mps2: float = 0.05  # the engine at idle
    vibration_tau_s: float = 0.03  # correlation time of the broadband vibration, s
    horizontal_share: float = 0.4  # horizontal broadband vibration / vertical
    bounce_per_mps: float = 0.02  # body bounce near ``bounce_hz``, vertical, per m/s
    bounce_hz: float = 2.0
    bumps_per_km: float = 6.0  # potholes, manhole covers, patches
    bump_peak_mps2: tuple[float, float] = (3.0, 10.0)  # vertical peak of a jolt
    bump_s: tuple[float, float] = (0.05, 0.15)  # duration of a jolt, s
    bump_fore_aft: tuple[float, float] = (-0.5, 0.25)  # fore-aft peak / vertical peak
    hump_per_mps: float = 0.4  # vertical peak over a hump per m/s of speed (at most 8)
    tempco_mps2_per_k: float = 0.0049  # bias drift per kelvin, per axis (0.5 mg/K)
    warm_up_k: tuple[float, float] = (10.0, 30.0)  # the cab warming after power-up
    warm_up_tau_s: float = 1200.0
    temp_sigma_k: float = 3.0  # slow wander of the temperature
    temp_tau_s: float = 1800.0

    @classmethod
    def quiet(cls) -> ImuNoise:
        """White noise only: no vibration, jolts or drift."""
        return cls(
            vibration_per_mps=0.0,
            vibration_idle_mps2=0.0,
            bounce_per_mps=0.0,
            bumps_per_km=0.0,
            hump_per_mps=0.0,
            tempco_mps2_per_k=0.0,
        )


class GradeProfile:
    """Grade and crossfall (fractions, sampled at ``s_m``) and fixed jolts (``features``:
    distance, "hump" or "joint") along a closed route of ``period_m`` metres; distances
    are taken modulo ``period_m``. ``draw`` one from a ``Road``, or script it
    (``piecewise``)."""

    def __init__(
        self,
        period_m: float,
        s_m: np.ndarray,
        grade: np.ndarray,
        crossfall: np.ndarray,
        features: list[tuple[float, str]] | None = None,
    ) -> None:
        self.period_m = float(period_m)
        self.s_m, self.grade, self.crossfall = s_m, grade, crossfall
        self.dgrade_per_m = np.gradient(grade, s_m)
        places = sorted(features or [])
        self.feature_s = np.array([p[0] for p in places])
        self.feature_kind = [p[1] for p in places]

    @classmethod
    def draw(cls, road: Road, rng: np.random.Generator, period_m: float) -> GradeProfile:
        """A random road (see ``Road`` and the module docstring)."""
        n = max(8, math.ceil(period_m / PROFILE_STEP_M))
        s_m = np.arange(n) * (period_m / n)
        phase = 2 * np.pi * s_m / period_m
        cycles = [max(1, round(period_m / w)) for w in road.wavelength_m[::-1]]
        k = rng.integers(cycles[0], cycles[1] + 1, _WAVES)
        waves = np.sin(k[:, None] * phase[None, :] + rng.uniform(0, 2 * np.pi, _WAVES)[:, None])
        ramps, joints = _ramps(road, rng, s_m, period_m)
        grade = road.undulation * math.sqrt(2.0 / _WAVES) * waves.sum(axis=0)
        grade += _smooth(ramps, round(road.vertical_curve_m / (period_m / n)))
        wobble = np.sin(k[:2, None] * phase[None, :] + rng.uniform(0, 2 * np.pi, 2)[:, None])
        crossfall = road.crossfall + road.crossfall_sigma * wobble.mean(axis=0) * math.sqrt(2)
        humps = rng.uniform(0, period_m, rng.poisson(road.humps_per_km * period_m / 1e3))
        features = [(float(s), "hump") for s in humps] + [(s, "joint") for s in joints]
        return cls(period_m, s_m, grade, crossfall, features)

    @classmethod
    def piecewise(
        cls,
        points: list[tuple[float, float]],
        period_m: float = PROFILE_M,
        *,
        crossfall: float = 0.0,
        features: list[tuple[float, str]] | None = None,
    ) -> GradeProfile:
        """A scripted road: grade linear between ``points`` (distance m, grade), constant
        crossfall."""
        s_m = np.arange(0.0, period_m, PROFILE_STEP_M)
        xs, gs = zip(*points, strict=True)
        grade = np.interp(s_m, xs, gs)
        return cls(period_m, s_m, grade, np.full(s_m.size, crossfall), features)

    def at(self, distance_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(grade, crossfall, d(grade)/ds per m) at distances along the route (m)."""
        s = np.asarray(distance_m, dtype=float) % self.period_m
        p = self.period_m
        return tuple(
            np.interp(s, self.s_m, a, period=p)
            for a in (self.grade, self.crossfall, self.dgrade_per_m)
        )

    def features(self, d0_m: float, d1_m: float) -> list[tuple[float, str]]:
        """(distance, "hump" | "joint") of the fixed places in (d0_m, d1_m] (unwrapped)."""
        out: list[tuple[float, str]] = []
        if self.feature_s.size == 0 or d1_m <= d0_m:
            return out
        for lap in range(math.floor(d0_m / self.period_m), math.floor(d1_m / self.period_m) + 1):
            s = self.feature_s + lap * self.period_m
            out += [(float(x), self.feature_kind[i]) for i, x in enumerate(s) if d0_m < x <= d1_m]
        return out


def _ramps(
    road: Road, rng: np.random.Generator, s_m: np.ndarray, period_m: float
) -> tuple[np.ndarray, list[float]]:
    """Piecewise-constant grade of the bridges and underpasses, and the deck ends."""
    out, joints = np.zeros(s_m.size), list[float]()
    if road.ramps_per_km <= 0:
        return out, joints
    mean_gap = 1000.0 / road.ramps_per_km
    x = float(rng.exponential(mean_gap))
    while True:
        g = float(rng.uniform(*road.ramp_grade)) * (1 if rng.random() < 0.7 else -1)
        ramp, deck = float(rng.uniform(*road.ramp_m)), float(rng.uniform(*road.deck_m))
        if x + 2 * ramp + deck >= period_m:
            return out, joints
        out[(s_m >= x) & (s_m < x + ramp)] = g
        out[(s_m >= x + ramp + deck) & (s_m < x + 2 * ramp + deck)] = -g
        if g > 0:  # a bridge: a joint where the deck begins and ends
            joints += [x + ramp, x + ramp + deck]
        x += 2 * ramp + deck + float(rng.exponential(mean_gap))


def _smooth(grade: np.ndarray, w: int) -> np.ndarray:
    """Circular moving average over ``w`` samples: vertical curves between grades."""
    w = max(1, w)
    padded = np.concatenate([grade[-w:], grade, grade[:w]])
    return np.asarray(np.convolve(padded, np.ones(w) / w, mode="same")[w:-w])


class _Filter:
    """``y_k = b u_k + a1 y_(k-1) + a2 y_(k-2)`` per column, solved a block at a time."""

    def __init__(self, a1: float, a2: float, b: float, channels: int) -> None:
        g = np.zeros(_BLOCK + 1)
        g[0], g[1] = 1.0, a1
        for j in range(2, _BLOCK + 1):
            g[j] = a1 * g[j - 1] + a2 * g[j - 2]
        k = np.arange(_BLOCK)
        self._impulse = b * np.tril(g[(k[:, None] - k[None, :]).clip(min=0)])
        self._c1, self._c2 = g[1:], a2 * g[:-1]
        self._y1, self._y2 = np.zeros(channels), np.zeros(channels)
        self.unit_variance = (1 - a2) / ((1 + a2) * ((1 - a2) ** 2 - a1 * a1))  # b = 1

    def run(self, u: np.ndarray) -> np.ndarray:
        out = np.empty_like(u)
        for a in range(0, len(u), _BLOCK):
            e = u[a : a + _BLOCK]
            m = len(e)
            y = (
                self._impulse[:m, :m] @ e
                + self._c1[:m, None] * self._y1
                + self._c2[:m, None] * self._y2
            )
            out[a : a + m] = y
            self._y1, self._y2 = y[-1].copy(), (y[-2] if m > 1 else self._y1).copy()
        return out


def _oscillator(hz: float, damping: float, rate_hz: float) -> tuple[float, float]:
    """(a1, a2) of a damped oscillator sampled at ``rate_hz``, for ``_Filter``."""
    w, dt = 2 * math.pi * hz, 1.0 / rate_hz
    r = math.exp(-damping * w * dt)
    return 2 * r * math.cos(w * math.sqrt(1 - damping * damping) * dt), -r * r


def body_acceleration(
    t_s: np.ndarray,
    speed_mps: np.ndarray,
    course_deg: np.ndarray,
    previous: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Specific force in the body frame on a level road, cab level (n x 3, m/s^2):
    forward, left, up.

    Each sample is the mean over the interval since the one before it (``previous``: the
    (t_s, speed_mps, course_deg) before the first; without it the first sample is at rest
    on the level). Times in s, speeds in m/s, courses in degrees clockwise from north.
    """
    t = np.asarray(t_s, dtype=float)
    v = np.asarray(speed_mps, dtype=float)
    c = np.asarray(course_deg, dtype=float)
    out = np.zeros((t.size, 3))
    out[:, 2] = G_MPS2
    if t.size == 0:
        return out
    head = previous if previous is not None else (t[0], v[0], c[0])
    tt, vv, cc = (np.concatenate([[h], a]) for h, a in zip(head, (t, v, c), strict=True))
    dt = np.diff(tt)
    live = dt > 0
    dpsi = np.radians((np.diff(cc) + 180.0) % 360.0 - 180.0)
    v_mid = 0.5 * (vv[1:] + vv[:-1])
    out[live, 0] = np.diff(vv)[live] / dt[live]
    out[live, 1] = -v_mid[live] * dpsi[live] / dt[live]
    return out


Pending = tuple[float, np.ndarray | None, float, float]  # distance, peak vector, s, sign


class ImuModel:
    """One accelerometer on one truck: truth in (``sense``), sensor-frame samples out.
    Keeps its state (last sample, odometer, cab tilt, vibration, temperature, jolts under
    way) between calls, so chunks join seamlessly.

    ``road``: a drawn ``GradeProfile``, or the ``Road`` to draw one from (``PROFILE_M``
    long); ``body``: the cab (default ``Body()``).

    Raises:
        ValueError: ``rate_hz`` outside [MIN_RATE_HZ, MAX_RATE_HZ].
    """

    def __init__(
        self,
        rate_hz: float,
        mounting: Mounting,
        rng: np.random.Generator,
        noise: ImuNoise | None = None,
        *,
        body: Body | None = None,
        road: Road | GradeProfile | None = None,
    ) -> None:
        if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
            raise ValueError(f"IMU rate must be {MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz, not {rate_hz}")
        self.rate_hz = float(rate_hz)
        self.mounting = mounting
        self.noise = nz = noise if noise is not None else ImuNoise()
        self.body = b = body if body is not None else Body()
        self._rng = rng
        if not isinstance(road, GradeProfile):
            road = GradeProfile.draw(road if road is not None else Road(), rng, PROFILE_M)
        self.profile = road
        self._rotation = mounting.matrix()
        self._bias = np.asarray(mounting.bias_mps2, dtype=float)
        self._previous: tuple[float, float, float] | None = None
        self._odometer_m: float | None = None  # distance at the previous sample
        a1, a2 = _oscillator(b.pitch_hz, b.damping, self.rate_hz)
        self._pitch = _Filter(a1, a2, math.radians(b.pitch_deg_per_mps2) * (1 - a1 - a2), 1)
        a1, a2 = _oscillator(b.roll_hz, b.damping, self.rate_hz)
        self._roll = _Filter(a1, a2, math.radians(b.roll_deg_per_mps2) * (1 - a1 - a2), 1)
        self._broadband = _Filter(math.exp(-1.0 / (self.rate_hz * nz.vibration_tau_s)), 0.0, 1.0, 3)
        self._bounce = _Filter(*_oscillator(nz.bounce_hz, 0.2, self.rate_hz), 1.0, 3)
        self._tempco = rng.normal(0.0, 1.0, 3) * nz.tempco_mps2_per_k
        self._warm_k = float(rng.uniform(*nz.warm_up_k))
        self._wander = (0.0, float(rng.normal(0.0, nz.temp_sigma_k)))  # (t_s, kelvin)
        self._t0_s: float | None = None
        self._pending: list[Pending] = []  # jolts ahead of an axle, by distance
        self._tail = np.zeros((0, 3))  # what is left of the jolts under way, per sample

    def sense(
        self,
        t_s: np.ndarray,
        speed_mps: np.ndarray,
        course_deg: np.ndarray,
        distance_m: np.ndarray | None = None,
    ) -> np.ndarray:
        """Sensor readings (n x 3, m/s^2, sensor axes) for true states at times ``t_s`` (s,
        increasing, one sample period apart), speeds (m/s), courses (degrees) and, if
        known, distances along the route (m; else the model integrates the speed)."""
        t = np.asarray(t_s, dtype=float)
        if t.size == 0:
            return np.zeros((0, 3))
        v = np.asarray(speed_mps, dtype=float)
        d = self._distances(t, v, distance_m)
        kin = body_acceleration(t, v, course_deg, self._previous)
        self._previous = (float(t[-1]), float(v[-1]), float(np.asarray(course_deg)[-1]))
        grade, crossfall, dgrade = self.profile.at(d)
        pitch = np.arctan(grade) + self._pitch.run(kin[:, :1])[:, 0]
        roll = self._roll.run(kin[:, 1:2])[:, 0] - np.arctan(crossfall)
        f = np.empty_like(kin)
        f[:, 0] = kin[:, 0] + G_MPS2 * np.sin(pitch)
        f[:, 1] = kin[:, 1] + G_MPS2 * np.cos(pitch) * np.sin(roll)
        f[:, 2] = G_MPS2 * np.cos(pitch) * np.cos(roll) + v * v * dgrade
        f += self._vibrate(v) + self._jolts(d, v)
        white = self._rng.normal(0.0, self.noise.white_mps2, f.shape)
        return np.asarray(f @ self._rotation.T + self._bias_at(t) + white)

    def _distances(self, t: np.ndarray, v: np.ndarray, given: np.ndarray | None) -> np.ndarray:
        if given is not None:
            d = np.asarray(given, dtype=float)
        else:
            t0, v0 = self._previous[:2] if self._previous is not None else (t[0], v[0])
            tt, vv = np.concatenate([[t0], t]), np.concatenate([[v0], v])
            start = self._odometer_m if self._odometer_m is not None else 0.0
            d = start + np.cumsum(0.5 * (vv[1:] + vv[:-1]) * np.diff(tt))
        if self._odometer_m is None:
            self._odometer_m = float(d[0])
        return d

    def _vibrate(self, v: np.ndarray) -> np.ndarray:
        """Broadband (AR(1)) and body-bounce (near ``bounce_hz``) vibration, both growing
        with speed."""
        nz, n = self.noise, v.size
        speed = np.abs(v)[:, None]
        h = nz.horizontal_share
        sigma = (nz.vibration_idle_mps2 + nz.vibration_per_mps * speed) * np.array([h, h, 1.0])
        phi = math.exp(-1.0 / (self.rate_hz * nz.vibration_tau_s))
        broad = self._broadband.run(
            math.sqrt(1 - phi * phi) * sigma * self._rng.normal(size=(n, 3))
        )
        sigma = nz.bounce_per_mps * speed * np.array([0.3, 0.15, 1.0])
        scale = 1.0 / math.sqrt(self._bounce.unit_variance)
        noise: np.ndarray = broad + self._bounce.run(scale * sigma * self._rng.normal(size=(n, 3)))
        return noise

    def _bias_at(self, t: np.ndarray) -> np.ndarray:
        """The bias at each sample: constant, plus the temperature's (warm-up and wander,
        the wander's Gauss-Markov step taken once per call and spread linearly)."""
        nz = self.noise
        if self._t0_s is None:
            self._t0_s = float(t[0])
            self._wander = (float(t[0]), self._wander[1])
        (t1, k1), span = self._wander, float(t[-1]) - self._wander[0]
        phi = math.exp(-max(span, 0.0) / nz.temp_tau_s)
        k2 = phi * k1 + nz.temp_sigma_k * math.sqrt(1 - phi * phi) * float(self._rng.normal())
        share = np.clip((t - t1) / span, 0.0, 1.0) if span > 0 else np.ones(t.size)
        self._wander = (float(t[-1]), k2)
        warm = self._warm_k * (1.0 - np.exp(-(t - self._t0_s) / nz.warm_up_tau_s))
        kelvin = warm + k1 + (k2 - k1) * share
        return self._bias + kelvin[:, None] * self._tempco[None, :]

    def _jolts(self, d: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Potholes (Poisson in distance), humps and bridge joints (fixed places), each felt
        by the front axle and a wheelbase later by the rear one."""
        nz, rng, n = self.noise, self._rng, d.size
        d0, d1 = (self._odometer_m if self._odometer_m is not None else float(d[0])), float(d[-1])
        self._odometer_m = d1
        wheelbase = self.body.wheelbase_m
        for s in np.sort(rng.uniform(d0, d1, rng.poisson(nz.bumps_per_km * max(d1 - d0, 0) / 1e3))):
            top, dur = rng.uniform(*nz.bump_peak_mps2), float(rng.uniform(*nz.bump_s))
            vec = top * np.array([rng.uniform(*nz.bump_fore_aft), rng.uniform(-0.15, 0.15), 1.0])
            rear = float(rng.uniform(0.6, 1.2))
            self._pending += [(s, vec, dur, 1.0), (s + wheelbase, rear * vec, dur, 1.0)]
        for s, kind in self.profile.features(d0, d1):
            if kind == "joint":
                vec = rng.uniform(2.0, 5.0) * np.array([rng.uniform(-0.3, 0.1), 0.0, 1.0])
                self._pending += [(s, vec, 0.08, 1.0), (s + wheelbase, vec, 0.08, 1.0)]
            elif nz.hump_per_mps > 0:
                self._pending += [(s, None, 0.0, 1.0), (s + wheelbase, None, 0.0, -1.0)]
        out = np.zeros((n, 3))
        carry = self._tail[:n]
        out[: len(carry)] += carry
        self._tail = self._tail[n:]
        due = [p for p in self._pending if p[0] <= d1]
        self._pending = [p for p in self._pending if p[0] > d1]
        for s, peak, duration_s, sign in due:
            i = min(int(np.searchsorted(d, s)), n - 1)
            if peak is not None:
                self._add_pulse(out, i, duration_s, peak)
                continue
            speed = max(float(v[i]), 0.5)  # a hump: its length at this speed, and the pitch
            tilt = sign * G_MPS2 * HUMP_HEIGHT_M / wheelbase
            hump = np.array([tilt, 0.0, min(8.0, nz.hump_per_mps * speed)])
            self._add_pulse(out, i, min(max(HUMP_LENGTH_M / speed, 0.2), 1.0), hump)
        return out

    def _add_pulse(self, out: np.ndarray, i: int, duration_s: float, vec: np.ndarray) -> None:
        """A half-sine of peak ``vec`` from sample ``i``; what runs past ``out`` is kept."""
        width = max(2, round(duration_s * self.rate_hz))
        pulse = np.sin(np.pi * (np.arange(width) + 0.5) / width)[:, None] * vec[None, :]
        end = min(len(out), i + width)
        out[i:end] += pulse[: end - i]
        rest = pulse[end - i :]
        if len(rest):
            grown = np.zeros((max(len(self._tail), len(rest)), 3))
            grown[: len(self._tail)] += self._tail
            grown[: len(rest)] += rest
            self._tail = grown


def checksum(body: str) -> str:
    """The NMEA checksum of the text between ``$`` and ``*``: two upper-case hex digits."""
    return f"{reduce(xor, body.encode('ascii'), 0):02X}"


def format_samples(t_unix_s: np.ndarray, accel_mps2: np.ndarray) -> bytes:
    """``$PCTIM`` lines (see the module docstring) for samples at POSIX times ``t_unix_s``."""
    lines = []
    for t, (ax, ay, az) in zip(t_unix_s.tolist(), accel_mps2.tolist(), strict=True):
        body = f"{SENTENCE},{t:.3f},{ax:.3f},{ay:.3f},{az:.3f}"
        lines.append(f"${body}*{checksum(body)}\r\n")
    return "".join(lines).encode("ascii")


def _truth_at(
    taus: np.ndarray, steps: list[DriveStep], v_now: float, s_now: float
) -> tuple[np.ndarray, np.ndarray]:
    """True speed (m/s) and distance along the route (m) at driver times ``taus`` (s),
    from the integration steps that cover them (none: the truck stands at ``s_now``)."""
    if not steps:
        return np.full(taus.shape, v_now), np.full(taus.shape, s_now)
    t0 = np.array([st.t0_s for st in steps])
    t1 = np.array([st.t1_s for st in steps])
    moving = np.array([st.moving_s for st in steps])
    a = np.array([st.a_mps2 for st in steps])
    v1 = np.array([st.v_mps for st in steps])
    s1 = np.array([st.s_m for st in steps])
    v0 = v1 - a * moving
    s0 = s1 - 0.5 * (v0 + v1) * moving
    i = np.clip(np.searchsorted(t1, taus - 1e-9, side="left"), 0, len(steps) - 1)
    tau = np.clip(taus - t0[i], 0.0, None)
    going = tau < moving[i]
    speed = np.where(going, v0[i] + a[i] * tau, v1[i])
    dist = np.where(going, s0[i] + v0[i] * tau + 0.5 * a[i] * tau * tau, s1[i])
    return np.maximum(speed, 0.0), dist


class ImuSimulator:
    """The accelerometer of one simulated truck; call ``collect`` after each ``sim.step()``.

    Raises:
        ValueError: the simulator drives a polyline (no ``geometry``), or a bad rate.
    """

    def __init__(
        self,
        sim: TruckSimulator,
        rate_hz: float,
        *,
        seed: int,
        mounting: Mounting | None = None,
        noise: ImuNoise | None = None,
        body: Body | None = None,
        road: Road | None = None,
    ) -> None:
        """The sensor of truck ``sim``; what is not given is drawn from ``seed``: the
        mounting, the cab (``Body.random``) and the road along the route (``Road()``)."""
        if sim.geometry is None:
            raise ValueError("an accelerometer needs a path with arcs at the corners (geometry)")
        seeds = np.random.SeedSequence([seed, 0x1A0]).spawn(4)
        self.mounting = mounting or Mounting.random(np.random.default_rng(seeds[0]))
        body = body or Body.random(np.random.default_rng(seeds[2]))
        profile = GradeProfile.draw(
            road or Road(), np.random.default_rng(seeds[3]), sim.route.length_m
        )
        self.model = ImuModel(
            rate_hz,
            self.mounting,
            np.random.default_rng(seeds[1]),
            noise,
            body=body,
            road=profile,
        )
        self.sim = sim
        self.rate_hz = self.model.rate_hz
        self._next = 0  # index of the next sample; sample m is at start_time + m / rate_hz
        self.samples = 0

    def collect(self) -> tuple[np.ndarray, np.ndarray]:
        """Samples up to the simulator's current time: (POSIX times s, n x 3 readings m/s^2)."""
        driver, geometry = self.sim.driver, self.sim.geometry
        assert geometry is not None
        last = math.floor(driver.t_s * self.rate_hz + 1e-6)
        m = np.arange(self._next, last + 1)
        self._next = last + 1
        taus = m / self.rate_hz
        speed, dist = _truth_at(taus, self.sim.last_steps, driver.v_mps, driver.s_m)
        course = np.array([geometry.course_at(float(s)) for s in dist])
        accel = self.model.sense(taus, speed, course, dist)
        self.samples += len(m)
        return self.sim.start_time.timestamp() + taus, accel
