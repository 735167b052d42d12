"""Trips where supervisors see them, on a real PostgreSQL: the drivers API, the HTML report
and the ``citytrack trips`` / ``citytrack db rollups`` commands."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    # as in test_hub_api: Starlette's TestClient warns when it falls back to httpx
    warnings.filterwarnings("ignore", message=".*httpx2", category=UserWarning)
    from fastapi.testclient import TestClient

from app.cli.report import write_report
from citytrack.config import load_config
from hub.api.app import _store_error
from hub.api.drivers import drivers_router
from hub.reports.trips import NO_TRIPS
from hub.storage import schema
from hub.storage.db import StoreError
from hub.storage.drivers import RosterRepository
from hub.storage.fleet import DeviceRepository
from hub.storage.trips import TripRepository
from tests.databases import fresh_database
from tests.test_cli import run
from tests.test_report import parse
from tests.test_scorecard_sql import DAY, jst
from tests.test_trips_store import ROSTER, at, insert, track

FROM, TO = jst(0), jst(0) + timedelta(days=7)
URL = "/api/drivers/{}/trips"


def q(**extra: str) -> dict[str, str]:
    return {"from": FROM.isoformat(), "to": TO.isoformat()} | extra


def seed(url: str, *, built: bool) -> None:
    """truck-01 crosses the noon shift change (Tanaka, then Suzuki); truck-02 (Suzuki) a
    short drive on Tuesday."""
    with psycopg.connect(url, autocommit=True) as conn:
        schema.upgrade(conn)
        DeviceRepository(conn).sync_registry(load_config().city)
        RosterRepository(conn).sync(ROSTER)
        insert(conn, track())
        insert(conn, track(((300, 8.0), (120, 0.0)), jst(9, day=DAY + timedelta(1)), "truck-02"))
        if built:
            repo = TripRepository(conn)
            for device in ("truck-01", "truck-02"):
                repo.build(device, now=at(1330) + timedelta(days=1))


@pytest.fixture(scope="module")
def db_url(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server) as url:
        seed(url, built=True)
        yield url


@pytest.fixture(scope="module")
def client(db_url: str) -> Iterator[TestClient]:
    app = FastAPI()
    app.add_exception_handler(StoreError, _store_error)
    app.include_router(drivers_router(lambda: psycopg.connect(db_url)))
    with TestClient(app) as c:
        yield c


def test_api_returns_the_drivers_own_trips_and_summary(client: TestClient) -> None:
    tanaka = client.get(URL.format("drv-tanaka"), params=q())
    assert tanaka.status_code == 200, tanaka.text
    body = tanaka.json()
    assert (body["driver_id"], body["driver_name"]) == ("drv-tanaka", "Tanaka Hiroshi")
    assert [t["start_time"] for t in body["trips"]] == ["2024-05-13T02:50:00Z"]
    assert body["stops"] == []
    assert body["summary"] == {
        "trips": 1, "km": 6.0, "driving_s": 600.0, "trip_s": 600.0, "avg_trip_km": 6.0,
        "avg_trip_s": 600.0, "stops": 0, "stopped_s": 0.0,
    }  # fmt: skip

    suzuki = client.get(URL.format("drv-suzuki"), params=q()).json()
    assert {(t["device_id"], t["driver_id"]) for t in suzuki["trips"]} == {
        ("truck-01", "drv-suzuki"), ("truck-02", "drv-suzuki"),
    }  # fmt: skip
    assert suzuki["summary"]["trips"] == 2 and suzuki["summary"]["stops"] == 1
    assert suzuki["summary"]["km"] == pytest.approx(3.0 + 2.4, abs=0.001)
    assert suzuki["stops"][0]["duration_s"] == 299.0
    first = suzuki["trips"][0]
    assert (first["ended_by"], first["distance_m"]) == ("stop", pytest.approx(3000, abs=0.01))


def test_api_range_unknown_driver_and_bad_parameters(client: TestClient) -> None:
    later = {"from": jst(12, day=DAY + timedelta(1)).isoformat(), "to": TO.isoformat()}
    assert client.get(URL.format("drv-tanaka"), params=later).json()["trips"] == []
    idle = client.get(URL.format("drv-yamamoto"), params=q()).json()
    assert (idle["trips"], idle["summary"]["avg_trip_km"]) == ([], None)
    for driver in ("drv-nobody", "DRV-TANAKA", "' OR '1'='1"):
        response = client.get(URL.format(driver), params=q())
        assert response.status_code == 404, driver
        assert response.json() == {"detail": "driver not found"}
    for params in (
        {"from": FROM.isoformat()},
        {"from": "2024-05-13T00:00:00+25:00", "to": TO.isoformat()},
        {"from": TO.isoformat(), "to": FROM.isoformat()},
        {"from": FROM.isoformat(), "to": (FROM + timedelta(days=401)).isoformat()},
    ):
        assert client.get(URL.format("drv-tanaka"), params=params).status_code == 422


def report(url: str, out: Path) -> Any:
    write_report(url, out, start=FROM, end=TO, tz=ZoneInfo("Asia/Tokyo"))
    return parse(out)


def test_report_shows_each_drivers_trips(client: TestClient, db_url: str, tmp_path: Path) -> None:
    page = report(db_url, tmp_path / "report.html")
    text = " ".join(page.text)
    assert "Trips" in text and NO_TRIPS not in text
    assert "1 trip(s), 6.0 km, 0.2 h driving; on average 6.00 km and 10 min per trip" in text
    # the same numbers as the API
    summaries = {d["daily"]["driver_id"]: d["trips"] for d in page.data["drivers"]}
    for driver in ("drv-tanaka", "drv-suzuki"):
        api = client.get(URL.format(driver), params=q()).json()["summary"]
        assert summaries[driver] == api
    # charts still there: one fleet chart, four per driver
    assert len(page.figures) == 1 + 4 * 2
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count("<table class='trips'>") == 2
    assert "2024-05-13 11:50" in html and "2024-05-14 09:00" in html


def test_report_without_built_trips_says_so(pg_server: str, tmp_path: Path) -> None:
    with fresh_database(pg_server) as url:
        seed(url, built=False)
        page = report(url, tmp_path / "report.html")
    text = " ".join(page.text)
    assert text.count(NO_TRIPS) == 2  # both drivers drove; no trips built yet
    assert all(d["trips"]["trips"] == 0 for d in page.data["drivers"])
    assert len(page.figures) == 1 + 4 * 2


def test_cli_rollups_then_trips(pg_server: str) -> None:
    with fresh_database(pg_server) as url:
        seed(url, built=False)
        rollups = run("db", "rollups", "--db", url)
        assert rollups.returncode == 0, rollups.stderr
        assert b"3 trip(s) (0 still open: in progress or gone silent) and 1 stop(s) written" in (
            rollups.stdout
        )
        window = ("--from", "2024-05-13T00:00", "--to", "2024-05-20T00:00")  # city time
        lines = run("trips", "--db", url, "--vehicle", "truck-01", *window, "--json").stdout
        trips = [json.loads(line) for line in lines.splitlines()]
        assert [(t["driver_id"], t["ended_by"]) for t in trips] == [
            ("drv-tanaka", "stop"), ("drv-suzuki", "stop"),
        ]  # fmt: skip
        table = run("trips", "--db", url, "--driver", "drv-suzuki", *window).stdout.decode()
        assert "Suzuki Kenji" in table and "truck-02" in table and "2 trip(s)" in table
        bad = run("trips", "--db", url, "--from", "2024-05-20T00:00", "--to", "2024-05-13")
        assert (
            bad.returncode == 2 and b"--to (2024-05-13T00:00:00+09:00) must be after" in bad.stderr
        )
