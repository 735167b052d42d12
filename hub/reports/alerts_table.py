"""``citytrack alerts``: the stored alerts as a table for a supervisor, or as JSON lines.

The table shows each alert's start in the city's local time and in UTC, the vehicle and
driver by name, kind, severity, duration, the peak of the episode (peak deceleration or
acceleration in m/s^2 for harsh events, maximum speed in km/h against the limit for
speeding, from the detectors' ``details``) and where it happened (WGS84 degrees). JSON
mode prints one ``StoredAlert`` per line, the same objects as ``GET /api/alerts``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from hub.storage.fleet import (
    AlertRepository,
    DeviceRepository,
    StoredAlert,
    StoreError,
    StoreUnavailableError,
)

DEFAULT_TIMEZONE = "Asia/Tokyo"
_SEVERITY_STYLE = {"low": "yellow", "medium": "dark_orange", "high": "bold red"}


def peak_text(details: Mapping[str, Any]) -> str:
    """The episode's peak in words, from the detectors' ``details`` ('' when unknown)."""
    if "max_speed_kmh" in details:
        text = f"{float(details['max_speed_kmh']):.0f} km/h"
        if details.get("limit_kmh") is not None:
            text += f" (limit {float(details['limit_kmh']):.0f})"
        return text
    if "peak_mps2" in details:
        return f"{float(details['peak_mps2']):.1f} m/s²"
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


def alerts_main(
    *,
    db_url: str,
    vehicle: str | None,
    kind: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_json: bool,
    console: Console | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> int:
    """Print the alerts matching the filters; returns the exit code.

    ``since``/``until`` (aware) bound the alert start time, ``since`` inclusive.
    Returns 0 on success, 1 when the database cannot be read (the reason is printed).

    Raises:
        ValueError: naive ``since``/``until``, ``limit < 1`` or an unknown ``timezone``.
    """
    # piped output (files, pagers, tests) is not squeezed into 80 columns
    console = console or Console(width=None if sys.stdout.isatty() else 200)
    tz = zone(timezone)
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            alerts = AlertRepository(conn).query(
                device_id=vehicle, kind=kind, since=since, until=until, limit=limit
            )
            vehicles, drivers = ({}, {}) if as_json else DeviceRepository(conn).names()
    except psycopg.OperationalError as exc:  # the connect itself
        return fail(console, "alerts", StoreUnavailableError("connect", str(exc).strip()))
    except StoreError as exc:
        return fail(console, "alerts", exc)
    show(console, alerts, as_json, "alerts", lambda: render_table(alerts, vehicles, drivers, tz))
    return 0


def show(
    console: Console,
    records: Sequence[BaseModel],
    as_json: bool,
    what: str,
    table: Callable[[], Table],
) -> None:
    """Print ``records`` as JSON lines, or ``table()``, or that none of ``what`` match."""
    if as_json:
        for record in records:
            console.out(record.model_dump_json(), highlight=False)
    elif not records:
        console.print(f"No {what} match.")
    else:
        console.print(table())


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def fail(console: Console, what: str, exc: StoreError) -> int:
    """Print why ``what`` could not be read; the exit code."""
    console.print(f"[red]cannot read {what}:[/red] {exc}", highlight=False)
    return 1
