"""The city's collection day as a routing :class:`~.model.Problem` (pure).

:func:`build_day_problem` takes the configuration (depot, disposal site, trucks, the
``[routes]`` settings), the points CSV (points, today's courses, time windows), the
expected garbage by weekday and the learned :class:`~.observed.RouteStats`, and builds
the day's problem:

- clients: the configured collection points (``[[city.collection_points]]``, then the
  CSV's, in file order) with more than 0 kg expected on the day's weekday; demand is
  that kg rounded up, service time the learned estimate at that kg (else
  ``default_service_s``), the window the CSV's (local times);
- sites: the depot, the disposal site as the one reload depot, then the clients; a
  route's last trip also empties at the disposal site on its way back to the depot;
- one vehicle per truck (name = device id) with ``capacity_kg`` of its vehicle class per
  trip and the shift ``shift_start`` .. ``shift_end``;
- duration and distance matrices from ``RouteStats.travel_between`` in one band, the
  one covering most of the shift (:func:`planning_band`; ties go to the earlier band):
  observed medians where enough traversals exist, else grid distance at its speed.

Times are s from ``origin``, local midnight of the day (over a DST change, real elapsed
seconds). Raises :class:`~.model.RoutingError` when the inputs do not fit together (an
emission for an unknown point, a vehicle class without a capacity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from analytics.routing.emissions import Emissions
from analytics.routing.model import Client, Problem, RoutingError, Vehicle
from analytics.routing.observed import RouteStats
from analytics.routing.points import PointsTable, Site
from analytics.routing.stops import local_xy_m
from citytrack.config import CityConfig, Place
from citytrack.config.routes import RoutesConfig

__all__ = [
    "DayProblem",
    "Site",
    "build_day_problem",
    "configured_sites",
    "fold_final_unload",
    "planning_band",
]


@dataclass(frozen=True)
class DayProblem:
    """One collection day ready to solve.

    ``problem`` times are s from ``origin`` (local midnight of ``day``, tz-aware);
    ``sites`` maps every name in ``problem.site_names`` to its place; ``courses`` holds
    today's hand-made course per truck device id, only the points collected this day;
    ``sources`` says per client where its service time came from. ``final_unload`` names
    the reload depot where every route's last load is emptied on the way back to the
    depot: a packer truck never parks full, so each client -> depot entry of the matrices
    is the leg through that site, its ``unload_s`` included (see :func:`fold_final_unload`).
    """

    day: date
    origin: datetime
    problem: Problem
    sites: dict[str, Site]
    courses: dict[str, tuple[str, ...]]
    sources: dict[str, str]
    final_unload: str | None = None


def _site(place: Place) -> Site:
    return Site(place.id, place.name, place.lat_deg, place.lon_deg)


def configured_sites(city: CityConfig, points: PointsTable) -> dict[str, Site]:
    """Every configured collection point: ``[[city.collection_points]]``, then the CSV's."""
    found = {p.id: _site(p) for p in city.collection_points}
    found.update({p.id: p.site for p in points.points})
    return found


def planning_band(routes: RoutesConfig) -> int:
    """The ``speed_profile_kmh`` band covering most of the shift (ties: the earlier)."""
    starts = sorted(routes.speed_profile_kmh)
    shift = (_hours(routes.shift_start), _hours(routes.shift_end))

    def overlap(i: int) -> float:
        end = starts[i + 1] if i + 1 < len(starts) else 24.0
        return max(0.0, min(end, shift[1]) - max(starts[i], shift[0]))

    best = max(range(len(starts)), key=lambda i: (overlap(i), -i))
    return starts[best]


def _hours(t: time) -> float:
    return t.hour + t.minute / 60 + t.second / 3600


