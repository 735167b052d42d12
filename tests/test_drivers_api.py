"""The driver scorecard API on a real PostgreSQL: the numbers, 404 and 422, and that the
report shows the very same numbers."""

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
from app.services import free_port
from citytrack.config import load_config
from hub.api.app import _store_error, create_app
from hub.api.drivers import drivers_router
from hub.storage import schema
from hub.storage.db import StoreError
from hub.storage.drivers import score_weights
from hub.storage.fleet import DeviceRepository
from tests.databases import fresh_database
from tests.test_report import parse
from tests.test_scorecard_sql import DAY, alert, drive, jst, store

JST = ZoneInfo("Asia/Tokyo")
FROM, TO = jst(0), jst(0) + timedelta(days=7)
URL = "/api/drivers/{}/scorecard"


def q(**extra: str) -> dict[str, str]:
    return {"from": FROM.isoformat(), "to": TO.isoformat()} | extra


@pytest.fixture(scope="module")
def db_url(pg_server: str) -> Iterator[str]:
    """Tanaka: 10 km at 36 km/h with 2 harsh brakes on Monday, 50 clean km on Wednesday."""
    with fresh_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            schema.upgrade(conn)
            DeviceRepository(conn).sync_registry(load_config().city)
            brakes = [alert("harsh_braking", jst(6, 5)), alert("harsh_braking", jst(6, 10))]
            store(conn, drive(jst(6), 1000), brakes)
            store(conn, drive(jst(6, day=DAY + timedelta(2)), 5000, seq0=5000))
        yield url


@pytest.fixture(scope="module")
def client(db_url: str) -> Iterator[TestClient]:
    app = FastAPI()
    app.add_exception_handler(StoreError, _store_error)
    app.include_router(drivers_router(lambda: psycopg.connect(db_url), JST))
    with TestClient(app) as c:
        yield c


def test_daily_scorecard(client: TestClient) -> None:
    response = client.get(URL.format("drv-tanaka"), params=q())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["driver_id"], body["driver_name"]) == ("drv-tanaka", "Tanaka Hiroshi")
    assert (body["period"], body["timezone"]) == ("day", "Asia/Tokyo")
    total = body["total"]
    assert total["km"] == pytest.approx(60.0)
    assert total["driving_s"] == pytest.approx(6000.0)
    assert total["events"] == {
        "harsh_braking": 2, "harsh_acceleration": 0, "harsh_cornering": 0, "speeding": 0,
    }  # fmt: skip
    assert total["events_per_100km"]["harsh_braking"] == pytest.approx(100 * 2 / 60, abs=1e-3)
    # from the totals: 3.33 brakes per 100 km cost 53.3 points (not the mean of the days)
    assert total["score"] == pytest.approx(100 - 16 * 100 * 2 / 60, abs=0.05)
    assert total["risk"] == "high"
    days = body["periods"]
    assert [d["period_start"] for d in days] == [str(DAY + timedelta(n)) for n in range(7)]
    monday, wednesday = days[0], days[2]
    assert monday["km"] == pytest.approx(10.0)
    assert monday["events_per_100km"]["harsh_braking"] == pytest.approx(20.0)
    assert monday["score"] == 0.0
    assert (wednesday["km"], wednesday["score"]) == (pytest.approx(50.0), 100.0)
    assert days[1]["score"] is None and days[1]["events_per_100km"] is None


def test_weekly_scorecard(client: TestClient) -> None:
    body = client.get(URL.format("drv-tanaka"), params=q(period="week")).json()
    assert [p["period_start"] for p in body["periods"]] == [str(DAY)]
    assert body["periods"][0]["km"] == body["total"]["km"]
    assert body["periods"][0]["score"] == body["total"]["score"]


