"""Collection-route solver: a typed problem model solved with PyVRP, and benchmark instances.

Two ways in:

- :func:`solve_problem` plans the city's own problem (:class:`~.model.Problem`: a depot, collection
  points with demand, service time and optional time window, trucks with capacity and
  shift, distance and duration matrices, and reload depots where a truck empties its load
  and starts another trip) into a :class:`Plan`. The objective is total distance.
- :func:`solve_instance` solves a CVRPLIB or Solomon file (see :mod:`.instances`) and
  returns a :class:`Solution` whose cost is under the benchmark's own convention, and
  :func:`format_solution` writes it as CVRPLIB ``.sol`` files do (``citytrack routes solve``).

Why PyVRP: it is the maintained state of the art for CVRP and VRPTW (an iterated local
search on HGS's neighbourhoods, with multiple trips through reload depots, time windows and
shifts in its model API), 0.31 % average gap on CVRPLIB X in its published runs against
4.42 % for OR-Tools routing. Measured here on the corpus with 30 s per instance, one
core each (PyVRP 0.14.1 through this module; OR-Tools 9.15 routing with guided local
search from path-cheapest-arc, a fleet of k + max(2, k/5) trucks), costs under the CVRPLIB
convention, gap to the best known in brackets:

    instance     best    PyVRP            OR-Tools
    A-n32-k5      784      784 (0.00 %)     784 (0.00 %)
    P-n50-k7      554      554 (0.00 %)     562 (1.44 %)
    X-n101-k25  27591    27591 (0.00 %)   29159 (5.68 %)
    X-n157-k13  16876    16876 (0.00 %)   17385 (3.02 %)
    X-n200-k36  58578    59134 (0.95 %)   60865 (3.90 %)

so 0.32 % against 4.20 % on these X instances. ``bench/routing.py`` measures PyVRP on the
whole corpus.

Raises the exceptions of :mod:`analytics.routing.model` (``RoutingError`` and subclasses).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyvrp import Model, ProblemData, Result, solve
from pyvrp import Route as PyvrpRoute
from pyvrp.exceptions import PenaltyBoundWarning
from pyvrp.stop import MaxRuntime

from analytics.routing.instances import Instance, read_instance
from analytics.routing.model import (
    UNBOUNDED,
    Client,
    InfeasibleError,
    InstanceError,
    Plan,
    PlannedRoute,
    Problem,
    RoutingError,
    Trip,
    Vehicle,
    Visit,
)


@dataclass(frozen=True)
class Solution:
    """A benchmark instance solved: ``routes`` of client ids (as the instance numbers them),
    ``cost`` under the instance's convention (instance units), runtime (s)."""

    instance: str
    routes: tuple[tuple[int, ...], ...]
    cost: float
    feasible: bool
    runtime_s: float
    best_known: float | None = None

    @property
    def gap_pct(self) -> float | None:
        """Gap to the best-known cost, %, or None when that is unknown or infeasible."""
        if self.best_known is None or not self.feasible:
            return None
        return 100.0 * (self.cost - self.best_known) / self.best_known


def solve_problem(
    problem: Problem, seconds: float, seed: int = 1, *, require_feasible: bool = True
) -> Plan:
    """Plan ``problem`` with PyVRP for ``seconds`` of wall time (random ``seed``).

    Raises :class:`InfeasibleError` naming the client when no truck can serve a client
    (see :func:`check_feasible`) and, when ``require_feasible``, when the best plan found in
    the time budget still breaks a constraint.
    """
    if seconds <= 0:
        raise RoutingError(f"time budget must be positive, got {seconds} s")
    check_feasible(problem)
    data = _build_data(problem)
    with warnings.catch_warnings():
        # PyVRP warns when its penalties saturate on a problem it finds no feasible plan
        # for; that outcome is reported here, by Plan.feasible or InfeasibleError.
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        result = solve(data, MaxRuntime(seconds), seed=seed, collect_stats=False, display=False)
    plan = _to_plan(problem, result)
    if require_feasible and not plan.feasible:
        raise InfeasibleError(f"no feasible plan found in {seconds:g} s: {_violations(result)}")
    return plan


