"""Every route's last load is emptied at the disposal site before the truck parks."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np

from analytics.routing.city import build_day_problem, configured_sites, fold_final_unload
from analytics.routing.courses import course_plan
from analytics.routing.observed import RouteStats
from analytics.routing.plan_io import plan_json, plan_totals, route_stops
from analytics.routing.solve import solve_problem
from citytrack.config import load_config
from hub.routes.stats import _csv_emissions, read_points

MONDAY = date(2026, 11, 30)


def test_fold_routes_client_to_depot_legs_through_the_reload_depot() -> None:
    distance = np.array([[0, 10, 3, 4], [10, 0, 8, 9], [3, 8, 0, 5], [4, 9, 5, 0]])
    duration = distance * 2
    fold_final_unload(distance, duration, reload=1, unload_s=100)
    assert distance[2, 0] == 8 + 10 and distance[3, 0] == 9 + 10
    assert duration[2, 0] == 16 + 100 + 20 and duration[3, 0] == 18 + 100 + 20
    assert distance[1, 0] == 10 and distance[0, 0] == 0  # disposal -> depot, unused truck
    assert distance[0, 2] == 3  # leaving the depot is unchanged


def test_demo_day_plan_and_courses_end_at_the_disposal_site() -> None:
    cfg = load_config()
    points = read_points(cfg)
    emissions = _csv_emissions(cfg, configured_sites(cfg.city, points))
    assert emissions is not None
    stats = RouteStats.for_config(cfg.routes)
    day = build_day_problem(cfg.city, cfg.routes, MONDAY, stats, points, emissions)
    assert day.final_unload == cfg.city.disposal_site.id
    problem = day.problem
    index = {name: i for i, name in enumerate(problem.site_names)}
    for plan in (solve_problem(problem, 2.0), course_plan(problem, day.courses)):
        assert plan.routes
        for route in plan.routes:
            stops = route_stops(day, route)
            assert [s.kind for s in stops[-2:]] == ["disposal", "depot"]
            assert stops[-2].load_kg == 0 and stops[-1].load_kg == 0
            legs = itertools.pairwise(stops)
            raw = sum(problem.distance_m[index[a.site.id], index[b.site.id]] for a, b in legs)
            # the folded client -> depot leg is the real way: via the disposal site
            assert route.distance_m == raw
        totals = plan_totals(plan, final_unload=True)
        assert totals.disposal_visits == totals.trips
        doc = plan_json(day, plan)
        assert doc["totals"]["disposal_visits"] == totals.trips
        for route, listed in zip(plan.routes, doc["routes"], strict=True):
            assert listed["disposal_visits"] == len(route.trips)
            assert [s["kind"] for s in listed["stops"]].count("disposal") == len(route.trips)
