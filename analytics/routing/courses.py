"""Today's hand-made courses evaluated in the planning model, so that a solver's plan and
the courses the trucks drive now compare like for like (same matrices, service and unload
times, capacity, shifts).

Per truck the course's clients are visited in their order. A reload depot named in a
course ends a trip there; otherwise, when the next client would take the load over the
truck's capacity, the truck first empties at the reload depot that adds the least
distance. Each service starts when the truck arrives, or when the window opens if that is
later; the truck leaves the depot as late as it can without arriving anywhere later (the
solver's schedules idle at the depot the same way, not on the road). The plan is
``feasible`` only if :func:`~.check.check_plan` finds nothing wrong with it: an overload
with no reload depot, a missed window, a client on two courses or on none all make it
infeasible, but every figure is still computed.

Pure: no I/O. Raises :class:`~.model.RoutingError` for a course of a truck the problem
does not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from analytics.routing.check import check_plan
from analytics.routing.model import (
    UNBOUNDED,
    Plan,
    PlannedRoute,
    Problem,
    RoutingError,
    Trip,
    Vehicle,
    Visit,
)


@dataclass(frozen=True)
class _Stop:
    """A site on a course, by matrix index; ``client`` indexes ``Problem.clients`` (None:
    a reload depot)."""

    site: int
    client: int | None


def course_plan(problem: Problem, courses: Mapping[str, Sequence[str]]) -> Plan:
    """The plan of driving ``courses`` (truck name -> client names in order) on ``problem``.

    Names that are neither a client nor a reload depot of ``problem`` (points not collected
    that day) are passed over. A truck with nothing to collect gets no route.
    """
    vehicles = {v.name: v for v in problem.vehicles}
    routes = []
    for truck, names in courses.items():
        vehicle = vehicles.get(truck)
        if vehicle is None:
            raise RoutingError(f"course of truck {truck!r}: the problem has no such truck")
        stops = _with_reloads(problem, vehicle, _stops(problem, names))
        if any(s.client is not None for s in stops):
            routes.append(_route(problem, vehicle, stops))
    served = {name for route in routes for name in route.clients}
    plan = Plan(
        routes=tuple(routes),
        distance_m=sum(r.distance_m for r in routes),
        duration_s=sum(r.duration_s for r in routes),
        feasible=True,
        unvisited=tuple(c.name for c in problem.clients if c.name not in served),
        runtime_s=0.0,
        iterations=0,
    )
    return replace(plan, feasible=not check_plan(problem, plan))


def _stops(problem: Problem, names: Sequence[str]) -> list[_Stop]:
    index = {name: i for i, name in enumerate(problem.site_names)}
    first_client = 1 + len(problem.reload_depots)
    stops = []
    for name in names:
        site = index.get(name)
        if site is None or site == 0:
            continue
        client = site - first_client if site >= first_client else None
        stops.append(_Stop(site, client))
    return stops


def _with_reloads(problem: Problem, vehicle: Vehicle, stops: list[_Stop]) -> list[_Stop]:
    """``stops`` with a reload inserted before each client that would overload the truck."""
    out: list[_Stop] = []
    load, here = 0, 0
    for stop in stops:
        if stop.client is None:
            load = 0
        else:
            demand = problem.clients[stop.client].demand_kg
            if load and load + demand > vehicle.capacity_kg and problem.reload_depots:
                out.append(_Stop(_best_reload(problem, here, stop.site), None))
                load = 0
            load += demand
        out.append(stop)
        here = stop.site
    return out


def _best_reload(problem: Problem, here: int, there: int) -> int:
    """The reload depot that lengthens the drive from ``here`` to ``there`` the least."""
    dist = problem.distance_m
    sites = range(1, 1 + len(problem.reload_depots))
    return min(sites, key=lambda r: int(dist[here, r]) + int(dist[r, there]))


def _schedule(problem: Problem, stops: list[_Stop], start_s: int) -> tuple[list[int], int, int]:
    """Leaving the depot at ``start_s``: service start per stop (s; unloading start at a
    reload depot), the time back at the depot (s), and how much later the truck could
    leave without coming back later or starting any service later than its window allows
    (s; a service already late may not start later still)."""
    times, here, ready, waited, delay = [], 0, start_s, 0, UNBOUNDED
    for stop in stops:
        arrival = ready + int(problem.duration_s[here, stop.site])
        begin, service_s = arrival, problem.unload_s
        if stop.client is not None:
            client = problem.clients[stop.client]
            early, late = client.window_s or (0, UNBOUNDED)
            begin, service_s = max(arrival, early), client.service_s
            waited += begin - arrival
            delay = min(delay, waited + max(0, late - begin))
        times.append(begin)
        here, ready = stop.site, begin + service_s
    return times, ready + int(problem.duration_s[here, 0]), min(delay, waited)


def _route(problem: Problem, vehicle: Vehicle, stops: list[_Stop]) -> PlannedRoute:
    shift_start = (vehicle.shift_s or (0, UNBOUNDED))[0]
    _, _, delay = _schedule(problem, stops, shift_start)
    start = shift_start + delay
    times, end, _ = _schedule(problem, stops, start)
    trips: list[Trip] = []
    visits: list[Visit] = []
    load = 0
    for stop, time_s in zip(stops, times, strict=True):
        if stop.client is None:
            trips.append(Trip(tuple(visits), load, problem.site_names[stop.site]))
            visits, load = [], 0
        else:
            client = problem.clients[stop.client]
            visits.append(Visit(client.name, time_s))
            load += client.demand_kg
    trips.append(Trip(tuple(visits), load, problem.depot))
    sites = [0, *(s.site for s in stops), 0]
    distance = sum(int(problem.distance_m[a, b]) for a, b in pairwise(sites))
    return PlannedRoute(vehicle.name, tuple(trips), distance, end - start, start, end)
