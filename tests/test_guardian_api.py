"""The guardian API on a real PostgreSQL: bearer tokens, and each guardian sees only their own
children (no id probing: someone else's child and a missing one answer alike)."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    # as in test_hub_api: Starlette's TestClient warns when it falls back to httpx
    warnings.filterwarnings("ignore", message=".*httpx2", category=UserWarning)
    from fastapi.testclient import TestClient

from citytrack.config.watch import Child, Guardian, School, Station, Tag, WatchConfig
from citytrack.wire import BeaconKind, Passage, Sighting
from hub.api.app import _store_error, create_app
from hub.api.guardians import guardian_router
from hub.storage import schema
from hub.storage.db import StoreError
from hub.storage.watch import PassageRepository, WatchRegistry
from tests.databases import fresh_database

JST = ZoneInfo("Asia/Tokyo")
T0 = datetime(2024, 5, 13, 22, 40, tzinfo=UTC)  # 07:40 JST
TOKENS = {"ga": "token-of-guardian-a", "gb": "token-of-guardian-b"}


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tag(n: int, child: str) -> Tag:
    uuid = "e2c56db5-dffb-48d2-b060-d0f5a71096e0"
    return Tag(
        id=f"t{n}", child_id=child, kind="ibeacon", ibeacon_uuid=uuid, ibeacon_major=1,
        ibeacon_minor=n,
    )  # fmt: skip


WATCH = WatchConfig(
    schools=[School(id="s1", name="School 1", ward="Naniwa", lat_deg=34.66, lon_deg=135.49)],
    stations=[
        Station(
            id="gate-s1",
            name="School 1 gate",
            name_ja="第一小学校の正門",
            kind="school_gate",
            school_id="s1",
            ward="Naniwa",
            lat_deg=34.662,
            lon_deg=135.4985,
        ),
        Station(id="bus-7", name="Bus 7", kind="mobile", ward="Naniwa"),
    ],
    children=[
        Child(id="a1", name="Hana", school_id="s1", guardian_ids=["ga"]),
        Child(id="a2", name="Yuto", school_id="s1", guardian_ids=["ga"]),
        Child(id="b1", name="Mei", school_id="s1", guardian_ids=["gb"]),
        Child(id="ab", name="Sota", school_id="s1", guardian_ids=["ga", "gb"]),
        Child(id="c1", name="Aoi", school_id="s1", guardian_ids=["gc"]),
    ],
    guardians=[
        Guardian(id="ga", name="Sato", api_token_sha256=sha(TOKENS["ga"])),
        Guardian(id="gb", name="Ito", api_token_sha256=sha(TOKENS["gb"])),
        Guardian(id="gc", name="Kato"),  # no API access
    ],
    tags=[tag(1, "a1"), tag(2, "a2"), tag(3, "b1"), tag(4, "ab"), tag(5, "c1")],
)
TAGS = {t.child_id: t for t in WATCH.tags}
OWN = {"ga": {"a1", "a2", "ab"}, "gb": {"b1", "ab"}}
CHILDREN = [c.id for c in WATCH.children]
MISSING = ["a3", "x", "A1", "a1 ", "ghost", "0", "-1", "t1", "gate-s1", "ga"]
HOSTILE = [
    "' OR '1'='1",
    "a1' --",
    "a1; DROP TABLE passages; --",
    'a1" OR 1=1',
    "%27%20OR%201=1",
    "a1%00",
    "a1%0A",
    "%E3%81%82",
    "..%2Fa1",
    "a1%2F..%2Fb1",
    "*",
    "%25",
    "a" * 500,
]


def passage(seq: int, when: datetime, station: str = "gate-s1", **extra: Any) -> Passage:
    cls = Sighting if "lat_deg" in extra else Passage
    return cls(
        device_id=station, seq=seq, beacon_kind=BeaconKind.IBEACON, beacon_id="x", first_seen=when,
        last_seen=when + timedelta(seconds=5), closest_time=when, peak_rssi_dbm=-60, adv_count=20,
        **extra,
    )  # fmt: skip


SEEDED: list[tuple[Passage, Tag | None]] = [
    *((passage(i + 1, T0 + timedelta(minutes=i)), TAGS[c]) for i, c in enumerate(CHILDREN)),
    (passage(50, T0 + timedelta(hours=8)), TAGS["a1"]),  # a1 leaves school at 15:40
    (passage(1, T0 + timedelta(minutes=3), "bus-7", lat_deg=34.7, lon_deg=135.5), TAGS["a2"]),
    (passage(60, T0), None),  # an unknown beacon at the gate
]


def seen_at(child: str) -> set[str]:
    """The UTC closest times (as the API spells them) of a child's seeded passages."""
    times = {p.closest_time for p, t in SEEDED if t is not None and t.child_id == child}
    return {t.isoformat().replace("+00:00", "Z") for t in times}


