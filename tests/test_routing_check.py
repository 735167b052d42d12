"""The plan checker, independent of the solver: solver plans pass it, hand-broken plans are
each caught with the truck, client and rule named; today's courses in the same model."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analytics.routing.check import Rule, Violation, check_plan
from analytics.routing.courses import course_plan
from analytics.routing.model import (
    Client,
    Plan,
    PlannedRoute,
    Problem,
    RoutingError,
    Trip,
    Vehicle,
    Visit,
)
from analytics.routing.solve import solve_problem
from tests.route_fixtures import SHIFT_S, line_problem, make_problem

Found = set[tuple[Rule, str | None, str | None]]
START = SHIFT_S[0]  # 08:30, s from midnight


def found(violations: list[Violation]) -> Found:
    return {(v.rule, v.vehicle, v.client) for v in violations}


def random_problem(seed: int) -> Problem:
    """Ten points in a 6 km square, 250-450 kg each (more than two 1 t trucks carry: they
    must empty at the plant), four of them with a two-hour window."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-3000, 3000, size=(10, 2))
    coords = [(0.0, 0.0), (6000.0, 0.0), *((float(x), float(y)) for x, y in points)]
    opens = rng.integers(START + 600, START + 3 * 3600, size=4)
    clients = [
        Client(
            f"p{i}",
            demand_kg=int(rng.integers(250, 451)),
            service_s=int(rng.integers(60, 181)),
            window_s=(int(opens[i]), int(opens[i]) + 7200) if i < 4 else None,
        )
        for i in range(10)
    ]
    trucks = [Vehicle("truck-1", 1000, SHIFT_S), Vehicle("truck-2", 1000, SHIFT_S)]
    return make_problem(coords, clients, trucks)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_solver_plans_pass_the_check(seed: int) -> None:
    problem = random_problem(seed)
    plan = solve_problem(problem, seconds=1.0, seed=seed)
    assert plan.feasible
    assert check_plan(problem, plan) == []
    assert any(trip.end == "plant" for route in plan.routes for trip in route.trips)


def test_a_solver_plan_checked_against_a_tighter_problem_is_caught() -> None:
    """The same plan against trucks of 600 kg and a closed window: the check reads the
    problem, not the plan's own claims."""
    problem = random_problem(1)
    plan = solve_problem(problem, seconds=1.0)
    heavy = next(t for r in plan.routes for t in r.trips if t.load_kg > 600)
    smaller = replace(
        problem, vehicles=tuple(replace(v, capacity_kg=600) for v in problem.vehicles)
    )
    assert Rule.CAPACITY in {v.rule for v in check_plan(smaller, plan)}
    assert heavy.load_kg > 600
    first = plan.routes[0].trips[0].visits[0]
    clients = tuple(
        replace(c, window_s=(0, first.start_s - 1)) if c.name == first.client else c
        for c in problem.clients
    )
    closed = replace(problem, clients=clients)
    assert (Rule.WINDOW, plan.routes[0].vehicle, first.client) in found(check_plan(closed, plan))


# --- today's courses --------------------------------------------------------------------


def test_course_plan_inserts_reloads_and_computes_times() -> None:
    """a, b, c of 600 kg in a 1000 kg truck: it empties at the plant before b and before c.
    Depot 0 m, a 1 km, b 2 km, c 3 km, plant 10 km; 10 m/s, 60 s service, 600 s unload."""
    problem = line_problem()
    plan = course_plan(problem, {"truck-1": ("a", "b", "c")})
    (route,) = plan.routes
    assert [t.end for t in route.trips] == ["plant", "plant", "depot"]
    assert [t.load_kg for t in route.trips] == [600, 600, 600]
    # a: 100 s out; leaves 60 s later, 900 s to the plant, 600 s there, 800 s to b, ...
    starts = [v.start_s for t in route.trips for v in t.visits]
    assert starts == [START + 100, START + 2460, START + 4620]
    assert route.start_s == START
    assert route.end_s == START + 4980
    assert route.duration_s == 4980
    assert route.distance_m == plan.distance_m == 1000 + 9000 + 8000 + 8000 + 7000 + 3000
    assert plan.feasible
    assert plan.unvisited == ()
    assert check_plan(problem, plan) == []


