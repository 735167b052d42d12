"""``citytrack report drivers``: the driving-tendency report (``hub.reports.drivers``) as
one self-contained HTML file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from app.cli.common import (
    ConfigOpt,
    DbOpt,
    check_window,
    city_zone,
    connect,
    database,
    failing_as,
    when,
)
from citytrack.config import load_config

if TYPE_CHECKING:
    from analytics.driving.scorecard import ScoreWeights
    from hub.reports.drivers import FleetReport
    from hub.storage.drivers import MotionRules

app = typer.Typer(no_args_is_help=True, help="Reports for supervisors.")


@app.command("drivers")
def report_drivers(
    start: Annotated[str, typer.Option("--from", help="period start: date or time (city time)")],
    end: Annotated[str, typer.Option("--to", help="period end, exclusive: date or time")],
    out: Annotated[Path, typer.Option(help="HTML file to write")] = Path("drivers.html"),
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Driving-tendency report: a fleet ranking and charts per driver, one HTML file."""
    from hub.storage.drivers import score_weights

    cfg = load_config(config)
    tz = city_zone(cfg)
    since, until = when(start, tz, "--from"), when(end, tz, "--to")
    check_window(since, until)
    with failing_as("cannot make the report", OSError), database(cfg, db) as url:
        report = write_report(
            url, out, start=since, end=until, tz=tz, weights=score_weights(cfg.scores)
        )
    typer.echo(f"wrote {out}: {len(report.sections)} driver(s) with driving")
    typer.echo(f"wrote {out}")


def write_report(
    db_url: str,
    out: Path,
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    rules: MotionRules | None = None,
    weights: ScoreWeights | None = None,
) -> FleetReport:
    """Write the driving-tendency report for ``[start, end)`` (aware) to ``out``; the
    report written.

    Raises:
        InvalidInputError: a naive time, or ``end <= start``.
        StoreError: the database cannot be read (nothing is written).
        OSError: ``out`` cannot be written.
    """
    from analytics.driving.scorecard import DEFAULT_WEIGHTS
    from hub.reports.drivers import collect, render
    from hub.storage.drivers import DriverStatsRepository
    from hub.storage.trips import TripRepository

    check_window(start, end)
    with connect(db_url) as conn:
        stats, trips = DriverStatsRepository(conn, rules), TripRepository(conn)
        report = collect(stats, start, end, tz, weights or DEFAULT_WEIGHTS, trips)
    out.write_text(render(report), encoding="utf-8")
    return report
