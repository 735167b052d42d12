"""Supervisors' HTTP API for driver scorecards (a router the hub's app mounts).

Endpoints::

    GET /api/drivers/{driver_id}/scorecard   ?from=&to=&period=day|week
    GET /api/drivers/{driver_id}/trips       ?from=&to=

``from`` (inclusive) and ``to`` (exclusive) are plain dates (local midnight) or times, read
in the city's zone without an offset (``hub.api.times``); the range
is at most ``MAX_RANGE_DAYS`` days. Days and weeks (ISO, from Monday) are local days in
the city's time zone. The scorecard is a
``analytics.driving.scorecard.DriverScorecard``: the range's
totals and one entry per period (distance, driving time, alerts by kind and per 100 km,
share of driving time speeding, the 0-100 score and the points lost by cause), the very
numbers of the driving-tendency report (``hub.reports.drivers``). The trips answer is a
``hub.storage.trips.DriverTrips``: the driver's trips and stops starting in the range, as
the hub's rollups built them, and their summary (count, km, driving time, mean trip
length, stops). A driver neither registered nor attributed anything in the range: 404.
Bad parameters: 422. Store errors become 503/500 through the app's ``StoreError``
handler (``hub.api.app``). Like ``/api/alerts``, these endpoints take no token (unlike the
guardians' API, ``hub.api.guardians``): serve them only where supervisors are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime

from analytics.driving.scorecard import DEFAULT_WEIGHTS, DriverScorecard, Period, ScoreWeights
from hub.api.times import TIME_HELP, required_time
from hub.storage.db import Connection, StoreUnavailableError
from hub.storage.drivers import DriverStatsRepository, MotionRules, driver_scorecard
from hub.storage.trips import DriverTrips, TripRepository, driver_trips

MAX_RANGE_DAYS = 400
NOT_FOUND = "driver not found"
DEFAULT_TZ = ZoneInfo("Asia/Tokyo")

GetConnection = Callable[[], AbstractContextManager[Connection]]


def _check_range(start: AwareDatetime, end: AwareDatetime) -> None:
    if end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "'to' must be after 'from'")
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"range longer than {MAX_RANGE_DAYS} days"
        )


@contextlib.contextmanager
def _connection(get_conn: GetConnection) -> Iterator[Connection]:
    """A connection; psycopg errors on entry (pool timeout, server down): unavailable."""
    try:
        with get_conn() as conn:
            yield conn
    except psycopg.OperationalError as exc:  # includes psycopg_pool.PoolTimeout
        raise StoreUnavailableError("database connection", str(exc).strip()) from exc


def drivers_router(
    get_conn: GetConnection,
    tz: ZoneInfo = DEFAULT_TZ,
    *,
    rules: MotionRules | None = None,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> APIRouter:
    """The driver endpoints over connections from ``get_conn`` (called per request).

    Args:
        get_conn: returns a context manager yielding a connection, e.g.
            ``lambda: app.state.pool.connection()``; psycopg errors it raises on entry
            (pool timeout, server down) become ``StoreUnavailableError``.
        tz: the city's time zone: local days and weeks.
        rules: how fixes become distance and driving time (default ``MotionRules()``).
        weights: the score's penalty weights.
    """
    router = APIRouter(tags=["drivers"])

    @router.get("/api/drivers/{driver_id}/scorecard", response_model=DriverScorecard)
    def scorecard(
        driver_id: str,
        start_text: Annotated[str, Query(alias="from", description=f"range start: {TIME_HELP}")],
        end_text: Annotated[str, Query(alias="to", description="range end, exclusive")],
        period: Annotated[Period, Query(description="day or week (local)")] = "day",
    ) -> DriverScorecard:
        """The driver's scorecard over ``[from, to)``, by local day or ISO week."""
        start, end = required_time(start_text, tz, "from"), required_time(end_text, tz, "to")
        _check_range(start, end)
        with _connection(get_conn) as conn:
            card = driver_scorecard(
                DriverStatsRepository(conn, rules),
                driver_id,
                start=start,
                end=end,
                tz=tz,
                period=period,
                weights=weights,
            )
        if card is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)
        return card

    @router.get("/api/drivers/{driver_id}/trips", response_model=DriverTrips)
    def trips(
        driver_id: str,
        start_text: Annotated[str, Query(alias="from", description=f"range start: {TIME_HELP}")],
        end_text: Annotated[str, Query(alias="to", description="range end, exclusive")],
    ) -> DriverTrips:
        """The driver's trips and stops starting in ``[from, to)``, oldest first."""
        start, end = required_time(start_text, tz, "from"), required_time(end_text, tz, "to")
        _check_range(start, end)
        with _connection(get_conn) as conn:
            names = DriverStatsRepository(conn).drivers()
            found = driver_trips(TripRepository(conn), names, driver_id, start, end)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)
        return found

    return router
