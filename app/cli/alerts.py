"""``citytrack alerts``: the stored alerts as a table for a supervisor, or as JSON lines.

The table shows each alert's start in the city's local time and in UTC, the vehicle and
driver by name, kind, severity, duration, the peak of the episode (peak deceleration or
acceleration in m/s^2 for harsh events, maximum speed in km/h against the limit for
speeding, from the detectors' ``details``) and where it happened (WGS84 degrees). JSON
mode prints one ``StoredAlert`` per line, the same objects as ``GET /api/alerts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from app.cli.common import (
    ConfigOpt,
    DbOpt,
    JsonLinesOpt,
    TimeOpt,
    city_zone,
    database,
    failing_as,
    show_stored,
    table_console,
    when,
)
from citytrack.alerts import AlertDetails, ManoeuvreDetails, SpeedingDetails
from citytrack.config import load_config

if TYPE_CHECKING:
    from hub.storage.fleet import StoredAlert

_SEVERITY_STYLE = {"low": "yellow", "medium": "dark_orange", "high": "bold red"}


def alerts(
    vehicle: Annotated[str | None, typer.Option(help="device id")] = None,
    kind: Annotated[
        str | None, typer.Option(help="harsh_braking, harsh_acceleration, speeding")
    ] = None,
    since: TimeOpt = None,
    until: TimeOpt = None,
    limit: Annotated[int, typer.Option(help="max rows")] = 50,
    json_out: JsonLinesOpt = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """The supervisor's alert list, newest first, starting in [--since, --until)."""
    cfg = load_config(config)
    tz = city_zone(cfg)
    start = when(since, tz, "--since") if since else None
    end = when(until, tz, "--until") if until else None
    console = table_console(200)
    with failing_as("cannot read alerts"), database(cfg, db) as url:
        show_alerts(
            url,
            tz,
            console,
            vehicle=vehicle,
            kind=kind,
            since=start,
            until=end,
            limit=limit,
            as_json=json_out,
        )


def show_alerts(
    db_url: str,
    tz: ZoneInfo,
    console: Console,
    *,
    vehicle: str | None,
    kind: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """Print the alerts matching the filters on ``console``, times in ``tz``.

    ``since``/``until`` (aware) bound the alert start time, ``since`` inclusive.

    Raises:
        InvalidInputError: naive ``since``/``until`` or ``limit < 1``.
        StoreError: the database cannot be read.
    """
    from hub.storage.fleet import AlertRepository

    show_stored(
        db_url,
        console,
        what="alerts",
        as_json=as_json,
        query=lambda conn: AlertRepository(conn).query(
            device_id=vehicle, kind=kind, since=since, until=until, limit=limit
        ),
        table=lambda found, vehicles, drivers: render_table(found, vehicles, drivers, tz),
    )


def peak_text(details: AlertDetails) -> str:
    """The episode's peak in words, from the detectors' ``details`` ('' when unknown)."""
    if isinstance(details, SpeedingDetails) and details.max_speed_kmh is not None:
        text = f"{details.max_speed_kmh:.0f} km/h"
        if details.limit_kmh is not None:
            text += f" (limit {details.limit_kmh:.0f})"
        return text
    if isinstance(details, ManoeuvreDetails) and details.peak_mps2 is not None:
        return f"{details.peak_mps2:.1f} m/s²"
    return ""


def render_table(
    alerts: list[StoredAlert],
    vehicles: Mapping[str, str],
    drivers: Mapping[str, str],
    tz: ZoneInfo,
) -> Table:
    """A rich table of ``alerts`` (names looked up by device and driver id)."""
    table = Table(title=f"{len(alerts)} alert(s), newest first")
    for header in (
        f"Start ({tz.key})",
        "Start (UTC)",
        "Vehicle",
        "Driver",
        "Kind",
        "Severity",
        "Duration",
        "Peak",
        "Location",
    ):
        table.add_column(header, no_wrap=header not in ("Vehicle", "Driver"))
    for a in alerts:
        driver = drivers.get(a.driver_id, a.driver_id) if a.driver_id else "-"
        table.add_row(
            a.start_time.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z"),
            a.start_time.strftime("%Y-%m-%d %H:%M:%SZ"),
            f"{vehicles.get(a.device_id, a.device_id)} [dim]({a.device_id})[/dim]",
            driver,
            a.kind,
            f"[{_SEVERITY_STYLE[a.severity]}]{a.severity}[/]",
            f"{(a.end_time - a.start_time).total_seconds():.1f} s",
            peak_text(a.details),
            f"{a.lat_deg:.5f}, {a.lon_deg:.5f}",
        )
    return table
