"""A day's collection plan as the files ``citytrack routes plan`` writes: JSON and GeoJSON.

Both are built from the typed plan (:class:`~.model.Plan` for a
:class:`~.city.DayProblem`); times are local ISO 8601 with the offset (the day's
``origin`` zone), distances m, durations s, loads kg. Each route is listed as its stops in
order: the depot it leaves, collection points, the disposal site after each trip (after
the last one too where the day has a ``final_unload``), the depot it comes back to.
Arrival times are recomputed from the duration matrix (departure from the previous stop +
travel time), service starts are the plan's.

``plan.json``::

    {"day": "2026-11-26", "origin": "2026-11-26T00:00:00+09:00", "feasible": true,
     "unvisited": [], "totals": {trucks, points, trips, disposal_visits, load_kg,
     distance_m, duration_s}, "routes": [{truck, start, end, distance_m, duration_s,
     load_kg, trips, disposal_visits, stops: [{seq, point_id, name, kind, lat_deg, lon_deg,
     arrival, service_start, departure, load_kg, trip}]}], "today": totals of today's
     courses with their unvisited points and broken rules, or null, "saving":
     {distance_m, duration_s, trucks} or null,
     "service_time_sources": {point_id: source}, "solver": {runtime_s, iterations}}

``kind`` is ``depot``, ``point`` or ``disposal``; ``load_kg`` is what is on board after the
stop; ``trip`` counts from 1 and goes up after each visit to the disposal site.

``plan.geojson``: a FeatureCollection with a LineString per route (``kind: "route"``)
through its stops and a Point per stop (the stop's fields as properties); coordinates are
[longitude, latitude] as RFC 7946 says.

Pure: no I/O. :func:`read_plan_routes` reads the per-route figures back from a parsed
``plan.json`` and raises :class:`~.model.RoutingError` when it is not one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from analytics.routing.check import check_plan
from analytics.routing.city import DayProblem, Site
from analytics.routing.compare import RouteFigures
from analytics.routing.model import Plan, PlannedRoute, Problem, RoutingError

StopKind = Literal["depot", "point", "disposal"]


@dataclass(frozen=True)
class Stop:
    """One stop of a route: times in s from the day's origin, load on board after it (kg),
    the trip it belongs to (from 1)."""

    seq: int
    site: Site
    kind: StopKind
    arrival_s: int
    start_s: int
    departure_s: int
    load_kg: int
    trip: int


@dataclass(frozen=True)
class PlanTotals:
    """A plan in figures: trucks used, points served, trips, visits to the disposal site,
    load collected (kg), distance (m), working time (s), feasibility."""

    trucks: int
    points: int
    trips: int
    disposal_visits: int
    load_kg: int
    distance_m: int
    duration_s: int
    feasible: bool


def plan_totals(plan: Plan, *, final_unload: bool = False) -> PlanTotals:
    """``plan`` summed over its routes; with ``final_unload`` (see
    :attr:`~.city.DayProblem.final_unload`) every trip ends at the disposal site."""
    trips = [trip for route in plan.routes for trip in route.trips]
    return PlanTotals(
        trucks=len(plan.routes),
        points=sum(len(route.clients) for route in plan.routes),
        trips=len(trips),
        disposal_visits=len(trips) - (0 if final_unload else len(plan.routes)),
        load_kg=sum(trip.load_kg for trip in trips),
        distance_m=plan.distance_m,
        duration_s=plan.duration_s,
        feasible=plan.feasible,
    )


def route_stops(day: DayProblem, route: PlannedRoute) -> list[Stop]:
    """``route``'s stops in order, from leaving the depot to coming back."""
    problem = day.problem
    index = {name: i for i, name in enumerate(problem.site_names)}
    clients = {c.name: c for c in problem.clients}
    depot = day.sites[problem.depot]
    stops = [Stop(0, depot, "depot", route.start_s, route.start_s, route.start_s, 0, 1)]
    for number, trip in enumerate(route.trips, start=1):
        load = 0
        for visit in trip.visits:
            client = clients[visit.client]
            load += client.demand_kg
            arrival = _arrival(problem, index, stops[-1], visit.client)
            depart = visit.start_s + client.service_s
            site = day.sites[visit.client]
            stops.append(
                Stop(len(stops), site, "point", arrival, visit.start_s, depart, load, number)
            )
        last = trip.end == problem.depot
        unload_at = day.final_unload if last and trip.visits else None
        if not last or unload_at is not None:
            site = day.sites[unload_at or trip.end]
            arrival = _arrival(problem, index, stops[-1], site.id)
            depart = arrival + problem.unload_s
            stops.append(Stop(len(stops), site, "disposal", arrival, arrival, depart, 0, number))
            load = 0
        if last:
            end = route.end_s
            stops.append(Stop(len(stops), depot, "depot", end, end, end, load, number))
    return stops


def _arrival(problem: Problem, index: dict[str, int], prev: Stop, name: str) -> int:
    return prev.departure_s + int(problem.duration_s[index[prev.site.id], index[name]])


