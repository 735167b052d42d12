"""``citytrack trips``: the stored trips as a table for a supervisor, or as JSON lines.

The table shows each trip's start and end in the city's local time, the vehicle and
driver by name, duration, distance (km), driving time, top speed (km/h), halts (short
standstills such as collection stops), where it started and ended (WGS84 degrees) and
what ended it. JSON mode prints one ``hub.storage.trips.StoredTrip`` per line, the objects
``GET /api/drivers/{id}/trips`` returns. Trips are what the hub's rollups have built
(``hub.storage.rollups``); ``citytrack db rollups`` builds them now.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
from rich.console import Console
from rich.table import Table

from hub.reports.alerts_table import fail, show, zone
from hub.storage.fleet import DeviceRepository, StoreError, StoreUnavailableError
from hub.storage.trips import StoredTrip, TripRepository


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def render_table(
    trips: list[StoredTrip],
    vehicles: Mapping[str, str],
    drivers: Mapping[str, str],
    tz: ZoneInfo,
) -> Table:
    """A rich table of ``trips`` (names looked up by device and driver id)."""
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
            t.ended_by,
        )
    return table


def trips_main(
    *,
    db_url: str,
    vehicle: str | None,
    driver: str | None,
    start: datetime,
    end: datetime,
    as_json: bool,
    console: Console | None = None,
    timezone: str = "Asia/Tokyo",
) -> int:
    """Print the trips starting in ``[start, end)`` (aware), filtered; the exit code.

    Returns 0 on success, 1 when the database cannot be read (the reason is printed).

    Raises:
        ValueError: naive times, ``end <= start`` or an unknown ``timezone``.
    """
    console = console or Console(width=None if sys.stdout.isatty() else 220)
    tz = zone(timezone)
    if start.utcoffset() is None or end.utcoffset() is None or end <= start:
        raise ValueError(f"need timezone-aware start < end, got {start!r}, {end!r}")
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            trips = TripRepository(conn).trips(start, end, device_id=vehicle, driver_id=driver)
            vehicles, drivers = ({}, {}) if as_json else DeviceRepository(conn).names()
    except psycopg.OperationalError as exc:  # the connect itself
        return fail(console, "trips", StoreUnavailableError("connect", str(exc).strip()))
    except StoreError as exc:
        return fail(console, "trips", exc)
    show(console, trips, as_json, "trips", lambda: render_table(trips, vehicles, drivers, tz))
    return 0