@pytest.fixture(scope="module")
def db_url(pg_server: str) -> Iterator[str]:
    """One seeded database for the module (the tests only read)."""
    with fresh_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            schema.upgrade(conn)
            WatchRegistry(conn).sync(WATCH)
            PassageRepository(conn).insert(SEEDED, T0 + timedelta(hours=9))
        yield url


@pytest.fixture(scope="module")
def client(db_url: str) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(guardian_router(lambda: psycopg.connect(db_url), JST))
    with TestClient(app) as c:
        yield c


def auth(guardian: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[guardian]}"}


ENDPOINTS = ["/api/children/{}/passages", "/api/children/{}/last-seen"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {sha(TOKENS['ga'])}"},  # the stored hash is not the token
        {"Authorization": f"Bearer {TOKENS['ga']}x"},
        {"Authorization": f"Basic {TOKENS['ga']}"},
        {"Authorization": TOKENS["ga"]},
        {"X-Api-Token": TOKENS["ga"]},
    ],
)
def test_no_or_wrong_token_is_401(
    client: TestClient, endpoint: str, headers: dict[str, str]
) -> None:
    for child in ["a1", "b1", "ghost"]:
        response = client.get(endpoint.format(child), headers=headers)
        assert response.status_code == 401, (child, headers)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "passage" not in response.text


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("guardian", ["ga", "gb"])
def test_a_guardian_cannot_probe_other_children(
    client: TestClient, endpoint: str, guardian: str
) -> None:
    answers = {
        c: client.get(endpoint.format(c), headers=auth(guardian)) for c in CHILDREN + MISSING
    }
    for child, response in answers.items():
        expected = 200 if child in OWN[guardian] else 404
        assert response.status_code == expected, child
    refused = {
        (r.status_code, r.content, tuple(sorted(r.headers.items())))
        for c, r in answers.items()
        if c not in OWN[guardian]
    }
    assert len(refused) == 1  # someone else's child and no child at all: byte for byte alike
    for child in OWN[guardian]:
        body = answers[child].json()
        if endpoint.endswith("passages"):
            assert {p["closest_time"] for p in body} == seen_at(child)
        else:
            assert body["child_id"] == child
            assert body["passage"]["closest_time"] == max(seen_at(child))


def test_token_of_a_on_a_child_of_b_is_404(client: TestClient) -> None:
    for path in ("/api/children/b1/passages", "/api/children/b1/last-seen"):
        response = client.get(path, headers=auth("ga"))
        assert response.status_code == 404
        assert response.json() == {"detail": "child not found"}
        assert "Mei" not in response.text and "b1" not in response.text


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("child", HOSTILE)
def test_hostile_ids_are_404_or_422_never_500(
    client: TestClient, endpoint: str, child: str
) -> None:
    response = client.get(endpoint.format(child), headers=auth("ga"))
    assert response.status_code in (404, 422), response.text
    response = client.get(endpoint.format(child))
    assert response.status_code in (401, 404), response.text


def test_hostile_ids_changed_nothing(client: TestClient, db_url: str) -> None:
    for child in HOSTILE:
        client.get(f"/api/children/{child}/passages", headers=auth("ga"))
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM passages").fetchone() == (len(SEEDED),)


