"""A simulated GPS receiver on a garbage truck: true motion, then what the receiver says.

``TruckSimulator`` drives one truck of the city along its route (``firmware_sim.driving``,
integrated at about ``INTERNAL_HZ``), plays its scripted episodes (``firmware_sim.scripts``)
and, once per output epoch, returns the true state (``TruthEpoch``) with the receiver's
report of it (``ReceiverReport``), imperfections included:

- position error: a first-order Gauss-Markov process per axis (1-sigma
  ``SimConfig.position_noise_m``, correlation time ``POSITION_NOISE_TAU_S``), as receiver
  errors wander rather than jump from epoch to epoch;
- speed: white noise of 1-sigma ``SimConfig.speed_noise_mps`` (Doppler-derived speed);
  course jitters accordingly and is left blank below ``COURSE_MIN_SPEED_MPS``;
- dropouts: with probability ``SimConfig.dropout_prob`` an epoch goes wrong, half the time
  lost entirely (nothing emitted), half the time reported without a fix;
- satellites in view, in use, and dilutions of precision from ``firmware_sim.sky``.

The truck follows its route's polyline, or, given a ``geometry`` (e.g.
``firmware_sim.corners.RoundedRoute``), turns along arcs at the corners.

Deterministic: one ``seed`` drives everything, split into independent streams (driver,
noise, dropouts, sky), so changing e.g. ``dropout_prob`` leaves the noise unchanged.
Pure: no clock, no I/O; epoch times are ``start_time + k / rate_hz``.

The speed limits the truck drives against (and its episodes are judged by) are the
simulator's own model of the city's roads and zones (``firmware_sim.limits``).

Errors: ``ScenarioError`` (``firmware_sim.scripts``) when an episode cannot be played;
``ConfigError`` (``citytrack.config``) for a roads file that cannot be used;
``ValueError`` for a naive ``start_time`` or a non-positive rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from citytrack.config import CityConfig, SimConfig, Truck
from citytrack.geo import LocalFrame
from firmware_sim.corners import PathGeometry
from firmware_sim.driving import Driver, DriveStep, EpisodeRecord, RoadProfile
from firmware_sim.labels import EpisodeLabel
from firmware_sim.limits import CityLimits
from firmware_sim.route import Route
from firmware_sim.scripts import make_scripts
from firmware_sim.sky import SkyFix, SkyModel

INTERNAL_HZ = 20.0  # integration rate of the truck's motion
POSITION_NOISE_TAU_S = 5.0
COURSE_MIN_SPEED_MPS = 0.3  # receivers leave the course empty when (nearly) at rest
ALTITUDE_M = 4.0  # ground height around Namba, above mean sea level


@dataclass(frozen=True)
class TruthEpoch:
    """What really happened at an epoch, and what the receiver made of it.

    ``valid``: the receiver reported a fix; ``emitted``: it output anything at all.
    """

    time: datetime
    lat_deg: float
    lon_deg: float
    speed_mps: float
    course_deg: float
    valid: bool
    emitted: bool


@dataclass(frozen=True)
class ReceiverReport:
    """One epoch as the receiver reports it. Without a fix the position fields are None."""

    time: datetime
    fix: bool
    lat_deg: float | None
    lon_deg: float | None
    alt_m: float | None
    speed_mps: float | None
    course_deg: float | None
    sky: SkyFix


@dataclass(frozen=True)
class SimEpoch:
    """An epoch's truth, and the receiver's report (None when the epoch is lost)."""

    truth: TruthEpoch
    report: ReceiverReport | None


class ReceiverModel:
    """Turns true states into receiver reports: noise, dropouts, satellites."""

    def __init__(self, sim: SimConfig, rate_hz: float, seeds: list[np.random.SeedSequence]):
        self.sim = sim
        self.dt_s = 1.0 / rate_hz
        self._noise = np.random.default_rng(seeds[0])
        self._drop = np.random.default_rng(seeds[1])
        self.sky = SkyModel(np.random.default_rng(seeds[2]))
        sigma = np.array([1.0, 1.0, 1.8]) * sim.position_noise_m  # east, north, up
        self._phi = math.exp(-self.dt_s / POSITION_NOISE_TAU_S)
        self._sigma = sigma
        self._enu = self._noise.normal(0.0, 1.0, 3) * sigma

    def _next_noise(self) -> tuple[np.ndarray, float, float]:
        """Position error (east, north, up m), speed error (m/s), course draw (sigma units)."""
        w = self._noise.normal(0.0, 1.0, 5)
        self._enu = self._phi * self._enu + math.sqrt(1 - self._phi**2) * self._sigma * w[:3]
        return self._enu, float(w[3]) * self.sim.speed_noise_mps, float(w[4])

    def observe(
        self,
        time: datetime,
        t_s: float,
        lat_deg: float,
        lon_deg: float,
        speed_mps: float,
        course_deg: float,
    ) -> ReceiverReport | None:
        """The receiver's report of a true state; None when the epoch is lost."""
        enu, dv, course_w = self._next_noise()
        u_drop, u_kind = self._drop.random(2)
        dropout = u_drop < self.sim.dropout_prob
        sky = self.sky.observe(t_s, self.dt_s, fix=not dropout)
        if dropout and u_kind < 0.5:
            return None
        if dropout or len(sky.used_prns) < 4:
            return ReceiverReport(time, False, None, None, None, None, None, sky)
        lat, lon = LocalFrame(lat_deg, lon_deg).to_latlon(enu[0], enu[1])
        speed = abs(speed_mps + dv)
        course: float | None = None
        if speed >= COURSE_MIN_SPEED_MPS:
            sigma_deg = math.degrees(math.atan2(self.sim.speed_noise_mps, speed))
            course = (course_deg + course_w * sigma_deg) % 360.0
        return ReceiverReport(time, True, lat, lon, ALTITUDE_M + float(enu[2]), speed, course, sky)


