"""``citytrack alerts`` rendering against a real PostgreSQL."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from rich.console import Console
from typer.testing import CliRunner

from app.cli import app
from app.cli.alerts import peak_text, show_alerts
from app.services import free_port
from citytrack.alerts import Alert, CorneringDetails, HarshDetails, SpeedingDetails
from citytrack.config import load_config
from citytrack.errors import InvalidInputError
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


def run(db_url: str, *, as_json: bool = False, **filters: object) -> str:
    console = Console(file=io.StringIO(), width=240, color_system=None)
    args: dict[str, object] = {
        "vehicle": None,
        "kind": None,
        "since": None,
        "until": None,
        "limit": 100,
    }
    args.update(filters)
    show_alerts(db_url, ZoneInfo("Asia/Tokyo"), console, as_json=as_json, **args)  # type: ignore[arg-type]
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_table_shows_local_and_utc_time_names_and_peaks(db_url: str) -> None:
    out = run(db_url)
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
    out = run(db_url, vehicle="truck-01")
    assert "harsh_braking" in out and "speeding" not in out
    out = run(db_url, kind="speeding", since=T0 + timedelta(hours=1))
    assert "speeding" in out and "harsh_braking" not in out
    out = run(db_url, until=T0)
    assert "No alerts match." in out
    out = run(db_url, limit=1)
    assert "1 alert(s)" in out and "speeding" in out


def test_json_lines_parse_as_stored_alerts(db_url: str) -> None:
    out = run(db_url, as_json=True)
    lines = out.splitlines()
    assert len(lines) == 2
    parsed = [StoredAlert.model_validate(json.loads(line)) for line in lines]
    assert [p.kind for p in parsed] == ["speeding", "harsh_braking"]
    assert parsed[1].model_dump(exclude={"id", "created_at"}) == alerts()[0].model_dump()


def test_unreachable_database_is_one_line_and_exit_1() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres?connect_timeout=1"
    result = CliRunner().invoke(app, ["alerts", "--db", url])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"citytrack: cannot reach the database {url} (--db): ")
    assert result.stderr.count("\n") == 1


def test_bad_arguments_are_refused(db_url: str) -> None:
    with pytest.raises(InvalidInputError, match="since"):
        run(db_url, since=datetime(2024, 5, 1))
    with pytest.raises(InvalidInputError, match="limit"):
        run(db_url, limit=0)
    result = CliRunner().invoke(app, ["alerts", "--db", db_url, "--limit", "0"])
    assert (result.exit_code, result.stderr) == (2, "citytrack: limit must be >= 1, got 0\n")


def test_the_command_reads_naive_times_in_city_time(db_url: str) -> None:
    """09:30:05 in Osaka is the braking; a window from 09:30 local holds it, not the
    speeding (00:30 the next day)."""
    window = ["--since", "2024-05-01T09:30", "--until", "2024-05-01T10:00"]
    result = CliRunner().invoke(app, ["alerts", "--db", db_url, "--json", *window])
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["kind"] for line in result.stdout.splitlines()] == ["harsh_braking"]


def test_peak_text() -> None:
    assert peak_text(HarshDetails(peak_mps2=3.04)) == "3.0 m/s²"
    assert peak_text(CorneringDetails(peak_mps2=4.96)) == "5.0 m/s²"
    assert peak_text(SpeedingDetails(max_speed_kmh=61.4)) == "61 km/h"
    assert peak_text(SpeedingDetails(max_speed_kmh=61.4, limit_kmh=40.0)) == "61 km/h (limit 40)"
    assert peak_text(HarshDetails()) == peak_text(SpeedingDetails(limit_kmh=40.0)) == ""
