"""The supervisor HTTP API through FastAPI's TestClient, against a real PostgreSQL."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

with warnings.catch_warnings():
    # Starlette >= 1.x prefers httpx2 for its TestClient and warns when it falls back to
    # httpx (what the test extra installs); the client behaves the same either way.
    warnings.filterwarnings("ignore", message=".*httpx2", category=UserWarning)
    from fastapi.testclient import TestClient

from app.services import free_port
from citytrack.config import load_config
from citytrack.wire import Alert, DeviceStatus, Fix
from hub.api.app import create_app
from hub.storage import schema
from hub.storage.fleet import AlertRepository, DeviceRepository, FixRepository

T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)


def alert(device_id: str, kind: str, minute: int) -> Alert:
    start = T0 + timedelta(minutes=minute)
    return Alert(
        device_id=device_id,
        driver_id="drv-tanaka",
        kind=kind,
        severity="high",
        start_time=start,
        end_time=start + timedelta(seconds=4),
        lat_deg=34.66,
        lon_deg=135.49,
        details={"max_speed_kmh": 52.0, "limit_kmh": 30.0},
    )


@pytest.fixture
def seeded_url(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.upgrade(conn)
        with conn.transaction():
            DeviceRepository(conn).sync_registry(load_config().city)
            AlertRepository(conn).insert(
                [
                    alert("truck-01", "harsh_braking", 1),
                    alert("truck-01", "speeding", 2),
                    alert("truck-02", "speeding", 3),
                ]
            )
            FixRepository(conn).insert_batch(
                [
                    Fix(
                        device_id="truck-02",
                        seq=1,
                        fix_time=T0,
                        recv_time=T0,
                        lat_deg=34.68,
                        lon_deg=135.50,
                        speed_mps=8.5,
                        course_deg=180.0,
                    )
                ],
                T0,
            )
            DeviceRepository(conn).upsert_status(
                DeviceStatus(device_id="truck-02", online=True, time=T0, counters={"sent": 1})
            )
    return pg_url


@pytest.fixture
def client(seeded_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(seeded_url)) as c:
        yield c


def minutes(body: list[dict]) -> list[tuple[str, int]]:  # type: ignore[type-arg]
    starts = [datetime.fromisoformat(a["start_time"]) for a in body]
    return [
        (a["device_id"], int((s - T0).total_seconds() // 60))
        for a, s in zip(body, starts, strict=False)
    ]


def test_health_alive_and_ready(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "alive"}
    for path in ("/readyz", "/healthz"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json()["ready"] is True
        assert response.json()["checks"]["database"]["ok"] is True


def test_alerts_unfiltered_newest_first(client: TestClient) -> None:
    response = client.get("/api/alerts")
    assert response.status_code == 200
    body = response.json()
    assert minutes(body) == [("truck-02", 3), ("truck-01", 2), ("truck-01", 1)]
    first = body[0]
    assert first["kind"] == "speeding" and first["severity"] == "high"
    assert first["details"] == {"max_speed_kmh": 52.0, "limit_kmh": 30.0}
    assert first["lat_deg"] == 34.66 and isinstance(first["id"], int)
    assert datetime.fromisoformat(first["start_time"]).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"vehicle": "truck-01"}, [("truck-01", 2), ("truck-01", 1)]),
        ({"kind": "speeding"}, [("truck-02", 3), ("truck-01", 2)]),
        ({"since": "2024-05-01T09:02:00+09:00"}, [("truck-02", 3), ("truck-01", 2)]),
        ({"until": "2024-05-01T00:02:00Z"}, [("truck-01", 1)]),
        ({"limit": "1"}, [("truck-02", 3)]),
        ({"vehicle": "truck-01", "kind": "speeding"}, [("truck-01", 2)]),
        ({"vehicle": "nobody"}, []),
    ],
)
def test_alert_filters(
    client: TestClient, params: dict[str, str], expected: list[tuple[str, int]]
) -> None:
    response = client.get("/api/alerts", params=params)
    assert response.status_code == 200, response.text
    assert minutes(response.json()) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "2024-13-01T00:00:00Z"},
        {"since": "2024-05-01T00:00:00"},  # no offset: ambiguous
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
    ],
)
def test_bad_query_parameters_are_422(client: TestClient, params: dict[str, str]) -> None:
    assert client.get("/api/alerts", params=params).status_code == 422


def test_vehicles(client: TestClient) -> None:
    response = client.get("/api/vehicles")
    assert response.status_code == 200
    body = {v["device_id"]: v for v in response.json()}
    assert set(body) == {t.device_id for t in load_config().city.trucks}
    seen = body["truck-02"]
    assert (seen["name"], seen["driver_id"], seen["driver_name"]) == (
        "Naniwa 800 あ 12-02",
        "drv-suzuki",
        "Suzuki Kenji",
    )
    assert (seen["lat_deg"], seen["lon_deg"], seen["speed_mps"], seen["course_deg"]) == (
        34.68,
        135.50,
        8.5,
        180.0,
    )
    assert seen["online"] is True and seen["counters"] == {"sent": 1}
    assert datetime.fromisoformat(seen["fix_time"]) == T0
    never = body["truck-01"]
    assert never["fix_time"] is None and never["online"] is None


def test_database_down_is_503() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres?connect_timeout=1"
    with TestClient(create_app(url, pool_timeout_s=0.5)) as c:
        health = c.get("/readyz")
        assert health.status_code == 503
        assert health.json()["ready"] is False
        assert health.json()["checks"]["database"]["detail"]
        assert c.get("/livez").status_code == 200
        assert c.get("/api/alerts").status_code == 503
        assert c.get("/api/vehicles").status_code == 503


def test_unmigrated_database_is_500(pg_url: str) -> None:
    with TestClient(create_app(pg_url), raise_server_exceptions=False) as c:
        response = c.get("/api/alerts")
        assert response.status_code == 500
        assert "query alerts" in response.json()["detail"]