def check_feasible(problem: Problem) -> None:
    """Raise :class:`InfeasibleError` for what no plan can satisfy: a client heavier than
    every truck, a client no truck can reach within its window and shift (direct from the
    depot and back), or total demand over the fleet's capacity with no reload depot."""
    biggest = max(v.capacity_kg for v in problem.vehicles)
    for idx, client in enumerate(problem.clients):
        if client.demand_kg > biggest:
            raise InfeasibleError(
                f"client {client.name!r}: demand {client.demand_kg} kg exceeds the largest"
                f" truck capacity {biggest} kg",
                client=client.name,
            )
        _check_reachable(problem, idx)
    total = sum(c.demand_kg for c in problem.clients)
    fleet = sum(v.capacity_kg * v.count for v in problem.vehicles)
    if not problem.reload_depots and total > fleet:
        raise InfeasibleError(
            f"total demand {total} kg exceeds the fleet's capacity {fleet} kg"
            " and there is no reload depot"
        )


def problem_from_instance(instance: Instance) -> Problem:
    """The benchmark instance as a :class:`Problem` (clients named by their ids; instance
    units in the ``_m``, ``_s`` and ``_kg`` fields; travel time equals distance)."""
    tw, svc = instance.time_window, instance.service
    clients = tuple(
        Client(
            name=str(i),
            demand_kg=int(instance.demand[i]),
            service_s=int(svc[i]) if svc is not None else 0,
            window_s=(int(tw[i, 0]), int(tw[i, 1])) if tw is not None else None,
        )
        for i in range(1, instance.num_clients + 1)
    )
    vehicle = Vehicle(
        name="vehicle",
        capacity_kg=instance.capacity,
        shift_s=(int(tw[0, 0]), int(tw[0, 1])) if tw is not None else None,
        count=instance.num_vehicles or instance.num_clients,
    )
    return Problem(
        depot="0",
        clients=clients,
        vehicles=(vehicle,),
        distance_m=instance.distance,
        duration_s=instance.distance,
        coords_m=instance.coords,
    )


def solve_instance(path: Path, *, seconds: float, seed: int = 1) -> Solution:
    """Solve the CVRPLIB ``.vrp`` or Solomon ``.txt`` instance at ``path`` for ``seconds``.

    The returned cost follows the instance's convention (CVRPLIB: rounded Euclidean;
    Solomon: DIMACS, truncated to 0.1). A plan that is still infeasible after the budget
    comes back with ``feasible=False``. Raises :class:`InstanceError` for an unreadable
    file and :class:`InfeasibleError` for a client no vehicle can serve.
    """
    instance = read_instance(path)
    plan = solve_problem(problem_from_instance(instance), seconds, seed, require_feasible=False)
    return Solution(
        instance=instance.name,
        routes=tuple(tuple(int(c) for c in route.clients) for route in plan.routes),
        cost=round(plan.distance_m / instance.scale, 1),
        feasible=plan.feasible,
        runtime_s=plan.runtime_s,
        best_known=instance.best_known,
    )


def format_solution(solution: Solution) -> str:
    """``Route #i: ...`` lines and ``Cost C``, as CVRPLIB ``.sol`` files write them."""
    lines = [
        f"Route #{i}: {' '.join(map(str, route))}"
        for i, route in enumerate(solution.routes, start=1)
    ]
    cost = solution.cost
    lines.append(f"Cost {int(cost)}" if cost.is_integer() else f"Cost {cost:.1f}")
    return "\n".join(lines) + "\n"


def _check_reachable(problem: Problem, idx: int) -> None:
    """Raise if no vehicle can go depot -> client -> depot within window and shift."""
    client = problem.clients[idx]
    site = problem.site_index(idx)
    early, late = client.window_s or (0, UNBOUNDED)
    out, back = int(problem.duration_s[0, site]), int(problem.duration_s[site, 0])
    earliest_begin = UNBOUNDED
    for vehicle in problem.vehicles:
        start, end = vehicle.shift_s or (0, UNBOUNDED)
        begin = max(start + out, early)
        if begin <= late and begin + client.service_s + back <= end:
            return
        earliest_begin = min(earliest_begin, begin)
    if earliest_begin > late:
        reason = f"earliest service start {earliest_begin} s is after its window closes ({late} s)"
    else:
        reason = "no truck's shift ends late enough to serve it and return to the depot"
    raise InfeasibleError(f"client {client.name!r}: {reason}", client=client.name)