def test_course_plan_leaves_the_depot_late_rather_than_wait() -> None:
    problem = line_problem(windows={"a": (START + 400, START + 900)})
    route = course_plan(problem, {"truck-1": ("a", "b", "c")}).routes[0]
    assert route.start_s == START + 300  # arrives at a just as it opens
    assert route.trips[0].visits[0].start_s == START + 400
    assert route.end_s == START + 300 + 4980
    assert route.duration_s == 4980


def test_course_plan_keeps_a_late_service_late_not_later() -> None:
    """b's window closed long before the truck gets there, and it waits at c: leaving the
    depot later would cut the wait but make b later still, so it leaves on time."""
    windows = {"b": (START, START + 600), "c": (START + 6000, START + 9000)}
    problem = line_problem(windows=windows)
    plan = course_plan(problem, {"truck-1": ("a", "b", "c")})
    route = plan.routes[0]
    assert route.start_s == START
    assert [t.visits[0].start_s for t in route.trips] == [
        START + 100,
        START + 2460,
        START + 6000,
    ]
    assert not plan.feasible
    assert found(check_plan(problem, plan)) == {(Rule.WINDOW, "truck-1", "b")}


def test_course_plan_without_reload_depot_overloads_and_says_so() -> None:
    problem = line_problem(reload=False)
    plan = course_plan(problem, {"truck-1": ("a", "b", "c")})
    assert [t.load_kg for t in plan.routes[0].trips] == [1800]
    assert not plan.feasible
    assert found(check_plan(problem, plan)) == {(Rule.CAPACITY, "truck-1", None)}


def test_course_plan_passes_over_other_points_and_lists_the_unserved() -> None:
    problem = line_problem(trucks=2)
    plan = course_plan(problem, {"truck-1": ("a", "cp-99", "c"), "truck-2": ()})
    assert [r.vehicle for r in plan.routes] == ["truck-1"]
    assert plan.routes[0].clients == ("a", "c")
    assert plan.unvisited == ("b",)
    assert not plan.feasible
    assert check_plan(problem, plan) == []  # listed unvisited, and not claimed feasible


def test_course_plan_names_an_unknown_truck() -> None:
    with pytest.raises(RoutingError, match="course of truck 'truck-9'"):
        course_plan(line_problem(), {"truck-9": ("a",)})


# --- hand-broken plans ----------------------------------------------------------------------

# truck-1: a, plant, b; truck-2: c. Worked out by hand as above.
T1 = PlannedRoute(
    "truck-1",
    (
        Trip((Visit("a", START + 100),), 600, "plant"),
        Trip((Visit("b", START + 2460),), 600, "depot"),
    ),
    distance_m=1000 + 9000 + 8000 + 2000,
    duration_s=2720,
    start_s=START,
    end_s=START + 2720,
)
T2 = PlannedRoute(
    "truck-2",
    (Trip((Visit("c", START + 300),), 600, "depot"),),
    distance_m=6000,
    duration_s=660,
    start_s=START,
    end_s=START + 660,
)


def plan_of(*routes: PlannedRoute, unvisited: tuple[str, ...] = ()) -> Plan:
    return Plan(
        routes=routes,
        distance_m=sum(r.distance_m for r in routes),
        duration_s=sum(r.duration_s for r in routes),
        feasible=not unvisited,
        unvisited=unvisited,
        runtime_s=0.0,
        iterations=0,
    )


def test_the_hand_plan_holds_and_is_what_the_courses_give() -> None:
    problem = line_problem(trucks=2)
    assert check_plan(problem, plan_of(T1, T2)) == []
    assert course_plan(problem, {"truck-1": ("a", "b"), "truck-2": ("c",)}) == plan_of(T1, T2)


def one_trip_a_b() -> Plan:
    """truck-1 takes a and b (1200 kg) in one trip, all else right."""
    trip = Trip((Visit("a", START + 100), Visit("b", START + 260)), 1200, "depot")
    route = replace(T1, trips=(trip,), distance_m=4000, duration_s=520, end_s=START + 520)
    return plan_of(route, T2)


def early_service() -> Plan:
    first = replace(T1.trips[0], visits=(Visit("a", START + 50),))
    return plan_of(replace(T1, trips=(first, T1.trips[1])), T2)


