"""plan.json, plan.geojson and plan.html: structure, values worked out by hand, times
consistent with the plan's matrices, and the page drawing its maps in a real browser."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from analytics.routing.city import DayProblem
from analytics.routing.courses import course_plan
from analytics.routing.model import Plan, RoutingError
from analytics.routing.plan_io import plan_geojson, plan_json, read_plan_routes
from analytics.routing.solve import solve_problem
from hub.routes.report import NO_ROUTES, render_plan
from tests.route_fixtures import DAY, ORIGIN, day_problem, line_problem, make_problem

COURSES = {"truck-1": ("a", "b", "c")}


@pytest.fixture
def day() -> DayProblem:
    return day_problem(line_problem(trucks=2), COURSES)


@pytest.fixture
def plan(day: DayProblem) -> Plan:
    """truck-1: a, plant, b; truck-2: c (what tests/test_routing_check.py works out)."""
    return course_plan(day.problem, {"truck-1": ("a", "b"), "truck-2": ("c",)})


def local(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timedelta(hours=9), text
    return moment


def test_json_lists_each_truck_s_stops_with_times_and_loads(day: DayProblem, plan: Plan) -> None:
    doc = plan_json(day, plan, course_plan(day.problem, day.courses))
    assert doc["day"] == "2026-11-26"
    assert doc["feasible"] is True
    one, two = doc["routes"]
    assert (one["truck"], two["truck"]) == ("truck-1", "truck-2")
    stops = one["stops"]
    assert [s["point_id"] for s in stops] == ["depot", "a", "plant", "b", "depot"]
    assert [s["kind"] for s in stops] == ["depot", "point", "disposal", "point", "depot"]
    assert [s["load_kg"] for s in stops] == [0, 600, 0, 600, 600]
    assert [s["trip"] for s in stops] == [1, 1, 1, 2, 2]
    assert [s["service_start"][11:19] for s in stops] == [
        "08:30:00",  # leaves
        "08:31:40",  # a: 1 km at 10 m/s
        "08:47:40",  # the plant: 60 s at a, 900 s on
        "09:11:00",  # b: 600 s unloading, 800 s on
        "09:15:20",  # back: 60 s at b, 200 s on
    ]
    assert stops[2]["departure"][11:19] == "08:57:40"
    assert stops[1]["name"] == "A place"
    assert (one["distance_m"], one["duration_s"], one["trips"]) == (20_000, 2720, 2)
    assert (one["disposal_visits"], one["load_kg"]) == (1, 1200)
    assert one["start"] == "2026-11-26T08:30:00+09:00"
    assert doc["totals"] == {
        "trucks": 2,
        "points": 3,
        "trips": 3,
        "disposal_visits": 1,
        "load_kg": 1800,
        "distance_m": 26_000,
        "duration_s": 3380,
        "feasible": True,
    }
    # today: one truck drives a, b, c with two trips to the plant (36 km, 4980 s)
    assert doc["today"]["distance_m"] == 36_000
    assert doc["saving"] == {"distance_m": 10_000, "duration_s": 1600, "trucks": -1}
    assert doc["service_time_sources"] == {"a": "default", "b": "default", "c": "default"}
    json.dumps(doc)  # plain JSON types only


def test_json_times_agree_with_the_matrices_on_a_solver_plan() -> None:
    """Every arrival is the previous departure plus the travel time; services start at
    or after arrival and last their service (or unloading) time; lat/lon are the sites'."""
    day = day_problem(line_problem(trucks=2, windows={"c": (31_000, 32_000)}))
    plan = solve_problem(day.problem, seconds=1.0)
    problem, names = day.problem, day.problem.site_names
    service = {c.name: c.service_s for c in problem.clients} | {"plant": problem.unload_s}
    for route in plan_json(day, plan)["routes"]:
        stops = route["stops"]
        assert local(stops[0]["departure"]) == ORIGIN + timedelta(seconds=plan_start(plan, route))
        for prev, stop in pairwise(stops):
            travel = problem.duration_s[
                names.index(prev["point_id"]), names.index(stop["point_id"])
            ]
            assert local(stop["arrival"]) - local(prev["departure"]) == timedelta(
                seconds=int(travel)
            )
            assert local(stop["service_start"]) >= local(stop["arrival"])
            held = local(stop["departure"]) - local(stop["service_start"])
            assert held == timedelta(seconds=service.get(stop["point_id"], 0))
            site = day.sites[stop["point_id"]]
            assert (stop["lat_deg"], stop["lon_deg"]) == (site.lat_deg, site.lon_deg)
        ends = [local(stops[-1]["arrival"]), local(stops[0]["departure"])]
        assert (ends[0] - ends[1]).total_seconds() == route["duration_s"]


def plan_start(plan: Plan, route: dict[str, Any]) -> int:
    return next(r.start_s for r in plan.routes if r.vehicle == route["truck"])


