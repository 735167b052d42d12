"""``citytrack routes plan`` and ``routes compare`` against a real PostgreSQL: known fixes
in, known distance and working time out; the plan files written; infeasible input named."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from analytics.routing.check import Rule, Violation
from analytics.routing.compare import RouteFigures, TruckDay, compare_day, comparison_json
from analytics.routing.model import Client, InfeasibleError, Problem, RoutingError
from app.cli.common import CommandError
from app.cli.routes import write_checked_plan
from citytrack.config import load_config
from citytrack.wire import Fix
from hub.routes.compare import actual_day, compare_plan
from hub.routes.plan import plan_day, summary
from hub.routes.thin import comparison_thin_inputs
from hub.storage import schema
from hub.storage.fleet import FixRepository
from tests.route_fixtures import DAY, SHIFT_S, TZ, day_problem, line_problem, make_problem

CITYTRACK = str(Path(sys.executable).with_name("citytrack"))
ROOT = Path(__file__).resolve().parent.parent
CFG = load_config(ROOT / "config" / "osaka.toml")
DEPOT = (CFG.city.depot.lat_deg, CFG.city.depot.lon_deg)
M_PER_DEG_LAT = 6_371_008.8 * math.pi / 180  # the fix filter's Earth radius
T0 = datetime(2026, 11, 26, 8, 20, tzinfo=TZ)
START = SHIFT_S[0]


def at(north_m: float, east_m: float) -> tuple[float, float]:
    lat = DEPOT[0] + north_m / M_PER_DEG_LAT
    return lat, DEPOT[1] + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))


def fix(device: str, seq: int, t: datetime, north_m: float, east_m: float, speed: float) -> Fix:
    lat, lon = at(north_m, east_m)
    return Fix(
        device_id=device,
        seq=seq,
        fix_time=t.astimezone(UTC),
        recv_time=t.astimezone(UTC),
        lat_deg=lat,
        lon_deg=lon,
        speed_mps=speed,
        course_deg=0.0 if speed else None,
        quality=1,
        mode=3,
        sats_used=9,
        hdop=0.9,
    )


def truck_a() -> list[Fix]:
    """60 s at the depot, 6 km north at 10 m/s, 120 s standing, back, 60 s at the depot;
    one fix 2 km off (a GNSS jump) halfway out; and a drive the evening before."""
    track = []
    for i in range(1440):
        if i < 60 or i >= 1380:
            north, speed = 0.0, 0.0
        elif i < 660:
            north, speed = 10.0 * (i - 59), 10.0
        elif i < 780:
            north, speed = 6000.0, 0.0
        else:
            north, speed = 6000.0 - 10.0 * (i - 779), 10.0
        east = 2000.0 if i == 300 else 0.0
        track.append(fix("truck-01", 1000 + i, T0 + timedelta(seconds=i), north, east, speed))
    evening = datetime(2026, 11, 25, 23, 50, tzinfo=TZ)
    track += [
        fix("truck-01", 1 + i, evening + timedelta(seconds=i), 10.0 * i, 0.0, 10.0)
        for i in range(60)
    ]
    return track


def truck_b() -> list[Fix]:
    """Starts 2 km north of the depot: 30 s standing, 3 km east at 10 m/s, 60 s standing."""
    track = []
    for i in range(390):
        east = min(max(0.0, 10.0 * (i - 29)), 3000.0)
        speed = 10.0 if 30 <= i < 330 else 0.0
        track.append(fix("truck-02", 1 + i, T0 + timedelta(seconds=i), 2000.0, east, speed))
    return track


def truck_c() -> list[Fix]:
    """Stands in the depot yard all along."""
    return [fix("truck-03", 1 + i, T0 + timedelta(seconds=i), 5.0, 5.0, 0.0) for i in range(120)]


@pytest.fixture
def db(pg_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.upgrade(conn)
        FixRepository(conn).insert_batch(truck_a() + truck_b() + truck_c(), datetime.now(UTC))
        yield conn


def test_actual_day_from_stored_fixes(db: psycopg.Connection) -> None:
    days = {t.device_id: t for t in actual_day(db, CFG, DAY)}
    assert sorted(days) == ["truck-01", "truck-02", "truck-03"]
    a, b, c = days["truck-01"], days["truck-02"], days["truck-03"]
    assert a.distance_m == pytest.approx(12_000, abs=0.01)  # the jump and last night excluded
    assert a.rejected >= 1
    assert a.fixes + a.rejected == 1440
    assert (a.start, a.end) == (T0 + timedelta(seconds=59), T0 + timedelta(seconds=1380))
    assert a.working_s == 1321  # set off at 59 s, parked at 1380 s
    assert (a.start_basis, a.end_basis) == ("depot", "depot")
    assert b.distance_m == pytest.approx(3000, abs=0.01)
    assert b.working_s == 299  # first to last moving fix
    assert (b.start_basis, b.end_basis) == ("moving", "moving")
    assert (c.distance_m, c.working_s, c.drove) == (0.0, 0.0, False)
    assert a.drove and b.drove


def test_compare_per_route_and_in_total(db: psycopg.Connection) -> None:
    planned = [RouteFigures("truck-01", 10_000, 1200), RouteFigures("truck-04", 5000, 900)]
    comparison = compare_day(DAY, planned, actual_day(db, CFG, DAY))
    rows = {r.truck: r for r in comparison.routes}
    assert sorted(rows) == ["truck-01", "truck-02", "truck-04"]  # truck-03 did not drive
    assert rows["truck-02"].planned is None and rows["truck-04"].actual is None
    assert comparison.planned_trucks == comparison.actual_trucks == 2
    assert comparison.planned_distance_m == 15_000
    assert comparison.actual_distance_m == pytest.approx(15_000, abs=0.02)
    assert comparison.actual_working_s == 1321 + 299
    assert comparison.saving_duration_s == 1321 + 299 - 2100


# --- routes plan / compare, through their parts and the command ----------------------------


def test_a_checked_plan_is_written_as_three_files(tmp_path: Path) -> None:
    day = day_problem(line_problem(trucks=2), {"truck-1": ("a", "b", "c")})
    result = plan_day(day, 1.0)
    paths = write_checked_plan(result, tmp_path / "plans")
    assert [p.name for p in paths] == ["plan.json", "plan.geojson", "plan.html"]
    doc = json.loads((tmp_path / "plans" / "plan.json").read_text())
    assert doc["feasible"] and doc["totals"]["points"] == 3
    assert doc["today"]["distance_m"] == 36_000
    geo = json.loads((tmp_path / "plans" / "plan.geojson").read_text())
    assert geo["type"] == "FeatureCollection"
    assert "<html" in (tmp_path / "plans" / "plan.html").read_text()
    text = summary(result)
    assert "plan for 2026-11-26" in text and "today's courses: 1 truck(s), 36.0 km" in text
    saved = (36_000 - doc["totals"]["distance_m"]) / 1000
    assert f"saving: {saved:.1f} km" in text


def heavy_point() -> Problem:
    base = line_problem()
    heavy = [*base.clients[:2], Client("cp-17", 4000, 60)]
    coords = [(0.0, 0.0), (10_000.0, 0.0), (1000.0, 0.0), (2000.0, 0.0), (3000.0, 0.0)]
    return make_problem(coords, heavy, list(base.vehicles))


# c is 300 s from the depot: the truck leaves at 08:30 and cannot be there by 08:32.
INFEASIBLE = {
    "heavier than any truck": (
        heavy_point,
        "client 'cp-17': demand 4000 kg exceeds the largest truck capacity 1000 kg"
        " (point cp-17: Cp-17 place)",
    ),
    "window nobody can reach": (
        lambda: line_problem(windows={"c": (0, START + 120)}),
        f"client 'c': earliest service start {START + 300} s is after its window closes"
        f" ({START + 120} s) (point c: C place)",
    ),
}


@pytest.mark.parametrize("case", INFEASIBLE)
def test_planning_names_the_infeasible_point(case: str) -> None:
    make, message = INFEASIBLE[case]
    with pytest.raises(InfeasibleError) as raised:
        plan_day(day_problem(make()), 1.0)
    assert str(raised.value) == message


def test_a_plan_that_fails_its_check_is_not_written(tmp_path: Path) -> None:
    day = day_problem(line_problem(trucks=2), {"truck-1": ("a", "b", "c")})
    result = plan_day(day, 1.0)
    broken = [Violation(Rule.LOAD, "made up", vehicle="truck-1"), Violation(Rule.MISSING, "b")]
    with pytest.raises(CommandError) as raised:
        write_checked_plan(replace(result, violations=broken), tmp_path / "plans")
    assert str(raised.value) == (
        "the plan for 2026-11-26 fails its check: [load] truck 'truck-1': made up; [missing] b"
    )
    assert raised.value.exit_code == 1
    assert not (tmp_path / "plans").exists()


POINTS = """id,name,lat_deg,lon_deg,course,course_order,window_start,window_end
x1,Sakuragawa 1-chome,34.6700,135.4880,truck-01,1,,
x2,Minatomachi 2-chome,34.6640,135.4950,truck-01,2,,
x3,Nipponbashi 3-chome,34.6600,135.5060,truck-02,1,09:00,12:00
x4,Ebisu-higashi 1-chome,34.6530,135.5050,truck-02,2,,
"""


def city(tmp_path: Path, kg: dict[str, int]) -> Path:
    """The Osaka config with its ``[routes]`` files replaced by the points above and
    ``kg`` expected on Thursdays."""
    (tmp_path / "points.csv").write_text(POINTS)
    rows = "".join(f"{point},thu,{n}\n" for point, n in kg.items())
    (tmp_path / "emissions.csv").write_text("point_id,weekday,kg\n" + rows)
    routes = '[routes]\npoints_csv = "points.csv"\nemissions_csv = "emissions.csv"\n'
    text = (ROOT / "config" / "osaka.toml").read_text()
    text = re.sub(r"^\[routes\]\n(?:(?!\[).*(?:\n|$))*", "", text, flags=re.M)
    path = tmp_path / "city.toml"
    path.write_text(text + "\n" + routes)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CITYTRACK, *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_routes_plan_then_compare_from_the_command_line(
    db: psycopg.Connection, pg_url: str, tmp_path: Path
) -> None:
    config = city(tmp_path, {"x1": 900, "x2": 800, "x3": 700, "x4": 600})
    out = tmp_path / "out"
    common = ("--date", "2026-11-26", "--config", str(config), "--db", pg_url)
    planned = run("routes", "plan", *common, "--out", str(out), "--seconds", "1")
    assert planned.returncode == 0, planned.stderr
    assert "plan for 2026-11-26" in planned.stdout and "saving:" in planned.stdout
    doc = json.loads((out / "plan.json").read_text())
    assert sorted(
        s["point_id"] for r in doc["routes"] for s in r["stops"] if s["kind"] == "point"
    ) == [
        "x1",
        "x2",
        "x3",
        "x4",
    ]
    assert doc["today"]["trucks"] == 2
    # nothing learned: every service time is the default, and the command says so
    assert doc["inputs_too_thin"] is True
    warning = "citytrack: warning: inputs too thin: 4 of 4 service times are the default"
    assert planned.stderr.startswith(warning), planned.stderr
    compared = run("routes", "compare", *common, "--plan", str(out / "plan.json"), "--json")
    assert compared.returncode == 0, compared.stderr
    result = json.loads(compared.stdout)
    thin = result["total"]["actual"]["working_s"] < 0.5 * result["total"]["planned"]["duration_s"]
    assert result["inputs_too_thin"] is thin
    assert ("citytrack: warning: inputs too thin: the stored fixes" in compared.stderr) is thin
    assert result["total"]["planned"]["distance_m"] == doc["totals"]["distance_m"]
    assert result["total"]["planned"]["trucks"] == doc["totals"]["trucks"]
    assert result["total"]["actual"] == {"distance_m": 15_000, "working_s": 1620, "trucks": 2}
    table = run("routes", "compare", *common, "--plan", str(out / "plan.json")).stdout
    assert "truck-01" in table and "15.00" in table and "trucks:" in table


def test_routes_plan_names_the_infeasible_point(pg_url: str, tmp_path: Path) -> None:
    config = city(tmp_path, {"x1": 900, "x2": 5000})
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.upgrade(conn)
    result = run(
        "routes",
        "plan",
        "--date",
        "2026-11-26",
        "--config",
        str(config),
        "--db",
        pg_url,
        "--out",
        str(tmp_path / "out"),
    )
    assert result.returncode == 1
    assert result.stderr.startswith("citytrack: cannot plan 2026-11-26: client 'x2': demand")
    assert "client 'x2': demand 5000 kg exceeds the largest truck capacity" in result.stderr
    assert "(point x2: Minatomachi 2-chome)" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_compare_without_a_plan_plans_now(
    db: psycopg.Connection, pg_url: str, tmp_path: Path
) -> None:
    cfg = load_config(city(tmp_path, {"x1": 900, "x3": 700}))
    result = comparison_json(compare_plan(pg_url, cfg, DAY, None, 1.0))
    assert result["total"]["planned"]["trucks"] >= 1
    assert result["total"]["planned"]["distance_m"] > 0
    assert result["total"]["actual"]["trucks"] == 2


def test_compare_refuses_another_day_s_plan(
    db: psycopg.Connection, pg_url: str, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"day": "2026-11-25", "routes": []}))
    with pytest.raises(RoutingError, match="a plan for 2026-11-25, not 2026-11-26"):
        compare_plan(pg_url, CFG, DAY, plan, 1.0)
    common = ("--date", "2026-11-26", "--db", pg_url, "--plan", str(plan))
    result = run("routes", "compare", *common)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"citytrack: cannot compare 2026-11-26: {plan}: a plan for 2026-11-25, not 2026-11-26\n"
    )


# --- inputs too thin to trust the saving ------------------------------------------------------


def test_a_plan_on_default_service_times_says_its_inputs_are_too_thin(tmp_path: Path) -> None:
    day = day_problem(line_problem(trucks=2), {"truck-1": ("a", "b", "c")})
    result = plan_day(day, 1.0)
    assert [t.code for t in result.thin] == ["service_times_defaulted"]
    assert "3 of 3 service times are the default" in result.thin[0].message
    write_checked_plan(result, tmp_path / "thin")
    doc = json.loads((tmp_path / "thin" / "plan.json").read_text())
    assert doc["inputs_too_thin"] is True
    assert doc["thin_inputs"][0]["code"] == "service_times_defaulted"
    assert "Inputs too thin: 3 of 3 service times" in (tmp_path / "thin" / "plan.html").read_text()
    # learned at two of the three points: the plan stands on data
    learned = replace(
        day, sources={"a": "median of 12 dwells", "b": "median of 9 dwells", "c": "default"}
    )
    assert plan_day(learned, 1.0).thin == []
    write_checked_plan(plan_day(learned, 1.0), tmp_path / "learned")
    assert json.loads((tmp_path / "learned" / "plan.json").read_text())["inputs_too_thin"] is False


def _driven(device: str, working_s: float, distance_m: float) -> TruckDay:
    return TruckDay(device, distance_m, working_s, T0, T0 + timedelta(seconds=working_s),
                    "moving", "moving", 100, 0)  # fmt: skip


def test_a_comparison_against_a_few_minutes_of_driving_says_so() -> None:
    planned = [RouteFigures("truck-01", 57_000, 6 * 3600)]
    thin = comparison_thin_inputs(compare_day(DAY, planned, [_driven("truck-01", 90, 400)]))
    assert [t.code for t in thin] == ["little_driving"]
    assert "0.03 h of work by 1 truck(s) against 6.00 h planned" in thin[0].message
    full = compare_day(DAY, planned, [_driven("truck-01", 7 * 3600, 80_000)])
    assert comparison_thin_inputs(full) == []