def early_start() -> Plan:
    return plan_of(T1, replace(T2, start_s=START - 600, duration_s=1260))


BROKEN: dict[str, tuple[Callable[[], Plan], Found]] = {
    "overload": (one_trip_a_b, {(Rule.CAPACITY, "truck-1", None)}),
    "service before arrival": (early_service, {(Rule.TRAVEL, "truck-1", "a")}),
    "route outside the shift": (early_start, {(Rule.SHIFT, "truck-2", None)}),
    "served and unvisited": (
        lambda: replace(plan_of(T1, T2), unvisited=("c",), feasible=False),
        {(Rule.DUPLICATE, None, "c")},
    ),
    "missing client": (lambda: plan_of(T1), {(Rule.MISSING, None, "c")}),
    "wrong route distance": (
        lambda: plan_of(T1, replace(T2, distance_m=6001)),
        {(Rule.DISTANCE, "truck-2", None)},
    ),
    "wrong plan distance": (
        lambda: replace(plan_of(T1, T2), distance_m=26_500),
        {(Rule.DISTANCE, None, None)},
    ),
    "wrong route duration": (
        lambda: plan_of(T1, replace(T2, duration_s=600)),
        {(Rule.DURATION, "truck-2", None)},
    ),
    "wrong load": (
        lambda: plan_of(replace(T1, trips=(replace(T1.trips[0], load_kg=500), T1.trips[1])), T2),
        {(Rule.LOAD, "truck-1", None)},
    ),
    "unknown truck": (
        lambda: plan_of(T1, replace(T2, vehicle="truck-9")),
        {(Rule.UNKNOWN_VEHICLE, "truck-9", None)},
    ),
    "feasible with unvisited": (
        lambda: replace(plan_of(T1, unvisited=("c",)), feasible=True),
        {(Rule.UNVISITED, None, None)},
    ),
}


@pytest.mark.parametrize("name", BROKEN)
def test_each_hand_broken_plan_is_caught_and_named(name: str) -> None:
    make, expected = BROKEN[name]
    assert found(check_plan(line_problem(trucks=2), make())) == expected


def test_missed_window_names_truck_and_client() -> None:
    problem = line_problem(trucks=2, windows={"b": (START, START + 1800)})
    violations = check_plan(problem, plan_of(T1, T2))
    assert found(violations) == {(Rule.WINDOW, "truck-1", "b")}
    assert str(violations[0]) == (
        f"[window] truck 'truck-1' client 'b': service starts at {START + 2460} s, "
        f"outside [{START}, {START + 1800}] s"
    )


def test_a_client_served_twice_is_caught() -> None:
    twice = replace(
        T2, trips=(Trip((Visit("c", START + 300), Visit("a", START + 560)), 1200, "depot"),)
    )
    assert (Rule.DUPLICATE, None, "a") in found(
        check_plan(line_problem(trucks=2), plan_of(T1, twice))
    )


def test_two_routes_for_one_truck_are_caught() -> None:
    violations = check_plan(line_problem(trucks=2), plan_of(T1, T2, T2))
    assert (Rule.VEHICLE_COUNT, "truck-2", None) in found(violations)
    assert (Rule.DUPLICATE, None, "c") in found(violations)


def test_trips_must_end_at_the_plant_then_the_depot() -> None:
    wrong = replace(
        T1, trips=(replace(T1.trips[0], end="depot"), replace(T1.trips[1], end="plant"))
    )
    rules = found(check_plan(line_problem(trucks=2), plan_of(wrong, T2)))
    assert (Rule.TRIP_END, "truck-1", None) in rules
    assert Rule.TRIP_END in {
        v.rule for v in check_plan(line_problem(), plan_of(replace(T1, trips=())))
    }


def test_the_checker_shares_nothing_with_the_solver() -> None:
    """Neither the checker nor the course evaluation imports PyVRP or the solver module."""
    solver = re.compile(r"^\s*(import|from)\s+(pyvrp|analytics\.routing\.solve)\b", re.M)
    package = Path(__file__).resolve().parent.parent / "analytics" / "routing"
    for name in ("check.py", "courses.py"):
        assert not solver.search((package / name).read_text()), name