def _build_data(problem: Problem) -> ProblemData:
    """PyVRP's data for ``problem``: sites, clients and trucks through its model API, the
    matrices set whole (one edge object per pair would cost O(n^2) Python objects)."""
    model = Model()
    _add_sites(model, problem)
    depot, reloads = model.depots[0], model.depots[1:]
    for vehicle in problem.vehicles:
        start, end = vehicle.shift_s or (0, UNBOUNDED)
        model.add_vehicle_type(
            num_available=vehicle.count,
            capacity=vehicle.capacity_kg,
            start_depot=depot,
            end_depot=depot,
            tw_early=start,
            tw_late=end,
            reload_depots=reloads,
            name=vehicle.name,
        )
    distance = np.ascontiguousarray(problem.distance_m, dtype=np.int64)
    duration = np.ascontiguousarray(problem.duration_s, dtype=np.int64)
    # PyVRP's stub types matrices as ``np.ndarray[int]``, which no real array matches.
    return model.data().replace(
        distance_matrices=[distance],  # type: ignore[list-item]
        duration_matrices=[duration],  # type: ignore[list-item]
    )


def _add_sites(model: Model, problem: Problem) -> None:
    """Locations in matrix order, then the depot, reload depots and clients on them."""
    coords = (
        problem.coords_m if problem.coords_m is not None else np.zeros((len(problem.site_names), 2))
    )
    locations = [
        model.add_location(x=float(x), y=float(y), name=name)
        for (x, y), name in zip(coords, problem.site_names, strict=True)
    ]
    model.add_depot(locations[0], name=problem.depot)
    for i, name in enumerate(problem.reload_depots):
        model.add_depot(locations[1 + i], service_duration=problem.unload_s, name=name)
    for idx, client in enumerate(problem.clients):
        early, late = client.window_s or (0, UNBOUNDED)
        model.add_client(
            locations[problem.site_index(idx)],
            pickup=client.demand_kg,
            service_duration=client.service_s,
            tw_early=early,
            tw_late=late,
            name=client.name,
        )


def _to_plan(problem: Problem, result: Result) -> Plan:
    best = result.best
    routes = tuple(_to_route(problem, route) for route in best.routes())
    visited = {name for route in routes for name in route.clients}
    return Plan(
        routes=routes,
        distance_m=int(best.distance()),
        duration_s=int(best.duration()),
        feasible=bool(best.is_feasible()) and len(visited) == len(problem.clients),
        unvisited=tuple(c.name for c in problem.clients if c.name not in visited),
        runtime_s=float(result.runtime),
        iterations=int(result.num_iterations),
    )


def _to_route(problem: Problem, route: PyvrpRoute) -> PlannedRoute:
    depots = (problem.depot, *problem.reload_depots)
    trips: list[Trip] = []
    visits: list[Visit] = []
    load = 0
    for activity in route.schedule()[1:]:  # the first is the start depot
        if activity.is_client():
            client = problem.clients[activity.idx]
            visits.append(Visit(client.name, int(activity.start_time)))
            load += client.demand_kg
        elif activity.is_depot():
            trips.append(Trip(tuple(visits), load, depots[activity.idx]))
            visits, load = [], 0
    return PlannedRoute(
        vehicle=problem.vehicles[route.vehicle_type()].name,
        trips=tuple(trips),
        distance_m=int(route.distance()),
        duration_s=int(route.duration()),
        start_s=int(route.start_time()),
        end_s=int(route.end_time()),
    )


def _violations(result: Result) -> str:
    best = result.best
    parts = [
        f"excess load {sum(best.excess_load())} kg",
        f"time warp {best.time_warp()} s",
        f"{best.num_missing_clients()} clients unvisited",
    ]
    return ", ".join(parts)


__all__ = [
    "Client",
    "InfeasibleError",
    "InstanceError",
    "Plan",
    "PlannedRoute",
    "Problem",
    "RoutingError",
    "Solution",
    "Trip",
    "Vehicle",
    "Visit",
    "check_feasible",
    "format_solution",
    "problem_from_instance",
    "solve_instance",
    "solve_problem",
]
