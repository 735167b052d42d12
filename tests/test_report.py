"""The driving-tendency report renders from a real PostgreSQL, with data and without."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import psycopg
import pytest
from typer.testing import CliRunner

from app.cli import app
from app.cli.report import write_report
from app.services import free_port
from citytrack.config import CityConfig, RosterEntry, load_config
from citytrack.errors import InvalidInputError
from citytrack.times import zone
from hub.reports.drivers import NO_DRIVING, FleetReport
from hub.storage import schema
from hub.storage.db import StoreUnavailableError
from hub.storage.drivers import RosterRepository
from hub.storage.fleet import DeviceRepository
from tests.test_scorecard_sql import DAY, alert, drive, jst, store

START, END = jst(0), jst(0) + timedelta(days=7)


class _Parsed(HTMLParser):
    """The report's text, JSON script blocks and tags with a src or href."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.figures: dict[str, dict[str, Any]] = {}
        self.data: dict[str, Any] = {}
        self.sections: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.links += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "section":
            self.sections.append(str(a.get("data-driver")))
        if tag == "script":
            self.scripts += 1
            self._script = a

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        a = self._script
        if a is None:
            self.text.append(data)
        elif a.get("class") == "figure":
            self.figures[str(a["data-target"])] = json.loads(data)
        elif a.get("id") == "scorecards":
            self.data = json.loads(data)


def parse(path: Path) -> _Parsed:
    parsed = _Parsed()
    parsed.feed(path.read_text(encoding="utf-8"))
    return parsed


@pytest.fixture
def city() -> CityConfig:
    roster = [RosterEntry(device_id="truck-01", driver_id="drv-suzuki", start=jst(12))]
    return load_config().city.model_copy(update={"roster": roster})


@pytest.fixture
def db(pg_url: str, city: CityConfig) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.upgrade(conn)
        DeviceRepository(conn).sync_registry(city)
        RosterRepository(conn).sync(city.roster)
        yield conn


def make(pg_url: str, out: Path, **kw: Any) -> FleetReport:
    args: dict[str, Any] = {"start": START, "end": END, "tz": zone("Asia/Tokyo")} | kw
    return write_report(pg_url, out, **args)


def test_report_with_data(db: psycopg.Connection, pg_url: str, tmp_path: Path) -> None:
    # Tanaka drives truck-01 in the morning (10 km, 2 harsh brakes); Suzuki takes it over
    # at noon (6 km on Tuesday, clean) and also drives truck-02 (5 km, speeding 20 s)
    brakes = [alert("harsh_braking", jst(6, 5)), alert("harsh_braking", jst(6, 10))]
    store(db, drive(jst(6), 1000), brakes)
    store(db, drive(jst(12, day=DAY + timedelta(1)), 600, seq0=2000))
    store(
        db,
        drive(jst(9, day=DAY + timedelta(2)), 500, device="truck-02"),
        [alert("speeding", jst(9, 2, day=DAY + timedelta(2)), 20.0, device="truck-02")],
    )
    out = tmp_path / "report.html"
    make(pg_url, out)
    page = parse(out)
    text = " ".join(page.text)

    # ranking: Suzuki (clean) before Tanaka (20 brakes per 100 km: score 0)
    assert page.sections == ["drv-suzuki", "drv-tanaka"]
    assert text.index("Suzuki Kenji") < text.index("Tanaka Hiroshi")
    for idle in ("Yamamoto Akira", "Nakamura Yui", "Kobayashi Daisuke"):
        assert idle in text
    assert NO_DRIVING not in text

    cards = {d["daily"]["driver_id"]: d for d in page.data["drivers"]}
    tanaka = cards["drv-tanaka"]["daily"]["total"]
    assert tanaka["km"] == pytest.approx(10.0) and tanaka["score"] == 0.0
    assert tanaka["events_per_100km"]["harsh_braking"] == pytest.approx(20.0)
    suzuki = cards["drv-suzuki"]["daily"]["total"]
    assert suzuki["km"] == pytest.approx(11.0)
    assert suzuki["speeding_s"] == 20.0
    assert len(cards["drv-suzuki"]["daily"]["periods"]) == 7
    assert [p["period_start"] for p in cards["drv-suzuki"]["weekly"]["periods"]] == [str(DAY)]

    # one fleet chart, then four per driver; every spec is a valid Plotly figure
    assert len(page.figures) == 1 + 4 * 2
    for spec in page.figures.values():
        go.Figure(spec)
    fleet = page.figures["fig-1"]["data"][0]
    assert fleet["y"] == ["Tanaka Hiroshi", "Suzuki Kenji"]
    assert fleet["x"] == [0.0, 96.4]  # 20 s speeding in 1100 s driving: 2 x 1.82 points
    events, speeds, trend, where = (page.figures[f"fig-{n}"] for n in range(6, 10))  # Tanaka
    braking = next(t for t in events["data"] if t["name"] == "Harsh braking")
    assert braking["x"][0] == "2024-05-13" and braking["y"] == [2, 0, 0, 0, 0, 0, 0]
    assert speeds["data"][0]["y"] == [pytest.approx(1000 / 60, abs=0.01)]  # all at 36 km/h
    assert trend["data"][0]["y"][:2] == [0.0, None]
    assert [t["name"] for t in where["data"]] == ["route truck-01", "Harsh braking"]
    assert len(where["data"][1]["x"]) == 2

    # self-contained: plotly.js inline, nothing fetched from anywhere
    assert page.links == []
    assert "Plotly.newPlot" in out.read_text(encoding="utf-8")
    assert out.stat().st_size > 3_000_000  # plotly.js itself


