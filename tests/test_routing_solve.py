"""Route solver: benchmark instances solved near their best known, with every constraint
checked here from the raw files (vrplib's parse, our own distances), not by the solver."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import vrplib
from typer.testing import CliRunner

from analytics.routing.instances import read_instance, read_solution, route_cost
from analytics.routing.model import (
    Client,
    InfeasibleError,
    InstanceError,
    Problem,
    RoutingError,
    Vehicle,
)
from analytics.routing.solve import solve_instance, solve_problem
from app.cli import app

Routes = tuple[tuple[int, ...], ...]


def euclid(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    diff = coords[:, None, :] - coords[None, :, :]
    return np.asarray(np.sqrt((diff**2).sum(axis=2)), dtype=np.float64)


def assert_each_client_once(routes: Routes, n: int) -> None:
    visits = sorted(c for route in routes for c in route)
    assert visits == list(range(1, n + 1))


def assert_capacity(routes: Routes, demand: npt.NDArray[np.int64], capacity: int) -> None:
    for route in routes:
        assert sum(int(demand[c]) for c in route) <= capacity, route


def test_a_n32_k5_within_3_pct_of_best_known(corpora: Path) -> None:
    path = corpora / "cvrp" / "cvrp" / "A-n32-k5.vrp"
    raw = vrplib.read_instance(path)
    dist = np.rint(euclid(raw["node_coord"])).astype(int)  # CVRPLIB: nint per arc
    solution = solve_instance(path, seconds=3.0)
    assert solution.feasible
    assert_each_client_once(solution.routes, 31)
    assert_capacity(solution.routes, raw["demand"], raw["capacity"])
    cost = sum(int(dist[a, b]) for r in solution.routes for a, b in pairwise([0, *r, 0]))
    assert solution.cost == cost
    assert solution.best_known == 784
    assert 784 <= cost <= 784 * 1.03


def test_c101_time_windows_and_capacity_hold(corpora: Path) -> None:
    path = corpora / "cvrp" / "vrptw" / "C101.txt"
    raw = vrplib.read_instance(path, instance_format="solomon")
    travel = np.floor(10 * euclid(raw["node_coord"])) / 10  # DIMACS: truncated to 0.1
    windows, service = raw["time_window"], raw["service_time"]
    solution = solve_instance(path, seconds=3.0)
    assert solution.feasible
    assert_each_client_once(solution.routes, 100)
    assert_capacity(solution.routes, raw["demand"], raw["capacity"])
    assert len(solution.routes) <= raw["vehicles"]
    for route in solution.routes:
        t, prev = float(windows[0, 0]), 0
        for c in route:
            t = max(t + travel[prev, c], windows[c, 0])
            assert t <= windows[c, 1] + 1e-6, (route, c, t)
            t, prev = t + service[c], c
        assert t + travel[prev, 0] <= windows[0, 1] + 1e-6
    assert solution.cost <= 827.3 * 1.03


def test_best_known_solutions_reproduce_their_costs(corpora: Path) -> None:
    """The .sol files' routes cost what they state under our conventions (rounded for
    CVRPLIB, DIMACS for Solomon): the conventions are the ones the best knowns use."""
    sols = sorted((corpora / "cvrp").glob("*/*.sol"))
    assert len(sols) >= 6
    for sol in sols:
        instance_path = next(p for p in sol.parent.glob(sol.stem + ".*") if p.suffix != ".sol")
        known = read_solution(sol)
        instance = read_instance(instance_path)
        assert route_cost(instance, known.routes) == pytest.approx(known.cost, abs=1e-9), sol
        assert instance.best_known == known.cost


def test_the_command_prints_a_cvrplib_solution(corpora: Path) -> None:
    path = corpora / "cvrp" / "cvrp" / "B-n31-k5.vrp"
    result = CliRunner().invoke(app, ["routes", "solve", str(path), "--seconds", "1"])
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert all(re.fullmatch(r"Route #\d+: \d+( \d+)*", line) for line in lines[:-1])
    routes = tuple(tuple(int(c) for c in line.split(":")[1].split()) for line in lines[:-1])
    assert_each_client_once(routes, 30)
    match = re.fullmatch(r"Cost (\d+)", lines[-1])
    assert match
    assert int(match.group(1)) == route_cost(read_instance(path), routes)


def test_the_command_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.vrp"
    result = CliRunner().invoke(app, ["routes", "solve", str(missing), "--seconds", "1"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"citytrack: {missing}: no such instance file\n"


NO_CAPACITY = (
    "NAME : x\nDIMENSION : 2\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 1\nEOF\n"
)


@pytest.mark.parametrize(
    ("name", "text", "cause"),
    [
        ("garbage.vrp", "hello\nworld\n", "not a readable vrplib instance"),
        ("garbage.txt", "hello\nworld\n", "not a readable solomon instance"),
        ("nocap.vrp", NO_CAPACITY, "instance has no capacity, demand"),
        ("table.csv", "a,b\n", "unknown instance format"),
    ],
)
def test_unreadable_instance_names_file_and_cause(
    tmp_path: Path, name: str, text: str, cause: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InstanceError, match=re.escape(cause)) as info:
        read_instance(path)
    assert info.value.path == path
    assert str(path) in str(info.value)


# A tiny city (m): a garage, a plant where trucks empty their load, six collection points.
GARAGE = (0.0, 0.0)
PLANT = (5000.0, 0.0)
POINTS = [(1000, 0), (2000, 1000), (0, 2000), (-1000, 1500), (-2000, -1000), (1500, -1500)]
SPEED_MPS = 5
SHIFT_S = (0, 8 * 3600)


def tiny_problem(
    demands_kg: list[int],
    *,
    reload: bool = False,
    windows_s: dict[str, tuple[int, int]] | None = None,
    trucks: int = 2,
) -> Problem:
    coords = np.array([GARAGE, *([PLANT] if reload else []), *POINTS], dtype=np.float64)
    dist = np.rint(euclid(coords)).astype(np.int64)
    windows_s = windows_s or {}
    clients = tuple(
        Client(f"p{i}", demand_kg=d, service_s=120, window_s=windows_s.get(f"p{i}"))
        for i, d in enumerate(demands_kg, start=1)
    )
    return Problem(
        depot="garage",
        clients=clients,
        vehicles=tuple(Vehicle(f"truck-{k}", 1000, shift_s=SHIFT_S) for k in range(1, trucks + 1)),
        distance_m=dist,
        duration_s=dist // SPEED_MPS,
        reload_depots=("plant",) if reload else (),
        unload_s=900,
        coords_m=coords,
    )


def test_point_heavier_than_any_truck_is_named() -> None:
    problem = tiny_problem([300, 200, 400, 1500, 100, 250])
    with pytest.raises(InfeasibleError, match=r"client 'p4': demand 1500 kg exceeds") as info:
        solve_problem(problem, seconds=1.0)
    assert info.value.client == "p4"
    assert isinstance(info.value, RoutingError)
    assert isinstance(info.value, ValueError)


def test_unreachable_window_is_named() -> None:
    # p3 is 2000 m out at 5 m/s: 400 s at the earliest, after its window closes.
    problem = tiny_problem([100] * 6, windows_s={"p3": (0, 300)})
    with pytest.raises(InfeasibleError, match=r"client 'p3': earliest service start 400 s"):
        solve_problem(problem, seconds=1.0)


def test_fleet_too_small_without_reload() -> None:
    with pytest.raises(InfeasibleError, match="total demand 3600 kg exceeds the fleet's capacity"):
        solve_problem(tiny_problem([600] * 6), seconds=1.0)


def test_no_feasible_plan_in_budget_says_so() -> None:
    # One truck cannot be at p1 and p6, 2.1 km apart, both at 1000 s.
    windows = {"p1": (1000, 1000), "p6": (1000, 1000)}
    problem = tiny_problem([100] * 6, windows_s=windows, trucks=1)
    with pytest.raises(InfeasibleError, match=r"no feasible plan found in 0\.5 s"):
        solve_problem(problem, seconds=0.5)
    plan = solve_problem(problem, seconds=0.5, require_feasible=False)
    assert not plan.feasible


def test_reload_depot_gives_multiple_trips_within_capacity() -> None:
    """3600 kg for two 1000 kg trucks: they must empty at the plant between trips."""
    problem = tiny_problem([600] * 6, reload=True)
    plan = solve_problem(problem, seconds=1.0)
    assert plan.feasible
    assert plan.unvisited == ()
    assert sorted(c for r in plan.routes for c in r.clients) == [f"p{i}" for i in range(1, 7)]
    trips = [trip for route in plan.routes for trip in route.trips]
    assert len(trips) >= 4
    assert all(t.load_kg <= 1000 for t in trips)
    assert any(t.end == "plant" for t in trips)
    for route in plan.routes:
        assert route.trips[-1].end == "garage"
        assert SHIFT_S[0] <= route.start_s <= route.end_s <= SHIFT_S[1]


def test_malformed_problem_names_the_field() -> None:
    problem = tiny_problem([100] * 6)
    with pytest.raises(RoutingError, match=r"duration_s: shape \(6, 6\), expected \(7, 7\)"):
        Problem(
            depot="garage",
            clients=problem.clients,
            vehicles=problem.vehicles,
            distance_m=problem.distance_m,
            duration_s=problem.duration_s[:6, :6],
        )