def test_geojson_has_a_line_per_route_and_a_point_per_stop_in_lon_lat(
    day: DayProblem, plan: Plan
) -> None:
    doc = plan_geojson(day, plan)
    assert doc["type"] == "FeatureCollection"
    lines = [f for f in doc["features"] if f["geometry"]["type"] == "LineString"]
    points = [f for f in doc["features"] if f["geometry"]["type"] == "Point"]
    assert [f["properties"]["truck"] for f in lines] == ["truck-1", "truck-2"]
    assert len(points) == 5 + 3
    sites = day.sites
    order = ["depot", "a", "plant", "b", "depot"]
    assert lines[0]["geometry"]["coordinates"] == [
        [sites[n].lon_deg, sites[n].lat_deg] for n in order
    ]
    for feature in points:
        lon, lat = feature["geometry"]["coordinates"]
        assert 135 < lon < 136 and 34 < lat < 35  # Osaka, longitude first
    first_b = next(f for f in points if f["properties"]["point_id"] == "b")
    assert first_b["properties"]["truck"] == "truck-1"
    assert first_b["properties"]["trip"] == 2
    assert first_b["properties"]["arrival"] == "2026-11-26T09:11:00+09:00"
    assert lines[0]["properties"]["distance_m"] == 20_000
    json.dumps(doc)


def test_plan_routes_read_back_and_a_bad_document_is_named(day: DayProblem, plan: Plan) -> None:
    planned_day, routes = read_plan_routes(json.loads(json.dumps(plan_json(day, plan))))
    assert planned_day == DAY
    assert [(r.truck, r.distance_m, r.duration_s) for r in routes] == [
        ("truck-1", 20_000, 2720),
        ("truck-2", 6000, 660),
    ]
    with pytest.raises(RoutingError, match=r"not a plan\.json document"):
        read_plan_routes({"day": "2026-11-26", "routes": [{"truck": "x"}]})


# --- HTML -----------------------------------------------------------------------------------


class _Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.figures: list[dict[str, Any]] = []
        self.plan: dict[str, Any] = {}
        self.trucks: list[str] = []
        self.links: list[str] = []
        self.big_scripts = 0
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.links += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "section":
            self.trucks.append(str(a.get("data-truck")))
        if tag == "script":
            self._script = a

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        a = self._script
        if a is None:
            self.text.append(data)
        elif a.get("class") == "figure":
            self.figures.append(json.loads(data))
        elif a.get("id") == "plan":
            self.plan = json.loads(data)
        elif len(data) > 1_000_000:
            self.big_scripts += 1  # plotly.js


def parse(page: str) -> _Parsed:
    parsed = _Parsed()
    parsed.feed(page)
    return parsed


def test_html_has_a_map_per_route_and_the_summary(day: DayProblem, plan: Plan) -> None:
    courses = course_plan(day.problem, day.courses)
    page = parse(render_plan(day, plan, courses))
    assert page.trucks == ["truck-1", "truck-2"]
    assert len(page.figures) == 1 + 2  # all routes, then one per route
    route_one = page.figures[1]["data"][0]
    assert route_one["x"] == [day.sites[n].lon_deg for n in ("depot", "a", "plant", "b", "depot")]
    assert page.plan == json.loads(json.dumps(plan_json(day, plan, courses)))
    assert page.big_scripts == 1
    assert page.links == []  # nothing fetched: the machines are offline
    text = " ".join(page.text)
    assert "Today's courses" in text and "Saving" in text
    assert NO_ROUTES not in text


def test_courses_that_do_not_hold_say_why() -> None:
    """c is on no course and the truck has no plant to empty at: 1200 kg in 1000 kg."""
    problem = line_problem(trucks=3, reload=False)
    day = day_problem(problem, {"truck-1": ("a", "b")})
    plan = course_plan(problem, {"truck-1": ("a",), "truck-2": ("b",), "truck-3": ("c",)})
    assert plan.feasible
    courses = course_plan(problem, day.courses)
    today = plan_json(day, plan, courses)["today"]
    assert (today["feasible"], today["unvisited"]) == (False, ["c"])
    assert today["violations"] == ["[capacity] truck 'truck-1': trip 1 collects 1200 kg > 1000 kg"]
    text = " ".join(parse(render_plan(day, plan, courses)).text)
    assert "on no course: c" in text and "trip 1 collects 1200 kg" in text


def test_html_renders_an_empty_plan() -> None:
    day = day_problem(make_problem([(0.0, 0.0), (5000.0, 0.0)], [], list(line_problem().vehicles)))
    plan = Plan((), 0, 0, True, (), 0.0, 0)
    page = parse(render_plan(day, plan, course_plan(day.problem, {})))
    assert NO_ROUTES in " ".join(page.text)
    assert page.figures == []
    assert page.big_scripts == 0
    assert page.plan["routes"] == []
    assert page.plan["totals"]["trucks"] == 0


def test_maps_draw_in_headless_chromium(
    tmp_path: Path, day: DayProblem, plan: Plan, chromium: str
) -> None:
    path = tmp_path / "plan.html"
    path.write_text(render_plan(day, plan, None), encoding="utf-8")
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    drawn = [dom.count(f'id="fig-{n}"') for n in (1, 2, 3)]
    assert drawn == [1, 1, 1]
    assert dom.count('class="main-svg"') >= 3 * 2  # Plotly drew each figure
    assert dom.count('class="scatterlayer') >= 3
