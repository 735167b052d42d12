"""A day's plan against what the trucks actually drove (``citytrack routes compare``).

The database side: each truck's stored fixes for the local day, turned into distance and
working time by :func:`analytics.routing.compare.truck_day` (quality filter included).
The plan is a ``plan.json`` written by ``citytrack routes plan``, or one computed now.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from analytics.routing.compare import (
    DayComparison,
    RouteFigures,
    TruckDay,
    compare_day,
    route_figures,
    truck_day,
)
from analytics.routing.model import RoutingError
from analytics.routing.plan_io import read_plan_routes
from citytrack.config import CitytrackConfig
from hub.routes.plan import DayLoader, default_loader, load_day, plan_day
from hub.storage.db import translate_errors
from hub.storage.fleet import FixRepository


def day_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """Local midnight of ``day`` to the next local midnight (aware)."""
    tz = ZoneInfo(timezone)
    return datetime.combine(day, time(), tz), datetime.combine(day + timedelta(days=1), time(), tz)


@translate_errors("read the day's fixes")
def actual_day(conn: psycopg.Connection[Any], cfg: CitytrackConfig, day: date) -> list[TruckDay]:
    """What every device with fixes on the local ``day`` did, sorted by device id.

    Raises :class:`StoreError` when the database fails.
    """
    since, until = day_window(day, cfg.city.timezone)
    rows = conn.execute(
        "SELECT DISTINCT device_id FROM fixes WHERE fix_time >= %s AND fix_time < %s "
        "ORDER BY device_id",
        (since, until),
    ).fetchall()
    fixes = FixRepository(conn)
    depot = (cfg.city.depot.lat_deg, cfg.city.depot.lon_deg)
    return [
        truck_day(device, fixes.track(device, since, until), depot, cfg.detectors.quality)
        for (device,) in rows
    ]


def read_plan_file(path: Path, day: date) -> list[RouteFigures]:
    """The routes of the ``plan.json`` at ``path``, which must be for ``day``.

    Raises :class:`RoutingError` naming the file for an unreadable, malformed or other
    day's plan.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RoutingError(f"{path}: cannot read the plan: {exc}", path=path) from exc
    try:
        planned_day, routes = read_plan_routes(doc)
    except RoutingError as exc:
        raise RoutingError(f"{path}: {exc}", path=path) from exc
    if planned_day != day:
        raise RoutingError(f"{path}: a plan for {planned_day}, not {day}", path=path)
    return routes


def _planned(
    db_url: str, cfg: CitytrackConfig, day: date, plan: Path | None, seconds: float, load: DayLoader
) -> list[RouteFigures]:
    if plan is not None:
        return read_plan_file(plan, day)
    result = plan_day(load_day(db_url, cfg, day, load), seconds)
    if result.violations:
        broken = "; ".join(str(v) for v in result.violations)
        raise RoutingError(f"the plan made now fails its check: {broken}")
    return route_figures(result.plan)


def compare_plan(
    db_url: str,
    cfg: CitytrackConfig,
    day: date,
    plan: Path | None,
    seconds: float,
    load: DayLoader | None = None,
) -> DayComparison:
    """``day``'s plan (the file ``plan``, else one computed now for ``seconds``) next to
    what was driven.

    Raises:
        RoutingError: the plan cannot be read or made, or fails its check.
        StoreError: the database failed.
    """
    planned = _planned(db_url, cfg, day, plan, seconds, load or default_loader())
    with translate_errors("connect"):
        conn = psycopg.connect(db_url, autocommit=True)
    with conn:
        actual = actual_day(conn, cfg, day)
    return compare_day(day, planned, actual)