def build_day_problem(
    city: CityConfig,
    routes: RoutesConfig,
    day: date,
    stats: RouteStats,
    points: PointsTable,
    emissions: Emissions,
) -> DayProblem:
    """The collection problem of ``day`` (see the module doc)."""
    origin = datetime.combine(day, time(), tzinfo=ZoneInfo(city.timezone))
    candidates = configured_sites(city, points)
    kg_today = emissions.on(day.weekday())
    unknown = sorted(set(kg_today) - set(candidates))
    if unknown:
        raise RoutingError(f"emissions name unknown collection points: {', '.join(unknown)}")
    clients, sources = _clients(candidates, kg_today, points.windows(), stats, origin)
    depot, disposal = _site(city.depot), _site(city.disposal_site)
    sites = {
        depot.id: depot,
        disposal.id: disposal,
        **{c.name: candidates[c.name] for c in clients},
    }
    distance, duration = _matrices(list(sites.values()), stats, planning_band(routes))
    fold_final_unload(distance, duration, reload=1, unload_s=routes.unload_s)
    problem = Problem(
        depot=depot.id,
        clients=clients,
        vehicles=_vehicles(city, routes, origin),
        distance_m=distance,
        duration_s=duration,
        reload_depots=(disposal.id,),
        unload_s=routes.unload_s,
        coords_m=_coords(list(sites.values())),
    )
    collected = {c.name for c in clients}
    courses = {
        truck: tuple(p for p in course if p in collected)
        for truck, course in points.courses().items()
    }
    return DayProblem(day, origin, problem, sites, courses, sources, final_unload=disposal.id)


def fold_final_unload(
    distance: np.ndarray, duration: np.ndarray, *, reload: int, unload_s: int
) -> None:
    """Make every client -> depot leg (site 0) run through reload depot ``reload``, where
    the truck empties (``unload_s``): in place, on matrices ordered depot, reload depots,
    clients. Solver, checker and course evaluation then all count the last trip to the
    disposal site, and the depot -> depot (unused truck) entry stays 0."""
    first_client = reload + 1
    distance[first_client:, 0] = distance[first_client:, reload] + distance[reload, 0]
    duration[first_client:, 0] = duration[first_client:, reload] + unload_s + duration[reload, 0]


def _clients(
    candidates: dict[str, Site],
    kg_today: dict[str, float],
    windows: dict[str, tuple[time, time]],
    stats: RouteStats,
    origin: datetime,
) -> tuple[tuple[Client, ...], dict[str, str]]:
    """The points with garbage today, and where each one's service time came from."""
    clients: list[Client] = []
    sources: dict[str, str] = {}
    for pid in (p for p in candidates if kg_today.get(p, 0.0) > 0):
        estimate = stats.service_for(pid)
        window = windows.get(pid)
        clients.append(
            Client(
                pid,
                demand_kg=math.ceil(kg_today[pid]),
                service_s=round(estimate.at(kg_today[pid])),
                window_s=None if window is None else _span_s(origin, window),
            )
        )
        sources[pid] = estimate.source
    return tuple(clients), sources


def _span_s(origin: datetime, span: tuple[time, time]) -> tuple[int, int]:
    """Local (start, end) times of ``origin``'s day as elapsed s from ``origin``."""

    def seconds(t: time) -> int:
        at = datetime.combine(origin.date(), t, tzinfo=origin.tzinfo)
        return round((at.astimezone(UTC) - origin.astimezone(UTC)).total_seconds())

    return seconds(span[0]), seconds(span[1])


def _vehicles(city: CityConfig, routes: RoutesConfig, origin: datetime) -> tuple[Vehicle, ...]:
    shift = _span_s(origin, (routes.shift_start, routes.shift_end))
    vehicles = []
    for truck in city.trucks:
        capacity = routes.capacity_kg.get(truck.vehicle_class)
        if capacity is None:
            raise RoutingError(
                f"routes.capacity_kg has no entry for vehicle class {truck.vehicle_class!r}"
                f" (truck {truck.device_id})"
            )
        vehicles.append(Vehicle(truck.device_id, capacity, shift_s=shift, count=1))
    return tuple(vehicles)


def _matrices(sites: list[Site], stats: RouteStats, band: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(sites)
    distance = np.zeros((n, n), dtype=np.int64)
    duration = np.zeros((n, n), dtype=np.int64)
    for i, a in enumerate(sites):
        for j, b in enumerate(sites):
            travel = stats.travel_between(a, b, band)
            distance[i, j] = round(travel.distance_m)
            duration[i, j] = round(travel.duration_s)
    return distance, duration


def _coords(sites: list[Site]) -> np.ndarray:
    east, north = local_xy_m(
        [s.lat_deg for s in sites], [s.lon_deg for s in sites], sites[0].lat_deg, sites[0].lon_deg
    )
    return np.column_stack([east, north])
