"""Who drove which truck when, and what each driver did: the queries behind scorecards.

Attribution, one rule for fixes, kilometres and alerts (``driver_at`` in SQL, schema step
``0011_drivers``; ``resolve_driver`` is the same rule over the configuration)::

    1. the driver card the unit read (``Fix.driver_id``), if any;
    2. else the roster shift covering the time (start <= t < end, no end: still on
       duty; of overlapping shifts the latest start wins);
    3. else the truck's default driver (``Truck.driver_id``).

Views ``driver_fixes`` and ``driver_alerts`` attribute every fix and alert; an alert
belongs to the driver of its truck's newest fix at most 60 s before the alert starts
(the fix it started on). The ``driver_id`` the pipeline stored with an alert (the
truck's default) is kept as ``recorded_driver_id`` and not used here.

Motion, measured in SQL with window functions over the fixes of one device
(``MotionRules``): a step joins two consecutive accepted fixes (fix quality > 0, HDOP and
satellites within the limits); a step longer than ``max_gap_s`` or faster than
``max_implied_speed_mps`` (a GNSS jump) is dropped. A step is *driving* when its speed,
the mean of the receiver's speeds at both ends (else distance / time), is above
``moving_mps``; kilometres and driving time sum the driving steps only, so the position
noise of a parked truck adds no distance. A step belongs to the local day and the driver
of its later fix; an alert to the local day of its start. Time spent speeding is the
sum of speeding alerts' durations, s.

Errors: ``hub.storage.db.StoreUnavailableError`` / ``StoreRejectedError`` from every query;
``ValueError`` for naive datetimes or ``end <= start`` before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from analytics.driving.scorecard import (
    DEFAULT_WEIGHTS,
    DriverScorecard,
    Exposure,
    Period,
    ScoreWeights,
    build_scorecard,
)
from citytrack.config import CityConfig, QualityConfig, RosterEntry, ScoresConfig
from citytrack.wire import EventKind
from hub.storage import drivers_sql as driver_sql
from hub.storage.db import Connection, require_aware, require_window, translate_errors


@dataclass(frozen=True)
class MotionRules:
    """How fixes become kilometres and driving time (``from_quality``: the detectors' filter)."""

    max_gap_s: float = 10.0  # a longer step is a gap, not driving, s
    max_implied_speed_mps: float = 70.0  # a faster step is a GNSS jump, m/s
    moving_mps: float = 1.5  # slower is standing still, m/s
    max_hdop: float = 5.0  # fixes with a worse HDOP are not used
    min_sats: int = 4  # fixes with fewer satellites used are not used

    @classmethod
    def from_quality(cls, quality: QualityConfig) -> MotionRules:
        """Rules using the detectors' fix filter (``[detectors.quality]``)."""
        return cls(
            max_implied_speed_mps=quality.max_implied_speed_mps,
            max_hdop=quality.max_hdop,
            min_sats=quality.min_sats,
        )


def resolve_driver(city: CityConfig, device_id: str, at: datetime, card: str | None) -> str | None:
    """The driver of ``device_id`` at ``at`` by the attribution rule, from the config.

    Returns None for an unknown truck with neither card nor shift.

    Raises:
        ValueError: ``at`` is naive.
    """
    require_aware(at=at)
    if card:
        return card
    covering = [
        r
        for r in city.roster
        if r.device_id == device_id and r.start <= at and (r.end is None or at < r.end)
    ]
    if covering:
        return max(covering, key=lambda r: r.start).driver_id
    truck = city.truck(device_id)
    return truck.driver_id if truck else None


class RosterRepository:
    """The roster (``driver_shifts``), mirrored from ``[[city.roster]]``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @translate_errors("sync roster")
    def sync(self, roster: Sequence[RosterEntry]) -> None:
        """Upsert shifts keyed on (device_id, start); shifts no longer configured are kept.

        Raises:
            ValueError: a shift start or end without a UTC offset.
        """
        for entry in roster:
            require_aware(start=entry.start, end=entry.end)
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO driver_shifts (device_id, driver_id, start_time, end_time) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (device_id, start_time) DO UPDATE SET "
                "driver_id = EXCLUDED.driver_id, end_time = EXCLUDED.end_time",
                [(r.device_id, r.driver_id, r.start, r.end) for r in roster],
            )

    @translate_errors("read driver")
    def driver_at(self, device_id: str, at: datetime, card: str | None = None) -> str | None:
        """The database's answer to the attribution rule (``driver_at``)."""
        require_aware(at=at)
        row = self._conn.execute("SELECT driver_at(%s, %s, %s)", (device_id, at, card)).fetchone()
        return None if row is None or row[0] is None else str(row[0])


@dataclass(frozen=True)
class DriverDay:
    """One driver's exposure on one truck and one local day (driver None: unattributed)."""

    driver_id: str | None
    device_id: str
    day: date
    exposure: Exposure


@dataclass(frozen=True)
class RoutePoint:
    """A fix of the driver's route, for maps (WGS84 degrees, UTC)."""

    device_id: str
    fix_time: datetime
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True)
class DriverEvent:
    """An alert attributed to the driver: kind, severity, start/end (UTC), where."""

    device_id: str
    kind: str
    severity: str
    start_time: datetime
    end_time: datetime
    lat_deg: float
    lon_deg: float


