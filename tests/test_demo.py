"""`citytrack demo` on its embedded defaults, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

CITYTRACK = str(Path(sys.executable).with_name("citytrack"))
pytestmark = pytest.mark.slow


def run_demo(data_dir: Path, summary: Path, seconds: int) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run(
        [
            CITYTRACK,
            "demo",
            "--duration",
            str(seconds),
            "--no-live",
            "--data-dir",
            str(data_dir),
            "--summary-json",
            str(summary),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "demo summary" in proc.stdout
    return json.loads(summary.read_text())


def test_demo_runs_on_embedded_defaults_and_reports_its_summary(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = run_demo(data, tmp_path / "s1.json", 30)
    for key in ("fixes_sent", "fixes_stored", "duplicates_dropped", "alerts", "episodes"):
        assert key in first
    assert first["fixes_sent"] >= 5 * 20, first
    assert first["fixes_stored"] == first["fixes_sent"], "every acknowledged fix is stored"
    assert first["fixes_left_in_outbox"] == 0
    # the trucks' drives are trips at once (in progress), not only minutes later
    assert first["trips_built"] >= first["trucks"]
    assert set(first["alerts"]) == {
        "harsh_braking",
        "harsh_acceleration",
        "harsh_cornering",
        "speeding",
    }
    assert set(first["episodes"]) == {"detected", "missed", "false"}
    assert len(first["false_alerts"]) == first["episodes"]["false"], "each false alert named"
    # in 30 s the harsh braking (15 s) and harsh acceleration (12 s) episodes have happened
    assert first["alerts"]["harsh_braking"] >= 1 and first["alerts"]["harsh_acceleration"] >= 1
    assert first["episodes"]["detected"] >= 2 and first["episodes"]["false"] == 0
    # the school morning: by 07:50 (30 s at 60x) children have passed stations
    watch = first["watch"]
    assert (watch["stations"], watch["children"]) == (3, 20)
    assert watch["passages_stored"] == watch["passages_sent"] > 0
    assert watch["passage_score"]["false"] == 0
    assert watch["events"].get("passed", 0) > 0
    assert watch["notifications_delivered"] > 0
    # the morning played is a past one: no passage or status is dated in the future
    assert date.fromisoformat(watch["morning"]) < datetime.now(ZoneInfo("Asia/Tokyo")).date()
    # a second run reuses the data directory: same database, outboxes continue their seq
    assert (data / "pg" / "PG_VERSION").exists()
    second = run_demo(data, tmp_path / "s2.json", 10)
    assert second["fixes_stored"] == second["fixes_sent"] > 0


def test_demo_uses_external_broker_and_database(
    tmp_path: Path, broker_url: str, pg_url: str
) -> None:
    proc = subprocess.run(
        [
            CITYTRACK,
            "demo",
            "--duration",
            "8",
            "--no-live",
            "--data-dir",
            str(tmp_path / "d"),
            "--broker",
            broker_url,
            "--db",
            pg_url,
            "--summary-json",
            str(tmp_path / "s.json"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert not (tmp_path / "d" / "pg").exists(), "no embedded database when --db is given"
    assert not (tmp_path / "d" / "broker").exists(), "no embedded broker when --broker is given"
    with psycopg.connect(pg_url) as conn:
        stored = conn.execute("SELECT count(*) FROM fixes").fetchone()
    assert stored is not None and stored[0] == summary["fixes_stored"] > 0
