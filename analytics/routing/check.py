"""An independent check of a collection :class:`~.model.Plan` against its :class:`~.model.Problem`.

Everything is recomputed from the problem's matrices, with no part of the solver: a plan
that passes here holds whatever produced it (PyVRP, today's hand-made courses, a file).
The rules (:class:`Rule`, one per kind of violation):

    unknown_vehicle   a route for a truck the problem does not have
    vehicle_count     more routes for a truck than its ``count``
    unknown_client    a visit to (or an unvisited entry for) a site that is no client
    duplicate         a client served twice, or served and also listed unvisited
    missing           a client neither served nor listed unvisited
    unvisited         the plan calls itself feasible while clients are unvisited
    load              a trip's ``load_kg`` is not the sum of its clients' demands
    capacity          a trip collects more than the truck's capacity
    trip_end          a trip before the last ends elsewhere than at a reload depot, or
                      the last one elsewhere than at the depot
    travel            a service starts (or the route ends) before the truck can be there
                      (departure + travel time; service and unload times included)
    window            a service starts outside the client's time window
    shift             a route starts before or ends after the truck's shift
    distance          a route's (or the plan's) distance is not what the matrix gives
    duration          a route's duration is not end - start, or the plan's not their sum

Waiting is allowed anywhere (a service may start later than the truck can be there).
Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from analytics.routing.model import UNBOUNDED, Client, Plan, PlannedRoute, Problem, Trip, Vehicle


class Rule(StrEnum):
    """A rule a plan breaks (see the module docstring)."""

    UNKNOWN_VEHICLE = "unknown_vehicle"
    VEHICLE_COUNT = "vehicle_count"
    UNKNOWN_CLIENT = "unknown_client"
    DUPLICATE = "duplicate"
    MISSING = "missing"
    UNVISITED = "unvisited"
    LOAD = "load"
    CAPACITY = "capacity"
    TRIP_END = "trip_end"
    TRAVEL = "travel"
    WINDOW = "window"
    SHIFT = "shift"
    DISTANCE = "distance"
    DURATION = "duration"


@dataclass(frozen=True)
class Violation:
    """One broken ``rule``: the truck and client concerned (where there is one) and what
    is wrong, with the figures (s, m, kg)."""

    rule: Rule
    message: str
    vehicle: str | None = None
    client: str | None = None

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                f"truck {self.vehicle!r}" if self.vehicle is not None else "",
                f"client {self.client!r}" if self.client is not None else "",
            )
            if part
        )
        return f"[{self.rule}] {where + ': ' if where else ''}{self.message}"


def check_plan(problem: Problem, plan: Plan) -> list[Violation]:
    """Every rule ``plan`` breaks for ``problem`` (empty: the plan holds), in route order."""
    found = [*_check_vehicles(problem, plan), *_check_coverage(problem, plan)]
    vehicles = {v.name: v for v in problem.vehicles}
    for route in plan.routes:
        vehicle = vehicles.get(route.vehicle)
        if vehicle is not None:
            found += _Replay(problem, vehicle, route).run()
    found += _check_totals(plan)
    return found


def _check_vehicles(problem: Problem, plan: Plan) -> list[Violation]:
    counts = Counter(route.vehicle for route in plan.routes)
    found = []
    for vehicle in problem.vehicles:
        if counts[vehicle.name] > vehicle.count:
            found.append(
                Violation(
                    Rule.VEHICLE_COUNT,
                    f"{counts[vehicle.name]} routes for {vehicle.count} truck(s)",
                    vehicle=vehicle.name,
                )
            )
    known = {v.name for v in problem.vehicles}
    for name in counts.keys() - known:
        found.append(Violation(Rule.UNKNOWN_VEHICLE, "the problem has no such truck", name))
    return found


def _check_coverage(problem: Problem, plan: Plan) -> list[Violation]:
    served: Counter[str] = Counter()
    for route in plan.routes:
        served.update(route.clients)
    unvisited = Counter(plan.unvisited)
    found = []
    for client in problem.clients:
        times = served[client.name] + unvisited[client.name]
        if times == 0:
            found.append(
                Violation(Rule.MISSING, "neither served nor listed unvisited", client=client.name)
            )
        elif times > 1:
            how = f"served {served[client.name]} time(s)"
            how += ", also listed unvisited" if unvisited[client.name] else ""
            found.append(Violation(Rule.DUPLICATE, how, client=client.name))
    names = {c.name for c in problem.clients}
    for name in sorted(unvisited.keys() - names):
        found.append(Violation(Rule.UNKNOWN_CLIENT, "listed unvisited, but no client", client=name))
    if plan.feasible and plan.unvisited:
        found.append(
            Violation(Rule.UNVISITED, f"plan is marked feasible with {len(unvisited)} unvisited")
        )
    return found


def _check_totals(plan: Plan) -> list[Violation]:
    found = []
    distance = sum(r.distance_m for r in plan.routes)
    if plan.distance_m != distance:
        found.append(
            Violation(Rule.DISTANCE, f"plan total {plan.distance_m} m, routes sum to {distance} m")
        )
    duration = sum(r.duration_s for r in plan.routes)
    if plan.duration_s != duration:
        found.append(
            Violation(Rule.DURATION, f"plan total {plan.duration_s} s, routes sum to {duration} s")
        )
    return found


@dataclass
class _Replay:
    """One route driven again over the matrices: where the truck is, when it can leave
    (s), how far it has come (m), and what it broke on the way."""

    problem: Problem
    vehicle: Vehicle
    route: PlannedRoute
    site: int = 0
    ready_s: int = 0
    distance_m: int = 0
    found: list[Violation] = field(default_factory=list)
    clients: dict[str, tuple[int, Client]] = field(default_factory=dict)

    def run(self) -> list[Violation]:
        self.ready_s = self.route.start_s
        self.clients = {c.name: (i, c) for i, c in enumerate(self.problem.clients)}
        trips = self.route.trips
        if not trips:
            self._add(Rule.TRIP_END, "route has no trip back to the depot")
        for number, trip in enumerate(trips, start=1):
            self._trip(number, trip, last=number == len(trips))
        self._check_route()
        return self.found

    def _add(self, rule: Rule, message: str, client: str | None = None) -> None:
        self.found.append(Violation(rule, message, self.route.vehicle, client))

    def _go(self, site: int) -> int:
        """Drive to ``site``; the time of arrival, s."""
        self.distance_m += int(self.problem.distance_m[self.site, site])
        arrival = self.ready_s + int(self.problem.duration_s[self.site, site])
        self.site = site
        return arrival

    def _trip(self, number: int, trip: Trip, *, last: bool) -> None:
        load = 0
        for visit in trip.visits:
            entry = self.clients.get(visit.client)
            if entry is None:
                self._add(Rule.UNKNOWN_CLIENT, f"trip {number} visits a site that is no client")
                continue
            idx, client = entry
            self._serve(client, self._go(self.problem.site_index(idx)), visit.start_s)
            load += client.demand_kg
        if load != trip.load_kg:
            self._add(Rule.LOAD, f"trip {number} says {trip.load_kg} kg, its clients {load} kg")
        if load > self.vehicle.capacity_kg:
            self._add(
                Rule.CAPACITY, f"trip {number} collects {load} kg > {self.vehicle.capacity_kg} kg"
            )
        self._end_trip(number, trip.end, last=last)

    def _serve(self, client: Client, arrival_s: int, start_s: int) -> None:
        if start_s < arrival_s:
            self._add(
                Rule.TRAVEL,
                f"service starts at {start_s} s, the truck can be there at {arrival_s} s",
                client.name,
            )
        early, late = client.window_s or (0, UNBOUNDED)
        if not early <= start_s <= late:
            self._add(
                Rule.WINDOW,
                f"service starts at {start_s} s, outside [{early}, {late}] s",
                client.name,
            )
        self.ready_s = max(start_s, arrival_s) + client.service_s

    def _end_trip(self, number: int, end: str, *, last: bool) -> None:
        expected = (self.problem.depot,) if last else self.problem.reload_depots
        if end not in expected:
            where = "the depot" if last else "a reload depot"
            self._add(Rule.TRIP_END, f"trip {number} ends at {end!r}, not at {where}")
        names = self.problem.site_names
        if end not in names[: 1 + len(self.problem.reload_depots)]:
            return  # no such depot: nowhere to drive to
        arrival = self._go(names.index(end))
        self.ready_s = arrival if end == self.problem.depot else arrival + self.problem.unload_s

    def _check_route(self) -> None:
        route, (start, end) = self.route, self.vehicle.shift_s or (0, UNBOUNDED)
        back = self.ready_s if self.site == 0 else None
        if back is not None and route.end_s < back:
            self._add(Rule.TRAVEL, f"ends at {route.end_s} s, cannot be back before {back} s")
        if route.start_s < start or route.end_s > end:
            self._add(
                Rule.SHIFT,
                f"runs {route.start_s}-{route.end_s} s, outside the shift {start}-{end} s",
            )
        if route.distance_m != self.distance_m:
            self._add(
                Rule.DISTANCE, f"says {route.distance_m} m, the matrix gives {self.distance_m} m"
            )
        if route.duration_s != route.end_s - route.start_s:
            self._add(
                Rule.DURATION,
                f"says {route.duration_s} s, but runs {route.end_s - route.start_s} s",
            )
