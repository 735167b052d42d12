"""Learning route statistics from fixes stored in a real PostgreSQL, and the day's problem."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from analytics.routing.points import RouteDataError, Site
from citytrack.config import CitytrackConfig, load_config
from hub.routes.stats import (
    RouteStatsRepository,
    format_learn_summary,
    load_day_problem,
    read_points,
)
from hub.storage import schema
from hub.storage.fleet import FixRepository
from tests.truck_days import Stop, days_from, simulate_day

ROOT = Path(__file__).resolve().parent.parent
CITYTRACK = str(Path(sys.executable).with_name("citytrack"))
CFG = load_config(ROOT / "config" / "osaka.toml")
MONDAY = date(2026, 3, 2)
DAYS = days_from(MONDAY, 4)
SHOP = (34.6630, 135.4850)  # served daily by truck-01, configured nowhere
COURSES = read_points(CFG).courses()
LUNCH_AT = COURSES["truck-01"][2]  # one day, the driver has lunch there
UNLEARNED = COURSES["truck-02"][0]  # truck-02 sends no fixes


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c)
        yield c


def _stops(cfg: CitytrackConfig, truck: str, k: int, rng: np.random.Generator) -> list[Stop]:
    points = {p.id: p.site for p in read_points(cfg).points}
    course = read_points(cfg).courses()[truck][:5]
    depot = cfg.city.depot
    stops = [Stop(depot.lat_deg, depot.lon_deg, 120)]
    for pid in course:
        site: Site = points[pid]
        dwell = 2400.0 if (pid, k) == (LUNCH_AT, 1) else float(rng.normal(90, 8))
        stops.append(Stop(site.lat_deg, site.lon_deg, dwell))
    if truck == "truck-01":
        stops.append(Stop(*SHOP, 75))
    return [*stops, Stop(depot.lat_deg, depot.lon_deg, 60)]


def _store_week(conn: psycopg.Connection[Any]) -> None:
    rng = np.random.default_rng(21)
    fixes = FixRepository(conn)
    for truck in ("truck-01", "truck-03"):
        seq = 1
        for k, day in enumerate(DAYS):
            sim = simulate_day(truck, day, _stops(CFG, truck, k, rng), rng)
            batch = sim.fixes(first_seq=seq)
            seq += len(batch)
            fixes.insert_batch(batch, datetime.now(UTC))


def _rows(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    queries = {
        "service": "SELECT point_id, value_s, slope_s_per_kg, ref_kg, n_obs, method"
        " FROM service_times ORDER BY 1",
        "travel": "SELECT from_id, to_id, band_start_h, duration_s, distance_m, n_obs"
        " FROM travel_times ORDER BY 1, 2, 3",
        "proposals": "SELECT proposal_no, lat_deg, lon_deg, days, dwells, median_dwell_s,"
        " first_day, last_day FROM route_place_proposals ORDER BY 1",
    }
    return {name: conn.execute(q.encode()).fetchall() for name, q in queries.items()}


def test_learning_twice_stores_the_same_rows(conn: psycopg.Connection[Any]) -> None:
    _store_week(conn)
    repo = RouteStatsRepository(conn)
    summary = repo.learn(CFG, DAYS[0], DAYS[-1])
    first = _rows(conn)
    repo.learn(CFG, DAYS[0], DAYS[-1])
    assert _rows(conn) == first

    courses = COURSES
    learned = {*courses["truck-01"][:5], *courses["truck-03"][:5]}
    service = {row[0]: row for row in first["service"]}
    assert set(service) == learned
    assert {row[4] for row in first["service"]} == {4}  # one dwell a day, four days
    assert {row[5] for row in first["service"]} == {"median"}  # no emissions imported
    assert 75 < service[LUNCH_AT][1] < 110  # the lunch break does not show
    (proposal,) = first["proposals"]
    assert proposal[3:5] == (4, 4)
    assert abs(proposal[1] - SHOP[0]) < 1e-4 and abs(proposal[2] - SHOP[1]) < 1e-4
    legs = {(row[0], row[1]): row for row in first["travel"]}
    a, b = courses["truck-01"][:2]
    assert legs[(a, b)][2] == 7 and legs[(a, b)][5] == 4  # departures 08:3x: band 7

    stats = repo.load(CFG.routes)
    assert stats.service_for(LUNCH_AT).n_obs == 4
    sites = {p.id: p.site for p in read_points(CFG).points}
    observed = stats.travel_between(sites[a], sites[b], 7)
    assert (observed.method, observed.n_obs) == ("observed", 4)
    assert stats.travel_between(sites[b], sites[a], 7).method == "fallback"
    assert [(p.days, p.dwells) for p in repo.proposals()] == [(4, 4)]

    text = format_learn_summary(summary)
    assert "8 truck-days" in text and "proposals: 1" in text
    assert f"{LUNCH_AT}: " in text and "n_obs 4, median of 4 dwells" in text


def test_learning_fewer_days_replaces_what_was_stored(conn: psycopg.Connection[Any]) -> None:
    _store_week(conn)
    repo = RouteStatsRepository(conn)
    repo.learn(CFG, DAYS[0], DAYS[-1])
    summary = repo.learn(CFG, DAYS[0], DAYS[1])  # two days: no place has cluster_min_days
    assert summary.result.dwells > 0 and summary.result.places == ()
    assert _rows(conn) == {"service": [], "travel": [], "proposals": []}
    with pytest.raises(ValueError, match="before start"):
        repo.learn(CFG, DAYS[1], DAYS[0])


def test_emissions_import_and_the_day_problem(
    conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    repo = RouteStatsRepository(conn)
    assert repo.stored_emissions() is None
    from_csv = load_day_problem(conn, CFG, MONDAY)  # nothing imported: the configured CSV
    assert CFG.routes.emissions_csv is not None
    stored = repo.import_emissions(Path(CFG.routes.emissions_csv), CFG)
    assert stored == len(Path(CFG.routes.emissions_csv).read_text().splitlines()) - 1
    day = load_day_problem(conn, CFG, MONDAY)
    assert [c.name for c in day.problem.clients] == [c.name for c in from_csv.problem.clients]

    smaller = tmp_path / "emissions.csv"
    smaller.write_text("point_id,weekday,kg\ncp-101,mon,100\ncp-102,tue,80\n")
    assert repo.import_emissions(smaller, CFG) == 2
    day = load_day_problem(conn, CFG, MONDAY)
    assert [(c.name, c.demand_kg) for c in day.problem.clients] == [("cp-101", 100)]
    assert day.courses["truck-01"] == ("cp-101",) and day.courses["truck-02"] == ()

    bad = tmp_path / "bad.csv"
    bad.write_text("point_id,weekday,kg\ncp-101,mon,-3\ncp-000,tue,5\n")
    with pytest.raises(RouteDataError) as exc:
        repo.import_emissions(bad, CFG)
    assert [(p.line, p.column) for p in exc.value.problems] == [(2, "kg"), (3, "point_id")]
    kept = repo.stored_emissions()  # the bad file changed nothing
    assert kept is not None and len(kept.rows) == 2


def test_learned_service_times_reach_the_day_problem(conn: psycopg.Connection[Any]) -> None:
    _store_week(conn)
    RouteStatsRepository(conn).learn(CFG, DAYS[0], DAYS[-1])
    day = load_day_problem(conn, CFG, MONDAY)
    assert day.sources[LUNCH_AT] == "median of 4 dwells"
    assert day.sources[UNLEARNED] == "default"
    service = {c.name: c.service_s for c in day.problem.clients}
    assert 75 < service[LUNCH_AT] < 110 and service[UNLEARNED] == 60


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CITYTRACK, *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_cli_learn_and_import(conn: psycopg.Connection[Any], pg_url: str, tmp_path: Path) -> None:
    _store_week(conn)
    learned = run("routes", "learn", "--from", "2026-03-02", "--to", "2026-03-05", "--db", pg_url)
    assert learned.returncode == 0, learned.stderr
    assert "dwells found" in learned.stdout and "proposed new points" in learned.stdout
    assert "travel times:" in learned.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("point_id,weekday,kg\ncp-101,someday,3\n")
    failed = run("routes", "import-emissions", str(bad), "--db", pg_url)
    assert failed.returncode == 2
    assert "line 2, column weekday: bad weekday 'someday'" in failed.stderr
    assert "Traceback" not in failed.stderr
    imported = run("routes", "import-emissions", "--db", pg_url)
    assert imported.returncode == 0, imported.stderr
    assert "stored" in imported.stdout and "osaka_emissions.csv" in imported.stdout
