"""``citytrack alerts`` rendering against a real PostgreSQL."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from rich.console import Console

from app.services import free_port
from citytrack.config import load_config
from citytrack.wire import Alert
from hub.reports.alerts_table import alerts_main, peak_text
from hub.storage import schema
from hub.storage.fleet import AlertRepository, DeviceRepository, StoredAlert

T0 = datetime(2024, 5, 1, 0, 30, 5, tzinfo=UTC)  # 09:30:05 in Osaka


def alerts() -> list[Alert]:
    return [
        Alert(
            device_id="truck-01",
            driver_id="drv-tanaka",
            kind="harsh_braking",
            severity="high",
            start_time=T0,
            end_time=T0 + timedelta(seconds=2.5),
            lat_deg=34.656012,
            lon_deg=135.493047,
            details={"peak_mps2": 4.26, "threshold_mps2": 3.0, "duration_s": 2.5},
        ),
        Alert(
            device_id="truck-03",
            driver_id="drv-yamamoto",
            kind="speeding",
            severity="medium",
            start_time=T0 + timedelta(hours=15),
            end_time=T0 + timedelta(hours=15, seconds=12),
            lat_deg=34.66,
            lon_deg=135.4985,
            details={"max_speed_kmh": 47.6, "limit_kmh": 30.0, "zone_id": "zone30-naniwa"},
        ),
    ]


@pytest.fixture
def db_url(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.upgrade(conn)
        DeviceRepository(conn).sync_registry(load_config().city)
        AlertRepository(conn).insert(alerts())
    return pg_url


def run(db_url: str, *, as_json: bool = False, **filters: object) -> tuple[int, str]:
    console = Console(file=io.StringIO(), width=240, color_system=None)
    args: dict[str, object] = {
        "vehicle": None,
        "kind": None,
        "since": None,
        "until": None,
        "limit": 100,
    }
    args.update(filters)
    code = alerts_main(db_url=db_url, as_json=as_json, console=console, **args)  # type: ignore[arg-type]
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return code, out


def test_table_shows_local_and_utc_time_names_and_peaks(db_url: str) -> None:
    code, out = run(db_url)
    assert code == 0
    lines = out.splitlines()
    braking = next(line for line in lines if "harsh_braking" in line)
    speeding = next(line for line in lines if "speeding" in line)
    assert "2024-05-01 09:30:05 JST" in braking and "2024-05-01 00:30:05Z" in braking
    assert "Naniwa 800 あ 12-01" in braking and "Tanaka Hiroshi" in braking
    assert "high" in braking and "2.5 s" in braking and "4.3 m/s²" in braking
    assert "34.65601, 135.49305" in braking
    # 15:30 UTC is already the next day in Osaka
    assert "2024-05-02 00:30:05 JST" in speeding and "2024-05-01 15:30:05Z" in speeding
    assert "Yamamoto Akira" in speeding and "48 km/h (limit 30)" in speeding
    assert "12.0 s" in speeding
    assert out.index("speeding") < out.index("harsh_braking")  # newest first
    assert "2 alert(s)" in out


def test_filters_reach_the_query(db_url: str) -> None:
    _, out = run(db_url, vehicle="truck-01")
    assert "harsh_braking" in out and "speeding" not in out
    _, out = run(db_url, kind="speeding", since=T0 + timedelta(hours=1))
    assert "speeding" in out and "harsh_braking" not in out
    _, out = run(db_url, until=T0)
    assert "No alerts match." in out
    _, out = run(db_url, limit=1)
    assert "1 alert(s)" in out and "speeding" in out


def test_json_lines_parse_as_stored_alerts(db_url: str) -> None:
    code, out = run(db_url, as_json=True)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    parsed = [StoredAlert.model_validate(json.loads(line)) for line in lines]
    assert [p.kind for p in parsed] == ["speeding", "harsh_braking"]
    assert parsed[1].model_dump(exclude={"id", "created_at"}) == alerts()[0].model_dump()


def test_unreachable_database_is_reported(tmp_path: object) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres?connect_timeout=1"
    code, out = run(url)
    assert code == 1
    assert "cannot read alerts" in out


def test_bad_arguments_raise(db_url: str) -> None:
    with pytest.raises(ValueError, match="since"):
        run(db_url, since=datetime(2024, 5, 1))
    with pytest.raises(ValueError, match="time zone"):
        alerts_main(
            db_url=db_url,
            vehicle=None,
            kind=None,
            since=None,
            until=None,
            limit=1,
            as_json=False,
            console=Console(file=io.StringIO()),
            timezone="Mars/Olympus",
        )


def test_peak_text() -> None:
    assert peak_text({"peak_mps2": 3.04}) == "3.0 m/s²"
    assert peak_text({"max_speed_kmh": 61.4}) == "61 km/h"
    assert peak_text({}) == ""
