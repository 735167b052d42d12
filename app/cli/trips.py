"""``citytrack trips``: the stored trips as a table for a supervisor, or as JSON lines.

The table shows each trip's start and end in the city's local time, the vehicle and
driver by name, duration, distance (km), driving time, top speed (km/h), halts (short
standstills such as collection stops), where it started and ended (WGS84 degrees) and
what ended it ("in progress" for a drive that goes on: the hub stores the open trip
provisionally). JSON mode prints one ``hub.storage.trips.StoredTrip`` per line, the objects
``GET /api/drivers/{id}/trips`` returns. Trips are what the hub's rollups have built
(``hub.storage.rollups``); ``citytrack db rollups`` builds them now.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from app.cli.common import (
    ConfigOpt,
    DbOpt,
    JsonLinesOpt,
    check_window,
    city_zone,
    database,
    failing_as,
    show_stored,
    table_console,
    when,
)
from citytrack.config import load_config

if TYPE_CHECKING:
    from hub.storage.trips import StoredTrip


def trips(
    vehicle: Annotated[str | None, typer.Option(help="device id")] = None,
    driver: Annotated[str | None, typer.Option(help="driver id")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="date or time (city time); default: --to - 24 h")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="date or time; default: now")] = None,
    json_out: JsonLinesOpt = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Trips the hub has built (drives between stops), starting in [--from, --to)."""
    cfg = load_config(config)
    tz = city_zone(cfg)
    until = when(end, tz, "--to") if end else datetime.now(tz)
    since = when(start, tz, "--from") if start else until - timedelta(days=1)
    check_window(since, until)
    console = table_console(220)
    with failing_as("cannot read trips"), database(cfg, db) as url:
        show_trips(url, tz, console, vehicle=vehicle, driver=driver, start=since, end=until,
                   as_json=json_out)  # fmt: skip


def show_trips(
    db_url: str,
    tz: ZoneInfo,
    console: Console,
    *,
    vehicle: str | None,
    driver: str | None,
    start: datetime,
    end: datetime,
    as_json: bool,
) -> None:
    """Print the trips starting in ``[start, end)`` (aware, ``start < end``), filtered, on
    ``console``.

    Raises:
        StoreError: the database cannot be read.
    """
    from hub.storage.trips import TripRepository

    show_stored(
        db_url,
        console,
        what="trips",
        as_json=as_json,
        query=lambda conn: TripRepository(conn).trips(
            start, end, device_id=vehicle, driver_id=driver
        ),
        table=lambda found, vehicles, drivers: render_table(
            found, vehicles, drivers, tz, datetime.now(tz)
        ),
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def render_table(
    trips: list[StoredTrip],
    vehicles: Mapping[str, str],
    drivers: Mapping[str, str],
    tz: ZoneInfo,
    now: datetime,
) -> Table:
    """A rich table of ``trips`` (names looked up by device and driver id); the open trip
    says whether it is in progress at ``now`` (``hub.reports.trips.ended_words``)."""
    from analytics.driving.trips import TripConfig
    from hub.reports.trips import ended_words

    km = sum(t.distance_m for t in trips) / 1000
    table = Table(title=f"{len(trips)} trip(s), {km:.1f} km, oldest first")
    for header in (f"Start ({tz.key})", "End", "Vehicle", "Driver", "Duration", "km",
                   "Driving", "Max km/h", "Halts", "From", "To", "Ended by"):  # fmt: skip
        table.add_column(header, no_wrap=header not in ("Vehicle", "Driver"))
    for t in trips:
        driver = drivers.get(t.driver_id, t.driver_id) if t.driver_id else "-"
        table.add_row(
            t.start_time.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            t.end_time.astimezone(tz).strftime("%H:%M:%S"),
            f"{vehicles.get(t.device_id, t.device_id)} [dim]({t.device_id})[/dim]",
            driver,
            _minutes(t.duration_s),
            f"{t.distance_m / 1000:.2f}",
            _minutes(t.driving_s),
            f"{t.max_speed_mps * 3.6:.0f}",
            str(t.halts),
            f"{t.start_lat_deg:.5f}, {t.start_lon_deg:.5f}",
            f"{t.end_lat_deg:.5f}, {t.end_lon_deg:.5f}",
            ended_words(t, now, TripConfig().max_gap_s),
        )
    return table