class TruckSimulator:
    """One truck of the city driving its route, as its GPS receiver sees it."""

    def __init__(
        self,
        truck: Truck,
        city: CityConfig,
        sim: SimConfig,
        *,
        seed: int,
        start_time: datetime,
        rate_hz: float | None = None,
        geometry: Callable[[Route], PathGeometry] | None = None,
    ) -> None:
        """Prepare the truck at rest at its first waypoint; ``geometry`` makes the path it
        drives from its route (default: the route's polyline, with sharp corners).

        Raises:
            ValueError: ``start_time`` without a time zone, or ``rate_hz`` <= 0.
            ScenarioError: an episode of ``truck.episodes`` the route cannot play.
            ConfigError: the city's roads file cannot be used.
        """
        if start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware (UTC)")
        self.rate_hz = float(rate_hz if rate_hz is not None else sim.rate_hz)
        if not self.rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {self.rate_hz}")
        self.truck = truck
        self.device_id = truck.device_id
        self.start_time = start_time.astimezone(UTC)
        self.route = Route.from_truck(truck, city)
        self.geometry = geometry(self.route) if geometry is not None else None
        self.limits = CityLimits.for_city(city)  # roads, zones, default: the documented rule
        drive_seed, *receiver_seeds = np.random.SeedSequence(seed).spawn(4)
        self.driver = self._driver(truck, city, sim, np.random.default_rng(drive_seed))
        self.receiver = ReceiverModel(sim, self.rate_hz, receiver_seeds)
        self._substeps = max(1, round(INTERNAL_HZ / self.rate_hz))
        self._dt_s = 1.0 / (self.rate_hz * self._substeps)
        self.epoch_index = 0
        self.last_steps: list[DriveStep] = []
        self.labels: list[EpisodeLabel] = []
        self._popped = 0

    def _driver(
        self, truck: Truck, city: CityConfig, sim: SimConfig, rng: np.random.Generator
    ) -> Driver:
        """The truck's driver, with its scripted episodes (ScenarioError: one is unplayable)."""
        profile = RoadProfile(self.route, self.limits)
        vehicle = city.vehicle_classes[truck.vehicle_class]
        scripts = make_scripts(truck, vehicle, profile, rng)
        return Driver(
            self.route,
            profile,
            cruise_kmh=truck.cruise_kmh,
            dwell_s=sim.dwell_s,
            scripts=scripts,
            geometry=self.geometry,
        )

    def restart_at(self, start_time: datetime) -> None:
        """Anchor epoch 0 (and the labels) at ``start_time`` instead: a shell that builds
        the simulator ahead of time calls it when the receiver starts writing, so the
        first fix is not as old as the set-up took.

        Raises:
            ValueError: ``start_time`` without a time zone, or an epoch already stepped.
        """
        if start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware (UTC)")
        if self.epoch_index > 0:
            raise ValueError("the simulator has already started")
        self.start_time = start_time.astimezone(UTC)

    def epoch_time(self, k: int) -> datetime:
        """UTC time of epoch ``k`` (0 = ``start_time``)."""
        return self.start_time + timedelta(microseconds=round(k * 1e6 / self.rate_hz))

    def step(self) -> SimEpoch:
        """The next epoch (the first call returns epoch 0, the truck at rest)."""
        k = self.epoch_index
        steps = [self.driver.step(self._dt_s) for _ in range(self._substeps)] if k > 0 else []
        self.last_steps = steps  # the true motion since the last epoch (an IMU samples it)
        d = self.driver
        path = self.geometry if self.geometry is not None else self.route
        lat, lon = (float(x) for x in path.latlon_at(d.s_m))
        course = path.course_at(d.s_m)
        time = self.epoch_time(k)
        report = self.receiver.observe(time, k / self.rate_hz, lat, lon, d.v_mps, course)
        truth = TruthEpoch(
            time,
            lat,
            lon,
            d.v_mps,
            course,
            valid=report is not None and report.fix,
            emitted=report is not None,
        )
        self.labels.extend(self._label(r) for r in d.records[len(self.labels) :])
        self.epoch_index = k + 1
        return SimEpoch(truth, report)

    def pop_labels(self) -> list[EpisodeLabel]:
        """Labels of episodes completed since the last call."""
        out = self.labels[self._popped :]
        self._popped = len(self.labels)
        return out

    def _label(self, record: EpisodeRecord) -> EpisodeLabel:
        def at(t_s: float) -> datetime:
            return self.start_time + timedelta(microseconds=round(t_s * 1e6))

        return EpisodeLabel(
            self.device_id,
            record.kind,
            at(record.start_s),
            at(record.end_s),
            round(record.peak_value, 3),
            record.zone_id,
        )
