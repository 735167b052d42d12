"""A simulated accelerometer on a truck: the simulator's true motion in, sensor samples out.

Body frame (ISO 8855): x forward, y left, z up. An accelerometer measures specific force,
so a truck at rest reads +g upwards. Over each sample interval the model takes the mean of
the true motion (what a sensor's anti-aliasing filter does)::

    longitudinal  dv/dt                       from the true speed, m/s^2
    lateral       v * yaw rate (to the left)  yaw rate = -d(course)/dt, course clockwise
    vertical      G_MPS2 (9.80665)            flat roads

plus road vibration (AR(1) noise whose 1-sigma grows with speed, twice as strong vertically)
and bumps (potholes, manhole covers: half-sine pulses, mostly vertical, ``bumps_per_km``).
The sensor sits in the truck with a ``Mounting``: any yaw, a few degrees of pitch and roll,
and a constant bias per axis; white noise is added last::

    f_sensor = R_mount @ f_body + bias + white noise

Line protocol (one sample per line, ASCII, what ``citytrack sim gps --imu-rate`` writes to
its second pty and ``edge_agent.imu.ImuDecoder`` reads)::

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
(``TruckSimulator.pop_labels``): the GPS and the IMU see the same driver.

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
_AR_BLOCK = 64  # samples per block of the vibration recursion


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
class ImuNoise:
    """What the sensor adds to the truth (1-sigma values)."""

    white_mps2: float = 0.05  # sensor noise per axis, per sample
    vibration_per_mps: float = 0.03  # road vibration, vertical 1-sigma per m/s of speed, m/s^2
    vibration_tau_s: float = 0.03  # correlation time of the vibration, s
    bumps_per_km: float = 4.0  # potholes, manhole covers, joints
    bump_peak_mps2: tuple[float, float] = (2.0, 6.0)  # vertical peak of a bump, m/s^2
    bump_s: float = 0.12  # duration of a bump, s


def body_acceleration(
    t_s: np.ndarray,
    speed_mps: np.ndarray,
    course_deg: np.ndarray,
    previous: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Specific force in the body frame (n x 3, m/s^2): forward, left, up.

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


class ImuModel:
    """One accelerometer: truth in (``sense``), sensor-frame samples out. Keeps its state
    (last sample, vibration, a bump under way) between calls, so chunks join seamlessly.

    Raises:
        ValueError: ``rate_hz`` outside [MIN_RATE_HZ, MAX_RATE_HZ].
    """

    def __init__(
        self,
        rate_hz: float,
        mounting: Mounting,
        rng: np.random.Generator,
        noise: ImuNoise | None = None,
    ) -> None:
        if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
            raise ValueError(f"IMU rate must be {MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz, not {rate_hz}")
        self.rate_hz = float(rate_hz)
        self.mounting = mounting
        self.noise = noise if noise is not None else ImuNoise()
        self._rng = rng
        self._rotation = mounting.matrix()
        self._bias = np.asarray(mounting.bias_mps2, dtype=float)
        self._previous: tuple[float, float, float] | None = None
        self._vibration = np.zeros(3)
        self._bump_tail = np.zeros((0, 3))  # what is left of a bump, per coming sample

    def sense(self, t_s: np.ndarray, speed_mps: np.ndarray, course_deg: np.ndarray) -> np.ndarray:
        """Sensor readings (n x 3, m/s^2, sensor axes) for true states at times ``t_s`` (s,
        increasing, one sample period apart), speeds (m/s) and courses (degrees)."""
        t = np.asarray(t_s, dtype=float)
        if t.size == 0:
            return np.zeros((0, 3))
        v = np.asarray(speed_mps, dtype=float)
        body = body_acceleration(t, v, course_deg, self._previous)
        self._previous = (float(t[-1]), float(v[-1]), float(np.asarray(course_deg)[-1]))
        body += self._vibrate(v) + self._bumps(v)
        white = self._rng.normal(0.0, self.noise.white_mps2, body.shape)
        return np.asarray(body @ self._rotation.T + self._bias + white)

    def _vibrate(self, v: np.ndarray) -> np.ndarray:
        """AR(1) road vibration, 1-sigma proportional to speed (horizontal half of vertical)."""
        n = v.size
        phi = math.exp(-1.0 / (self.rate_hz * self.noise.vibration_tau_s))
        sigma = self.noise.vibration_per_mps * np.abs(v)[:, None] * np.array([0.5, 0.5, 1.0])
        drive = math.sqrt(1.0 - phi * phi) * sigma * self._rng.normal(0.0, 1.0, (n, 3))
        out = np.empty((n, 3))
        for a in range(0, n, _AR_BLOCK):  # x_k = phi x_(k-1) + e_k, a block at a time
            e = drive[a : a + _AR_BLOCK]
            k = np.arange(len(e))
            powers = np.tril(phi ** (k[:, None] - k[None, :]).clip(min=0))
            out[a : a + len(e)] = powers @ e + (phi ** (k + 1))[:, None] * self._vibration
            self._vibration = out[a + len(e) - 1].copy()
        return out

    def _bumps(self, v: np.ndarray) -> np.ndarray:
        """Half-sine bumps, Poisson in distance; a bump may run on into the next chunk."""
        n = v.size
        out = np.zeros((n, 3))
        carry = self._bump_tail[:n]
        out[: len(carry)] += carry
        self._bump_tail = self._bump_tail[n:]
        km = float(np.sum(np.abs(v))) / self.rate_hz / 1000.0
        width = max(2, round(self.noise.bump_s * self.rate_hz))
        shape = np.sin(np.pi * (np.arange(width) + 0.5) / width)
        for start in np.sort(
            self._rng.integers(0, n, self._rng.poisson(self.noise.bumps_per_km * km))
        ):
            peak = self._rng.uniform(*self.noise.bump_peak_mps2)
            axes = np.array([self._rng.uniform(-0.3, 0.3), self._rng.uniform(-0.15, 0.15), 1.0])
            pulse = peak * shape[:, None] * axes[None, :]
            end = min(n, start + width)
            out[start:end] += pulse[: end - start]
            rest = pulse[end - start :]
            if len(rest):
                grown = np.zeros((max(len(self._bump_tail), len(rest)), 3))
                grown[: len(self._bump_tail)] += self._bump_tail
                grown[: len(rest)] += rest
                self._bump_tail = grown
        return out


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
    ) -> None:
        if sim.geometry is None:
            raise ValueError("an accelerometer needs a path with arcs at the corners (geometry)")
        mount_seed, noise_seed = np.random.SeedSequence([seed, 0x1A0]).spawn(2)
        self.mounting = mounting or Mounting.random(np.random.default_rng(mount_seed))
        self.model = ImuModel(rate_hz, self.mounting, np.random.default_rng(noise_seed), noise)
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
        accel = self.model.sense(taus, speed, course)
        self.samples += len(m)
        return self.sim.start_time.timestamp() + taus, accel
