"""Points and emissions CSVs (every bad row reported), the demo city's data, and the day's
routing problem built from them."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, time
from pathlib import Path

import pytest

from analytics.routing.city import DayProblem, build_day_problem, configured_sites
from analytics.routing.emissions import Emission, Emissions, read_emissions_csv
from analytics.routing.model import RoutingError
from analytics.routing.observed import RouteStats, ServiceEstimate, TravelObservation
from analytics.routing.points import PointsTable, RouteDataError, RowProblem, read_points_csv
from citytrack.config import CitytrackConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
CFG = load_config(ROOT / "config" / "osaka.toml")
DEVICES = {t.device_id for t in CFG.city.trucks}
HEADER = "id,name,lat_deg,lon_deg,course,course_order,window_start,window_end\n"
MONDAY, WEDNESDAY = date(2026, 3, 2), date(2026, 3, 4)


def _problems(exc: pytest.ExceptionInfo[RouteDataError]) -> set[tuple[int, str]]:
    return {(p.line, p.column) for p in exc.value.problems}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_bad_emission_row_is_reported_with_line_column_and_reason(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "emissions.csv",
        "point_id,weekday,kg\n"
        "cp-1,mon,120\n"
        "cp-9,mon,120\n"  # 3: unknown point
        "cp-1,funday,50\n"  # 4: bad weekday
        "cp-1,tue,-5\n"  # 5: negative
        "cp-1,wed,lots\n"  # 6: not a number
        "cp-1,MON,80\n"  # 7: (cp-1, mon) again
        "cp-2,thu,0\n",
    )
    with pytest.raises(RouteDataError) as exc:
        read_emissions_csv(path, {"cp-1", "cp-2"})
    assert exc.value.problems == (
        RowProblem(3, "point_id", "unknown point id 'cp-9'"),
        RowProblem(
            4, "weekday", "bad weekday 'funday' (expected one of mon, tue, wed, thu, fri, sat, sun)"
        ),
        RowProblem(5, "kg", "must be a number >= 0, got -5"),
        RowProblem(6, "kg", "not a number: 'lots'"),
        RowProblem(7, "weekday", "duplicate (cp-1, mon): first on line 2"),
    )
    message = str(exc.value)
    assert str(path) in message and "5 problem(s)" in message
    assert "line 6, column kg: not a number: 'lots'" in message
    assert exc.value.path == path


def test_emission_header_must_have_every_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "emissions.csv", "point_id,day,kg\ncp-1,mon,1\n")
    with pytest.raises(RouteDataError) as exc:
        read_emissions_csv(path, {"cp-1"})
    assert _problems(exc) == {(1, "weekday"), (1, "day")}
    assert "missing column" in str(exc.value) and "unknown column" in str(exc.value)


def test_emissions_read_case_insensitive_weekdays(tmp_path: Path) -> None:
    path = _write(tmp_path, "emissions.csv", "point_id,weekday,kg\ncp-1, Mon ,12.5\ncp-1,sun,0\n")
    emissions = read_emissions_csv(path, {"cp-1"})
    assert emissions.on(0) == {"cp-1": 12.5}
    assert emissions.kg("cp-1", 6) == 0.0
    assert emissions.kg("cp-1", 1) is None


def test_an_unreadable_file_is_a_route_data_error(tmp_path: Path) -> None:
    with pytest.raises(RouteDataError, match="cannot read"):
        read_emissions_csv(tmp_path / "missing.csv", set())


def test_every_bad_point_row_is_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "points.csv",
        HEADER + "cp-1,One,34.66,135.49,truck-01,1,09:00,10:00\n"
        "cp-1,Again,34.66,135.49,,,,\n"  # 3: duplicate id
        "depot,Depot,34.66,135.49,,,,\n"  # 4: id of a configured place
        "cp-3,,north,135.49,,,,\n"  # 5: empty name, latitude not a number
        "cp-4,Four,95,135.49,,,,\n"  # 6: latitude out of range
        "cp-5,Five,34.66,135.49,truck-99,2,,\n"  # 7: unknown truck
        "cp-6,Six,34.66,135.49,truck-01,first,,\n"  # 8: bad order
        "cp-7,Seven,34.66,135.49,truck-01,,,\n"  # 9: course without order
        "cp-8,Eight,34.66,135.49,truck-01,1,,\n"  # 10: stop 1 again
        "cp-9,Nine,34.66,135.49,,,9:70,10:00\n"  # 11: bad HH:MM
        "cp-10,Ten,34.66,135.49,,,11:00,10:00\n"  # 12: window ends before it opens
        "cp-11,Eleven,34.66,135.49,,,11:00,\n",  # 13: half a window
    )
    with pytest.raises(RouteDataError) as exc:
        read_points_csv(path, reserved_ids={"depot", "disposal"}, devices=DEVICES)
    assert _problems(exc) == {
        (3, "id"),
        (4, "id"),
        (5, "name"),
        (5, "lat_deg"),
        (6, "lat_deg"),
        (7, "course"),
        (8, "course_order"),
        (9, "course_order"),
        (10, "course_order"),
        (11, "window_start"),
        (12, "window_end"),
        (13, "window_end"),
    }
    message = str(exc.value)
    assert "line 3, column id: duplicate id 'cp-1' (first on line 2)" in message
    assert "line 11, column window_start: not a time HH:MM: '9:70'" in message
    assert "unknown truck 'truck-99'" in message
    assert "truck-01 already has stop 1 (line 2)" in message


def test_points_header_problems(tmp_path: Path) -> None:
    path = _write(tmp_path, "points.csv", "id,name,lat_deg,lon_deg\ncp-1,One,34.6,135.4\n")
    with pytest.raises(RouteDataError) as exc:
        read_points_csv(path)
    assert _problems(exc) == {(1, c) for c in ("course", "course_order", "window_start")} | {
        (1, "window_end")
    }


def _demo() -> tuple[CitytrackConfig, PointsTable, Emissions]:
    assert CFG.routes.points_csv is not None and CFG.routes.emissions_csv is not None
    points = read_points_csv(
        Path(CFG.routes.points_csv), reserved_ids=set(CFG.city.place_ids()), devices=DEVICES
    )
    ids = configured_sites(CFG.city, points)
    return CFG, points, read_emissions_csv(Path(CFG.routes.emissions_csv), ids)


def test_the_demo_city_data_loads_cleanly() -> None:
    cfg, points, emissions = _demo()
    assert len(points.points) == 60
    assert all(p.id.startswith("cp-1") for p in points.points)
    for p in points.points:
        assert 34.650 <= p.site.lat_deg <= 34.690 and 135.485 <= p.site.lon_deg <= 135.515
    courses = points.courses()
    assert set(courses) == DEVICES
    assert sorted(pid for c in courses.values() for pid in c) == sorted(p.id for p in points.points)
    assert 3 <= len(points.windows()) <= 6
    assert emissions.point_ids() == {p.id for p in points.points}
    assert all(20 <= e.kg <= 260 for e in emissions.rows if e.weekday in (0, 3))
    capacity = {t.device_id: cfg.routes.capacity_kg[t.vehicle_class] for t in cfg.city.trucks}
    monday = emissions.on(0)
    for truck, course in courses.items():
        assert sum(monday[p] for p in course) > capacity[truck]  # reloads needed


def test_build_day_problem_on_the_demo_city() -> None:
    cfg, points, emissions = _demo()
    stats = RouteStats.for_config(cfg.routes)
    monday = build_day_problem(cfg.city, cfg.routes, MONDAY, stats, points, emissions)
    wednesday = build_day_problem(cfg.city, cfg.routes, WEDNESDAY, stats, points, emissions)
    _check_shape(monday, emissions)
    _check_shape(wednesday, emissions)
    assert len(monday.problem.clients) == 60
    assert len(wednesday.problem.clients) == len(emissions.on(2)) < 60
    problem = monday.problem
    assert problem.depot == "depot" and problem.reload_depots == ("disposal",)
    assert problem.unload_s == cfg.routes.unload_s
    vehicles = {v.name: v for v in problem.vehicles}
    assert set(vehicles) == DEVICES
    assert vehicles["truck-01"].capacity_kg == 2000 and vehicles["truck-05"].capacity_kg == 1000
    assert vehicles["truck-01"].shift_s == (8 * 3600 + 1800, 16 * 3600 + 1800)
    assert monday.origin.isoformat() == "2026-03-02T00:00:00+09:00"
    kuromon = next(c for c in problem.clients if "Kuromon" in monday.sites[c.name].name)
    assert kuromon.window_s == (8 * 3600 + 1800, 10 * 3600 + 1800)
    assert set(monday.sources.values()) == {"default"}
    assert {c.service_s for c in problem.clients} == {60}
    assert monday.courses == points.courses()


def _check_shape(day: DayProblem, emissions: Emissions) -> None:
    kg = emissions.on(day.day.weekday())
    assert set(day.sites) == set(day.problem.site_names)
    assert {c.name: c.demand_kg for c in day.problem.clients} == {
        p: math.ceil(v) for p, v in kg.items() if v > 0
    }
    clients = {c.name for c in day.problem.clients}
    assert all(set(course) <= clients for course in day.courses.values())
    assert set(day.sources) == clients


def test_build_day_problem_uses_learned_times() -> None:
    cfg, points, emissions = _demo()
    learned = [
        ServiceEstimate("cp-101", 80.0, 12, "median"),
        ServiceEstimate("cp-102", 100.0, 30, "huber", slope_s_per_kg=0.5, ref_kg=100.0),
    ]
    travel = [TravelObservation("depot", "cp-101", 10, 333.0, 2222.0, 5)]
    stats = RouteStats.for_config(cfg.routes, learned, travel)
    day = build_day_problem(cfg.city, cfg.routes, MONDAY, stats, points, emissions)
    service = {c.name: c.service_s for c in day.problem.clients}
    kg_102 = emissions.kg("cp-102", 0)
    assert kg_102 is not None
    assert service["cp-101"] == 80
    assert service["cp-102"] == round(100.0 + 0.5 * (kg_102 - 100.0))
    assert day.sources["cp-101"] == "median of 12 dwells"
    assert day.sources["cp-103"] == "default"
    names = day.problem.site_names
    i, j = names.index("depot"), names.index("cp-101")
    assert (day.problem.duration_s[i, j], day.problem.distance_m[i, j]) == (333, 2222)
    assert day.problem.duration_s[j, i] != 333  # the way back has no observations


def test_build_day_problem_explains_what_does_not_fit() -> None:
    cfg, points, emissions = _demo()
    stats = RouteStats.for_config(cfg.routes)
    no_light = cfg.routes.model_copy(update={"capacity_kg": {"heavy": 2000}})
    with pytest.raises(RoutingError, match="no entry for vehicle class 'light'"):
        build_day_problem(cfg.city, no_light, MONDAY, stats, points, emissions)
    stray = Emissions((*emissions.rows, Emission("cp-999", 0, 10.0)))
    with pytest.raises(RoutingError, match="unknown collection points: cp-999"):
        build_day_problem(cfg.city, cfg.routes, MONDAY, stats, points, stray)


def test_windows_are_seconds_from_local_midnight() -> None:
    cfg, points, emissions = _demo()
    shifted = cfg.routes.model_copy(update={"shift_start": time(7), "shift_end": time(15)})
    day = build_day_problem(
        cfg.city, shifted, MONDAY, RouteStats.for_config(shifted), points, emissions
    )
    assert {v.shift_s for v in day.problem.vehicles} == {(7 * 3600, 15 * 3600)}
    counts = Counter(c.window_s is not None for c in day.problem.clients)
    assert counts[True] == len(points.windows())
