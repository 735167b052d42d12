"""Service and travel times as the trucks showed them, with a lookup that says where each
number came from (pure: numpy and scikit-learn, no I/O).

- **Service time** at a collection point (:func:`estimate_service`): the median of its
  dwell durations, or, with ``HUBER_MIN_OBS`` dwells or more whose expected garbage
  varies (coefficient of variation at least ``HUBER_MIN_KG_CV``), a Huber regression of
  duration on kg (scikit-learn ``HuberRegressor``): service grows with the amount to
  load. Both resist outliers: a 40-minute lunch break parked at a point moves a median
  by at most one rank and a Huber fit by a bounded step (its loss is linear, not
  quadratic, beyond ``epsilon`` scale units), where it would drag a mean by minutes.
- **Travel time** from point A to point B (:func:`traversals`, :func:`group_travel`): one
  observation per pair of consecutive matched stops of one truck-day, from the departure
  at A to the arrival at B, with the distance along the fixes between them. Dwells at
  unmatched places on the way (red lights) count as travel; a dwell there longer than
  ``BREAK_S`` (a break) or a gap in the fixes longer than ``MAX_GAP_S`` drops the
  observation. Grouped by (from, to, band), a band being a ``speed_profile_kmh`` key:
  the first local hour of departure it covers; medians of duration and distance.
- :class:`RouteStats` looks both up; a pair with fewer than ``min_observations``
  traversals in the band falls back to the grid distance (L1 in local metres, times
  ``detour_factor``) at the band's profile speed.

Raises ``ValueError`` for inconsistent input.
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Literal

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import HuberRegressor

from analytics.routing.points import Site
from analytics.routing.stops import MAX_GAP_S, DayTrack, Dwell, local_xy_m, step_lengths_m
from citytrack.config.routes import RoutesConfig

HUBER_MIN_OBS = 10
"""Dwells needed before service time is regressed on kg rather than taken as a median."""
HUBER_MIN_KG_CV = 0.15
"""The kg behind those dwells must vary at least this much (std / mean) to regress on it."""
BREAK_S = 600.0
"""A dwell at an unmatched place this long is a break, not part of a journey, s."""

ServiceMethod = Literal["median", "huber", "default"]


@dataclass(frozen=True)
class ServiceEstimate:
    """Service time at ``point_id``: ``value_s`` at ``ref_kg`` (huber) or flat, from
    ``n_obs`` dwells; ``slope_s_per_kg`` is 0 unless ``method`` is huber."""

    point_id: str
    value_s: float
    n_obs: int
    method: ServiceMethod
    slope_s_per_kg: float = 0.0
    ref_kg: float = 0.0

    def at(self, kg: float | None) -> float:
        """Service time for ``kg`` of garbage (the flat value when kg is unknown), s >= 0."""
        if kg is None or self.method != "huber":
            return self.value_s
        return max(0.0, self.value_s + self.slope_s_per_kg * (kg - self.ref_kg))

    @property
    def source(self) -> str:
        """Where the number comes from, for people: "median of 12 dwells" / "default"."""
        if self.method == "median":
            return f"median of {self.n_obs} dwells"
        if self.method == "huber":
            return f"Huber fit on kg over {self.n_obs} dwells"
        return "default"


def estimate_service(
    point_id: str,
    durations_s: Sequence[float],
    kg: Sequence[float | None] | None,
    *,
    default_s: float,
) -> ServiceEstimate:
    """Service time at a point from its dwell ``durations_s`` and, per dwell, the kg
    expected that day (None where unknown); see the module doc."""
    n = len(durations_s)
    if n == 0:
        return ServiceEstimate(point_id, float(default_s), 0, "default")
    median = ServiceEstimate(point_id, float(np.median(durations_s)), n, "median")
    if kg is None or len(kg) != n or any(k is None for k in kg) or n < HUBER_MIN_OBS:
        return median
    x = np.array(kg, dtype=np.float64)
    if x.mean() <= 0 or x.std() / x.mean() < HUBER_MIN_KG_CV:
        return median
    fitted = _huber(point_id, x, np.asarray(durations_s, dtype=np.float64))
    return fitted if fitted is not None else median


def _huber(point_id: str, kg: np.ndarray, durations_s: np.ndarray) -> ServiceEstimate | None:
    """The Huber fit, or None when it did not converge or says more garbage takes less
    time (noise: the median is the better answer then)."""
    ref, scale = float(np.median(kg)), float(kg.std())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            model = HuberRegressor(max_iter=1000).fit(((kg - ref) / scale)[:, None], durations_s)
        except ConvergenceWarning:
            return None
    slope = float(model.coef_[0]) / scale
    if slope < 0:
        return None
    value = max(0.0, float(model.intercept_))
    return ServiceEstimate(point_id, value, len(kg), "huber", slope, ref)


@dataclass(frozen=True)
class Traversal:
    """One drive of ``device_id`` from site ``from_id`` (departure) to ``to_id``
    (arrival), UTC times, ``distance_m`` along its fixes."""

    device_id: str
    from_id: str
    to_id: str
    depart: datetime
    arrive: datetime
    distance_m: float

    @property
    def duration_s(self) -> float:
        return (self.arrive - self.depart).total_seconds()


def traversals(
    track: DayTrack, dwells: Sequence[Dwell], labels: Mapping[Dwell, str]
) -> list[Traversal]:
    """Drives between consecutive labelled dwells (collection points, depot, disposal
    site) of one truck-day; ``dwells`` are all of the track's dwells in time order,
    ``labels`` name the site of those matched to one (see the module doc)."""
    found: list[Traversal] = []
    last: tuple[str, Dwell] | None = None
    for dwell in dwells:
        label = labels.get(dwell)
        if label is None:
            if dwell.duration_s > BREAK_S:
                last = None
            continue
        if last is not None and last[0] != label:
            drive = _drive(track, last[1], dwell, last[0], label)
            if drive is not None:
                found.append(drive)
        last = (label, dwell)
    return found


def _drive(track: DayTrack, a: Dwell, b: Dwell, a_id: str, b_id: str) -> Traversal | None:
    i = int(np.searchsorted(track.t_s, a.end.timestamp(), side="left"))
    j = int(np.searchsorted(track.t_s, b.start.timestamp(), side="right"))
    t = track.t_s[i:j]
    if len(t) < 2 or float(np.max(np.diff(t))) > MAX_GAP_S:
        return None
    distance = float(step_lengths_m(track.lat_deg[i:j], track.lon_deg[i:j]).sum())
    return Traversal(track.device_id, a_id, b_id, a.end, b.start, distance)


def band_start(hour: int, speed_profile_kmh: Mapping[int, float]) -> int:
    """The band (first local hour of a ``speed_profile_kmh`` band) covering ``hour``."""
    return max(h for h in speed_profile_kmh if h <= hour)


@dataclass(frozen=True)
class TravelObservation:
    """Median duration (s) and distance (m) of ``n_obs`` traversals from ``from_id`` to
    ``to_id`` departing in the band starting at local hour ``band_start_h``."""

    from_id: str
    to_id: str
    band_start_h: int
    duration_s: float
    distance_m: float
    n_obs: int


def group_travel(
    found: Iterable[Traversal], speed_profile_kmh: Mapping[int, float], tz: tzinfo
) -> list[TravelObservation]:
    """Traversals grouped by (from, to, band of the local departure hour), sorted."""
    groups: dict[tuple[str, str, int], list[Traversal]] = {}
    for tr in found:
        band = band_start(tr.depart.astimezone(tz).hour, speed_profile_kmh)
        groups.setdefault((tr.from_id, tr.to_id, band), []).append(tr)
    return [
        TravelObservation(
            a,
            b,
            band,
            statistics.median(t.duration_s for t in group),
            statistics.median(t.distance_m for t in group),
            len(group),
        )
        for (a, b, band), group in sorted(groups.items())
    ]


@dataclass(frozen=True)
class TravelTime:
    """A looked-up travel time (s) and distance (m): ``method`` "observed" (the median
    of ``n_obs`` traversals) or "fallback" (grid distance at the profile speed; ``n_obs``
    then counts the too few traversals there were)."""

    duration_s: float
    distance_m: float
    n_obs: int
    method: Literal["observed", "fallback"]


def grid_distance_m(a: Site, b: Site, detour_factor: float = 1.0) -> float:
    """L1 distance between two sites in local metres (a street grid), times the detour;
    symmetric (projected about the pair's mean latitude)."""
    mid_lat = (a.lat_deg + b.lat_deg) / 2
    east, north = local_xy_m([a.lat_deg, b.lat_deg], [a.lon_deg, b.lon_deg], mid_lat, a.lon_deg)
    return float(abs(east[1] - east[0]) + abs(north[1] - north[0])) * detour_factor


@dataclass(frozen=True)
class RouteStats:
    """Learned service and travel times, with the ``[routes]`` settings their lookups
    fall back on. Build with :meth:`for_config`."""

    speed_profile_kmh: Mapping[int, float]
    detour_factor: float
    min_observations: int
    default_service_s: float
    service: Mapping[str, ServiceEstimate] = field(default_factory=dict)
    travel: Mapping[tuple[str, str, int], TravelObservation] = field(default_factory=dict)

    @classmethod
    def for_config(
        cls,
        routes: RoutesConfig,
        service: Iterable[ServiceEstimate] = (),
        travel: Iterable[TravelObservation] = (),
    ) -> RouteStats:
        return cls(
            dict(routes.speed_profile_kmh),
            routes.detour_factor,
            routes.min_observations,
            routes.default_service_s,
            {s.point_id: s for s in service},
            {(t.from_id, t.to_id, t.band_start_h): t for t in travel},
        )

    def service_for(self, point_id: str) -> ServiceEstimate:
        """The learned estimate, or the default service time (n_obs 0)."""
        found = self.service.get(point_id)
        return found or ServiceEstimate(point_id, self.default_service_s, 0, "default")

    def travel_between(self, a: Site, b: Site, band_start_h: int) -> TravelTime:
        """Travel from ``a`` to ``b`` leaving in the band starting at ``band_start_h``:
        observed when ``min_observations`` traversals back it, else the fallback."""
        if band_start_h not in self.speed_profile_kmh:
            raise ValueError(f"{band_start_h} is no band start of speed_profile_kmh")
        if a.id == b.id:
            return TravelTime(0.0, 0.0, 0, "observed")
        seen = self.travel.get((a.id, b.id, band_start_h))
        if seen is not None and seen.n_obs >= self.min_observations:
            return TravelTime(seen.duration_s, seen.distance_m, seen.n_obs, "observed")
        distance = grid_distance_m(a, b, self.detour_factor)
        speed_mps = self.speed_profile_kmh[band_start_h] / 3.6
        return TravelTime(distance / speed_mps, distance, seen.n_obs if seen else 0, "fallback")