def test_report_without_driving(db: psycopg.Connection, pg_url: str, tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    make(pg_url, out)
    page = parse(out)
    text = " ".join(page.text)
    assert NO_DRIVING in text
    assert page.figures == {} and page.sections == [] and page.data["drivers"] == []
    assert "Tanaka Hiroshi" in text  # registered drivers are listed, without driving
    assert out.stat().st_size < 50_000  # no charts: no plotly.js


def test_report_names_tricky_driver_names_safely(
    db: psycopg.Connection, pg_url: str, tmp_path: Path
) -> None:
    db.execute("UPDATE drivers SET name = %s WHERE id = 'drv-tanaka'", ("</script><b>x",))
    store(db, drive(jst(6), 100))
    out = tmp_path / "report.html"
    make(pg_url, out)
    page = parse(out)
    assert "</script><b>x" in " ".join(page.text)
    assert page.data["drivers"][0]["daily"]["driver_name"] == "</script><b>x"


def test_unreachable_database_is_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/none?connect_timeout=2"
    with pytest.raises(StoreUnavailableError):
        make(url, out)
    assert not out.exists()
    period = ["--from", "2024-05-13", "--to", "2024-05-20"]
    result = CliRunner().invoke(app, ["report", "drivers", *period, "--db", url, "--out", str(out)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"citytrack: cannot reach the database {url} (--db): ")
    assert result.stderr.count("\n") == 1 and not out.exists()


def test_the_command_writes_the_file_and_says_so(
    db: psycopg.Connection, pg_url: str, tmp_path: Path
) -> None:
    out, url = tmp_path / "drivers.html", pg_url
    period = ["--from", "2024-05-13", "--to", "2024-05-20"]
    result = CliRunner().invoke(app, ["report", "drivers", *period, "--db", url, "--out", str(out)])
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == f"wrote {out}: 0 driver(s) with driving\nwrote {out}\n"
    assert NO_DRIVING in " ".join(parse(out).text)
    unwritable = CliRunner().invoke(
        app, ["report", "drivers", *period, "--db", url, "--out", str(tmp_path / "no" / "r.html")]
    )
    assert unwritable.exit_code == 1
    assert unwritable.stderr.startswith("citytrack: cannot make the report: [Errno 2] ")


def test_bad_arguments_raise(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    with pytest.raises(InvalidInputError, match="time zone"):
        zone("Mars/Olympus")
    with pytest.raises(InvalidInputError, match="must be after"):
        make("postgresql:///x", out, start=END, end=START)
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        make("postgresql:///x", out, start=datetime(2024, 5, 13))
    reversed_period = ["--from", "2024-05-20", "--to", "2024-05-13", "--out", str(out)]
    result = CliRunner().invoke(app, ["report", "drivers", *reversed_period])
    assert (
        result.exit_code == 2 and "--to (2024-05-13T00:00:00+09:00) must be after" in result.stderr
    )
    assert not out.exists()