def _local(day: DayProblem, seconds: int) -> str:
    return local_time(day.origin, seconds).isoformat()


def _stop_json(day: DayProblem, stop: Stop) -> dict[str, Any]:
    return {
        "seq": stop.seq,
        "point_id": stop.site.id,
        "name": stop.site.name,
        "kind": stop.kind,
        "lat_deg": stop.site.lat_deg,
        "lon_deg": stop.site.lon_deg,
        "arrival": _local(day, stop.arrival_s),
        "service_start": _local(day, stop.start_s),
        "departure": _local(day, stop.departure_s),
        "load_kg": stop.load_kg,
        "trip": stop.trip,
    }


def _route_json(day: DayProblem, route: PlannedRoute) -> dict[str, Any]:
    return {
        "truck": route.vehicle,
        "start": _local(day, route.start_s),
        "end": _local(day, route.end_s),
        "distance_m": route.distance_m,
        "duration_s": route.duration_s,
        "load_kg": sum(trip.load_kg for trip in route.trips),
        "trips": len(route.trips),
        "disposal_visits": len(route.trips) - (0 if day.final_unload else 1),
        "stops": [_stop_json(day, stop) for stop in route_stops(day, route)],
    }


def _totals_json(totals: PlanTotals) -> dict[str, Any]:
    return {
        "trucks": totals.trucks,
        "points": totals.points,
        "trips": totals.trips,
        "disposal_visits": totals.disposal_visits,
        "load_kg": totals.load_kg,
        "distance_m": totals.distance_m,
        "duration_s": totals.duration_s,
        "feasible": totals.feasible,
    }


def _today_json(day: DayProblem, courses: Plan) -> dict[str, Any]:
    """Today's courses: their totals, the points on no course, the rules they break."""
    return {
        **_totals_json(plan_totals(courses, final_unload=day.final_unload is not None)),
        "unvisited": list(courses.unvisited),
        "violations": [str(v) for v in check_plan(day.problem, courses)],
    }


def plan_json(day: DayProblem, plan: Plan, courses: Plan | None = None) -> dict[str, Any]:
    """``plan`` as the ``plan.json`` document; ``courses`` (today's courses evaluated by
    :func:`~.courses.course_plan`) adds their totals and the saving (courses - plan)."""
    final = day.final_unload is not None
    totals = plan_totals(plan, final_unload=final)
    today = plan_totals(courses, final_unload=final) if courses is not None else None
    saving = None
    if today is not None:
        saving = {
            "distance_m": today.distance_m - totals.distance_m,
            "duration_s": today.duration_s - totals.duration_s,
            "trucks": today.trucks - totals.trucks,
        }
    return {
        "day": day.day.isoformat(),
        "origin": day.origin.isoformat(),
        "feasible": plan.feasible,
        "unvisited": list(plan.unvisited),
        "totals": _totals_json(totals),
        "routes": [_route_json(day, route) for route in plan.routes],
        "today": _today_json(day, courses) if courses is not None else None,
        "saving": saving,
        "service_time_sources": dict(day.sources),
        "solver": {"runtime_s": round(plan.runtime_s, 3), "iterations": plan.iterations},
    }


def plan_geojson(day: DayProblem, plan: Plan) -> dict[str, Any]:
    """``plan`` as a GeoJSON FeatureCollection: per route a LineString and its stops."""
    features: list[dict[str, Any]] = []
    for route in plan.routes:
        stops = route_stops(day, route)
        doc = _route_json(day, route)
        doc.pop("stops")
        line = [[s.site.lon_deg, s.site.lat_deg] for s in stops]
        features.append(_feature("LineString", line, {"kind": "route", **doc}))
        for stop in stops:
            point = [stop.site.lon_deg, stop.site.lat_deg]
            features.append(
                _feature("Point", point, {"truck": route.vehicle, **_stop_json(day, stop)})
            )
    return {"type": "FeatureCollection", "features": features}


def _feature(kind: str, coordinates: list[Any], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": kind, "coordinates": coordinates},
        "properties": properties,
    }


def read_plan_routes(doc: Mapping[str, Any]) -> tuple[date, list[RouteFigures]]:
    """The day and per-route figures of a parsed ``plan.json``.

    Raises :class:`RoutingError` naming what is missing or malformed.
    """
    try:
        day = date.fromisoformat(doc["day"])
        routes = [
            RouteFigures(str(r["truck"]), float(r["distance_m"]), float(r["duration_s"]))
            for r in doc["routes"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise RoutingError(f"not a plan.json document: {exc!r}") from exc
    return day, routes


def local_time(origin: datetime, seconds: int) -> datetime:
    """``seconds`` after ``origin`` as an aware time in ``origin``'s zone (elapsed time:
    right across a DST change too)."""
    moment = origin.astimezone(UTC) + timedelta(seconds=seconds)
    return moment.astimezone(origin.tzinfo)