class DriverStatsRepository:
    """Per-driver distance, driving time, events and routes, measured from the fixes."""

    def __init__(self, conn: Connection, rules: MotionRules | None = None) -> None:
        self._conn = conn
        self.rules = rules or MotionRules()

    def _params(self, start: datetime, end: datetime, driver: str | None) -> dict[str, Any]:
        require_window(start, end)
        r = self.rules
        return {
            "start": start,
            "end": end,
            "driver": driver,
            "max_gap_s": r.max_gap_s,
            "max_implied_speed_mps": r.max_implied_speed_mps,
            "moving_mps": r.moving_mps,
            "max_hdop": r.max_hdop,
            "min_sats": r.min_sats,
        }

    @translate_errors("read driver days")
    def days(
        self, start: datetime, end: datetime, tz: ZoneInfo, driver_id: str | None = None
    ) -> list[DriverDay]:
        """Exposure per driver, truck and local day (in ``tz``) for ``start <= t < end``."""
        params = {
            **self._params(start, end, driver_id),
            "tz": tz.key,
            "speeding": EventKind.SPEEDING,
        }
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(driver_sql.DAYS, params).fetchall()
        return [_driver_day(r) for r in rows]

    @translate_errors("read speed profile")
    def speed_profile(
        self, start: datetime, end: datetime, driver_id: str | None = None, bin_kmh: int = 5
    ) -> dict[str | None, dict[float, float]]:
        """Driving time (s) per speed bin (lower edge, km/h), by driver."""
        params = {**self._params(start, end, driver_id), "bin_kmh": bin_kmh}
        profile: dict[str | None, dict[float, float]] = {}
        for driver, edge, seconds in self._conn.execute(
            driver_sql.SPEED_PROFILE, params
        ).fetchall():
            profile.setdefault(driver, {})[float(edge)] = float(seconds)
        return profile

    @translate_errors("read route")
    def route(
        self,
        driver_id: str,
        start: datetime,
        end: datetime,
        max_points: int = 3000,
        devices: Sequence[str] | None = None,
    ) -> list[RoutePoint]:
        """The driver's accepted fixes, evenly thinned to at most about ``max_points``.

        ``devices``: only look at these trucks (the ones the driver drove: faster).
        """
        params = {
            **self._params(start, end, driver_id),
            "max_points": max(1, max_points),
            "devices": None if devices is None else list(devices),
        }
        rows = self._conn.execute(driver_sql.ROUTE, params).fetchall()
        return [RoutePoint(str(d), t.astimezone(UTC), float(a), float(o)) for d, t, a, o in rows]

    @translate_errors("read driver events")
    def events(self, driver_id: str, start: datetime, end: datetime) -> list[DriverEvent]:
        """Alerts attributed to the driver that start in ``[start, end)``, oldest first."""
        require_window(start, end)
        params = {"driver": driver_id, "start": start, "end": end}
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(driver_sql.EVENTS, params).fetchall()
        return [
            DriverEvent(
                **{
                    **r,
                    "start_time": r["start_time"].astimezone(UTC),
                    "end_time": r["end_time"].astimezone(UTC),
                }
            )
            for r in rows
        ]

    @translate_errors("read drivers")
    def drivers(self) -> dict[str, str]:
        """Registered drivers: id -> name."""
        rows = self._conn.execute("SELECT id, name FROM drivers ORDER BY id").fetchall()
        return {str(i): str(n) for i, n in rows}

    @translate_errors("refresh driver_daily")
    def refresh_daily(self, first: date, last: date, tz: ZoneInfo) -> int:
        """Recompute the ``driver_daily`` rollup for local days ``first..last`` in ``tz``.

        Replaces those days' rows in one statement group (run it in a transaction to make
        readers see old or new, never half); returns the number of rows written.
        """
        start = datetime.combine(first, time(), tz)
        end = datetime.combine(last, time(), tz) + timedelta(days=1)
        rows = [d for d in self.days(start, end, tz) if d.driver_id is not None]
        self._conn.execute(
            "DELETE FROM driver_daily WHERE timezone = %s AND day BETWEEN %s AND %s",
            (tz.key, first, last),
        )
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO driver_daily (timezone, day, driver_id, device_id, km, driving_s, "
                "speeding_s, events) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [_daily_row(tz, d) for d in rows],
            )
        return len(rows)

    @translate_errors("read driver_daily")
    def daily(
        self, first: date, last: date, tz: ZoneInfo, driver_id: str | None = None
    ) -> list[DriverDay]:
        """Rows of the ``driver_daily`` rollup for local days ``first..last`` in ``tz``."""
        query = (
            "SELECT driver_id, device_id, day, km, driving_s, events, speeding_s "
            "FROM driver_daily WHERE timezone = %s AND day BETWEEN %s AND %s "
            "AND (%s::text IS NULL OR driver_id = %s::text) ORDER BY driver_id, day, device_id"
        )
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query, (tz.key, first, last, driver_id, driver_id)).fetchall()
        return [_driver_day(r) for r in rows]