def test_registered_driver_without_driving_and_unknown_driver(client: TestClient) -> None:
    idle = client.get(URL.format("drv-yamamoto"), params=q())
    assert idle.status_code == 200
    assert idle.json()["total"]["score"] is None
    for driver in ("drv-nobody", "DRV-TANAKA", "' OR '1'='1", "%25"):
        response = client.get(URL.format(driver), params=q())
        assert response.status_code == 404, driver
        assert response.json() == {"detail": "driver not found"}


def test_plain_dates_are_local_days(client: TestClient) -> None:
    assert FROM.hour == 0  # the test's range is whole local days
    days = {"from": FROM.date().isoformat(), "to": TO.date().isoformat()}
    plain = client.get(URL.format("drv-tanaka"), params=days)
    assert plain.status_code == 200, plain.text
    assert plain.json() == client.get(URL.format("drv-tanaka"), params=q()).json()


@pytest.mark.parametrize(
    "params",
    [
        {"to": TO.isoformat()},
        {"from": FROM.isoformat()},
        q(period="month"),
        {"from": "13/05/2024", "to": TO.isoformat()},
        {"from": TO.isoformat(), "to": FROM.isoformat()},
        {"from": FROM.isoformat(), "to": FROM.isoformat()},
        {"from": FROM.isoformat(), "to": (FROM + timedelta(days=401)).isoformat()},
    ],
)
def test_bad_parameters_are_422(client: TestClient, params: dict[str, str]) -> None:
    assert client.get(URL.format("drv-tanaka"), params=params).status_code == 422


@pytest.mark.parametrize("period", ["day", "week"])
def test_the_report_shows_the_same_numbers(
    client: TestClient, db_url: str, tmp_path: Path, period: str
) -> None:
    out = tmp_path / "report.html"
    write_report(db_url, out, start=FROM, end=TO, tz=ZoneInfo("Asia/Tokyo"))
    key = "daily" if period == "day" else "weekly"
    cards: dict[str, Any] = {d[key]["driver_id"]: d[key] for d in parse(out).data["drivers"]}
    api = client.get(URL.format("drv-tanaka"), params=q(period=period)).json()
    assert json.dumps(cards["drv-tanaka"], sort_keys=True) == json.dumps(api, sort_keys=True)


def test_database_down_is_503() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/none?connect_timeout=2"
    app = FastAPI()
    app.add_exception_handler(StoreError, _store_error)
    app.include_router(drivers_router(lambda: psycopg.connect(url)))
    with TestClient(app) as c:
        assert c.get(URL.format("drv-tanaka"), params=q()).status_code == 503


def test_scorecard_below_the_configured_minimum_is_not_enough_driving_yet(db_url: str) -> None:
    """Through the hub's own app, with the configuration's minimum (50 km, 1 h): Monday's
    10 km with 2 brakes is not judged; the week's 60 km and 1 h 40 min are."""
    app = create_app(db_url, weights=score_weights(load_config().scores))
    with TestClient(app) as c:
        body = c.get(URL.format("drv-tanaka"), params=q()).json()
    monday = body["periods"][0]
    assert (monday["score"], monday["status"], monday["risk"]) == (
        None, "not_enough_driving", "none",
    )  # fmt: skip
    assert monday["penalties"] == {}
    total = body["total"]
    assert total["status"] == "scored"
    assert total["score"] == pytest.approx(100 - 16 * 100 * 2 / 60, abs=0.05)


def test_report_says_not_enough_driving_yet(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "drivers.html"
    one_day = (FROM, FROM + timedelta(days=1))  # Monday only: 10 km
    weights = score_weights(load_config().scores)
    write_report(db_url, out, start=one_day[0], end=one_day[1], tz=JST, weights=weights)
    text = " ".join(parse(out).text)
    assert "not enough driving yet (10.0 of 50 km, 0.3 of 1 h driving)" in text
    html = out.read_text(encoding="utf-8")
    assert "<tr><td></td><td class='l'>Tanaka Hiroshi" in html, "no score, no place in the ranking"
    assert "points lost" not in text