def test_passages_of_own_child_only_with_station_and_times(client: TestClient) -> None:
    response = client.get("/api/children/a1/passages", headers=auth("ga"))
    assert response.status_code == 200
    body = response.json()
    assert [p["closest_time"] for p in body] == ["2024-05-14T06:40:00Z", "2024-05-13T22:40:00Z"]
    morning = body[1]
    assert morning["closest_time_local"] == "2024-05-14T07:40:00+09:00"
    assert (morning["station_id"], morning["station_name"]) == ("gate-s1", "School 1 gate")
    assert morning["station_name_ja"] == "第一小学校の正門"
    assert (morning["lat_deg"], morning["lon_deg"]) == (34.662, 135.4985)
    assert set(morning) == {
        "station_id", "station_name", "station_name_ja", "station_kind", "closest_time",
        "closest_time_local", "first_seen", "last_seen", "lat_deg", "lon_deg", "battery_mv",
    }  # fmt: skip


def test_a_mobile_sighting_carries_the_detector_position(client: TestClient) -> None:
    body = client.get("/api/children/a2/passages", headers=auth("ga")).json()
    bus = next(p for p in body if p["station_id"] == "bus-7")
    assert (bus["lat_deg"], bus["lon_deg"], bus["station_kind"]) == (34.7, 135.5, "mobile")


def test_passages_filters(client: TestClient) -> None:
    path = "/api/children/a1/passages"
    since = {"since": "2024-05-14T12:00:00+09:00"}
    assert len(client.get(path, headers=auth("ga"), params=since).json()) == 1
    until = {"until": "2024-05-14T12:00:00+09:00"}
    assert len(client.get(path, headers=auth("ga"), params=until).json()) == 1
    assert len(client.get(path, headers=auth("ga"), params={"limit": 1}).json()) == 1
    naive = {"since": "2024-05-14T12:00:00"}  # city time, as with an offset
    response = client.get(path, headers=auth("ga"), params=naive)
    assert response.status_code == 200 and len(response.json()) == 1
    for bad in ({"since": "2024-05-14 noon"}, {"limit": 0}, {"limit": 5000}, {"until": "x"}):
        assert client.get(path, headers=auth("ga"), params=bad).status_code == 422, bad


def test_last_seen(client: TestClient) -> None:
    body = client.get("/api/children/a1/last-seen", headers=auth("ga")).json()
    assert (body["child_id"], body["child_name"]) == ("a1", "Hana")
    assert body["passage"]["closest_time_local"] == "2024-05-14T15:40:00+09:00"
    shared = client.get("/api/children/ab/last-seen", headers=auth("gb")).json()
    assert shared["child_name"] == "Sota" and shared["passage"]["station_id"] == "gate-s1"


def test_last_seen_of_a_child_never_seen(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        extra = [*WATCH.children, Child(id="new", name="Rin", school_id="s1", guardian_ids=["ga"])]
        WatchRegistry(conn).sync(WATCH.model_copy(update={"children": extra}))
    app = FastAPI()
    app.include_router(guardian_router(lambda: psycopg.connect(db_url), JST))
    try:
        with TestClient(app) as c:
            response = c.get("/api/children/new/last-seen", headers=auth("ga"))
        assert response.json() == {"child_id": "new", "child_name": "Rin", "passage": None}
        with TestClient(app) as c:
            assert c.get("/api/children/new/passages", headers=auth("ga")).json() == []
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            WatchRegistry(conn).sync(WATCH)


def test_database_down_is_503_not_a_leak(pg_server: str) -> None:
    dead = psycopg.conninfo.make_conninfo(pg_server, port="1", connect_timeout="1")
    app = FastAPI()
    app.add_exception_handler(StoreError, _store_error)
    app.include_router(guardian_router(lambda: psycopg.connect(dead), JST))
    with TestClient(app) as c:
        assert c.get("/api/children/a1/last-seen", headers=auth("ga")).status_code == 503


def test_mounted_in_the_hub_app_over_its_pool(db_url: str) -> None:
    with TestClient(create_app(db_url)) as c:
        response = c.get("/api/children/a1/last-seen", headers=auth("ga"))
        assert response.status_code == 200
        assert response.json()["passage"]["closest_time_local"] == "2024-05-14T15:40:00+09:00"
        assert c.get("/api/children/b1/last-seen", headers=auth("ga")).status_code == 404
        assert c.get("/api/children/a1/last-seen").status_code == 401