def score_weights(scores: ScoresConfig) -> ScoreWeights:
    """The default weights with the configured minimum driving (``[scores]``) below which
    a period is not scored: not enough driving yet."""
    return ScoreWeights(min_km=scores.min_km, min_driving_s=scores.min_driving_s)


def driver_scorecard(
    stats: DriverStatsRepository,
    driver_id: str,
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    period: Period,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> DriverScorecard | None:
    """The driver's scorecard over ``[start, end)``, measured live from fixes and alerts.

    Returns None for a driver neither registered nor attributed anything in the range.

    Raises:
        ValueError: naive times or ``end <= start``.
        StoreUnavailableError, StoreRejectedError: the database failed.
    """
    names = stats.drivers()
    days = stats.days(start, end, tz, driver_id)
    if driver_id not in names and not days:
        return None
    return build_scorecard(
        driver_id,
        names.get(driver_id),
        [(d.day, d.exposure) for d in days],
        start=start,
        end=end,
        tz=tz,
        period=period,
        weights=weights,
    )


def _driver_day(row: dict[str, Any]) -> DriverDay:
    exposure = Exposure(
        km=float(row["km"]),
        driving_s=float(row["driving_s"]),
        events={str(k): int(v) for k, v in row["events"].items()},
        speeding_s=float(row["speeding_s"]),
    )
    driver = None if row["driver_id"] is None else str(row["driver_id"])
    return DriverDay(driver, str(row["device_id"]), row["day"], exposure)


def _daily_row(tz: ZoneInfo, d: DriverDay) -> tuple[Any, ...]:
    e = d.exposure
    return (
        tz.key,
        d.day,
        d.driver_id,
        d.device_id,
        e.km,
        e.driving_s,
        e.speeding_s,
        Jsonb(dict(e.events)),
    )
