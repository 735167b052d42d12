"""Trips and stops per truck, built at the hub from the stored fixes, each with its driver.

``TripRepository.build(device_id, now)`` runs the pure segmenter (``analytics.driving.trips``:
what a trip, a halt and a stop are) over the device's fixes in ``fix_time`` order and
keeps what it closed: trips ended by a stop or a gap, stops ended by a departure. The
open stop at the end of the data is not stored; the open trip is, when the build has a
``now``: ended by ``silence`` at its last fix, provisionally. It is the trip in progress
(its last fix less than ``TripConfig.max_gap_s`` before ``now``: more fixes will extend
it) or a truck gone silent (the segmenter will end it at the same place by a gap once the
next fix comes). Either way the report, the API and ``citytrack trips`` see it at once,
right after a drive (the demo's, say) and not only ``max_gap_s`` later, and every build
redoes it (a backlog of fixes that continues the drive extends it).

Incremental and idempotent, one transaction per device under an advisory lock::

    resume   the end of the device's last trip ended by a stop or a gap (there the
             segmenter starts afresh: standing, with nothing pending), or its first fix
    late     a fix stored after the previous build (ingest_time newer than its
             trip_builds.ingest_mark) but older than the newest fix that build read
             (fix_mark), at most late_window_s before resume, arrived out of order: it
             may change the last trip that ended before it (whose end was decided by
             the fixes after its end), so resume moves back to the end of the trip
             before that one (or to the first fix)
    rebuild  read the fixes from resume on, in (fix_time, seq) order; delete the
             device's trips and stops starting at or after resume; insert what closed;
             record the new marks

Reading by fix time from a watermark makes the result independent of arrival order and
of hub restarts: a second build over the same fixes writes the same rows. Only usable
fixes are read: a fix (GGA quality > 0, or not reported), HDOP within ``max_hdop`` and at
least ``min_sats`` satellites (where reported), as for the driver statistics.

Attribution: a trip or stop belongs to the driver of its truck's newest fix at most 60 s
before its start, else to ``driver_at`` without a card, the rule of the view
``driver_alerts`` (schema ``0011_drivers``; ``hub.storage.drivers`` explains it). A trip across a
roster shift change belongs to the driver who started it.

Errors: ``hub.storage.db.StoreUnavailableError`` / ``StoreRejectedError`` from every query;
``ValueError`` for naive datetimes or ``end <= start`` before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from psycopg.rows import dict_row
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from analytics.driving.scorecard import TripSummary, summarize_trips
from analytics.driving.trips import (
    Stop,
    StopEnded,
    Trip,
    TripConfig,
    TripEnded,
    TripEvent,
    TripSegmenter,
)
from citytrack.config import QualityConfig
from citytrack.wire import Fix
from hub.storage import trips_sql as trip_sql
from hub.storage.db import (
    Connection,
    own_transaction,
    require_aware,
    require_window,
    translate_errors,
    utc_row,
)

EndedBy = Literal["stop", "gap", "silence"]
FETCH_ROWS = 5000
"""Fixes fetched per round trip from the server-side cursor."""
_LOCK_CLASS = 0x74726970  # "trip": first key of the per-device pg_advisory_xact_lock


@dataclass(frozen=True)
class TripRules:
    """How fixes become trips: the segmenter's thresholds, which fixes are usable, and how
    far before the watermark late fixes are looked for (s)."""

    segmenter: TripConfig = field(default_factory=TripConfig)
    max_hdop: float = 5.0  # fixes with a worse HDOP are not used
    min_sats: int = 4  # fixes with fewer satellites used are not used
    late_window_s: float = 86_400.0  # late fixes further back are not looked for

    @classmethod
    def from_quality(cls, quality: QualityConfig) -> TripRules:
        """Rules using the detectors' fix filter (``[detectors.quality]``)."""
        segmenter = TripConfig(max_jump_speed_mps=quality.max_implied_speed_mps)
        return cls(segmenter=segmenter, max_hdop=quality.max_hdop, min_sats=quality.min_sats)


class StoredTrip(BaseModel):
    """A closed trip as stored: times UTC, places WGS84 degrees."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: str = Field(description="GPS unit id of the truck")
    driver_id: str | None = Field(description="driver at the start; None: unknown")
    start_time: AwareDatetime = Field(description="last fix at rest before driving off, UTC")
    end_time: AwareDatetime = Field(description="first fix of the stop that ended it, UTC")
    duration_s: float = Field(description="end_time - start_time (halts included), s")
    distance_m: float = Field(description="distance driven, m")
    driving_s: float = Field(description="time moving (halts excluded), s")
    max_speed_mps: float = Field(description="highest receiver speed while moving, m/s")
    halts: int = Field(description="standstills shorter than a stop (collection, lights)")
    halted_s: float = Field(description="their total duration, s")
    start_lat_deg: float = Field(description="where it started, latitude")
    start_lon_deg: float = Field(description="where it started, longitude")
    end_lat_deg: float = Field(description="where it ended, latitude")
    end_lon_deg: float = Field(description="where it ended, longitude")
    ended_by: EndedBy = Field(
        description="stop; gap: no fix for max_gap_s, then data again; silence: the open "
        "trip, no fix after its end as of the last build (provisional: in progress, or "
        "the truck went silent)"
    )


class StoredStop(BaseModel):
    """A closed stop (a dwell between trips) as stored: times UTC, mean place WGS84."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: str = Field(description="GPS unit id of the truck")
    driver_id: str | None = Field(description="driver at the arrival; None: unknown")
    start_time: AwareDatetime = Field(description="arrival, UTC")
    end_time: AwareDatetime = Field(description="departure (the next trip's start), UTC")
    duration_s: float = Field(description="end_time - start_time, s")
    lat_deg: float = Field(description="mean latitude of the standing fixes")
    lon_deg: float = Field(description="mean longitude of the standing fixes")


class DriverTrips(BaseModel):
    """A driver's trips and stops starting in ``[start, end)``, with their summary."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    driver_id: str = Field(description="driver identifier")
    driver_name: str | None = Field(description="registered name; None: not registered")
    start: AwareDatetime = Field(description="range start (inclusive), UTC")
    end: AwareDatetime = Field(description="range end (exclusive), UTC")
    summary: TripSummary = Field(description="counts and sums of the trips and stops")
    trips: list[StoredTrip] = Field(description="oldest first")
    stops: list[StoredStop] = Field(description="oldest first")


@dataclass(frozen=True)
class TripBuild:
    """What one ``build`` did: where it resumed (None: no fixes), rows written, and whether
    late fixes moved the watermark back."""

    device_id: str
    since: datetime | None
    trips: int
    stops: int
    late: bool
    open_trips: int = 0  # of ``trips``: the open one at the end of the data (0 or 1)


def _ended_by(trip: Trip) -> EndedBy:
    """A trip the segmenter closed at the end of the data ended in silence."""
    return "silence" if trip.ended_by == "flush" else trip.ended_by


def _trip_row(trip: Trip) -> dict[str, Any]:
    t = trip
    return {
        "device_id": t.device_id, "start_time": t.start, "end_time": t.end,
        "duration_s": t.duration_s, "distance_m": t.distance_m, "driving_s": t.driving_s,
        "max_speed_mps": t.max_speed_mps, "halts": t.halts, "halted_s": t.halted_s,
        "start_lat_deg": t.start_lat_deg, "start_lon_deg": t.start_lon_deg,
        "end_lat_deg": t.end_lat_deg, "end_lon_deg": t.end_lon_deg, "ended_by": _ended_by(t),
    }  # fmt: skip


def _stop_row(stop: Stop) -> dict[str, Any]:
    s = stop
    return {
        "device_id": s.device_id, "start_time": s.arrival, "end_time": s.departure,
        "duration_s": s.duration_s, "lat_deg": s.lat_deg, "lon_deg": s.lon_deg,
    }  # fmt: skip


class TripRepository:
    """Trips and stops (tables of schema step ``0013_trips``): built from fixes, read back."""

    def __init__(self, conn: Connection, rules: TripRules | None = None) -> None:
        self._conn = conn
        self.rules = rules or TripRules()

    @translate_errors("build trips")
    def build(self, device_id: str, now: datetime | None = None) -> TripBuild:
        """(Re)build the device's trips and stops from its watermark on (module docstring).

        ``now`` (aware): the hub's clock; with it the open trip at the end of the data is
        stored as ended by ``silence`` (provisional); None: store only what the data
        itself closed. Runs in
        the caller's transaction, or in its own on an idle autocommit connection.

        Raises:
            ValueError: ``now`` is naive.
        """
        require_aware(now=now)
        with own_transaction(self._conn):
            self._conn.execute(
                "SELECT pg_advisory_xact_lock(%s::int4, hashtext(%s))", (_LOCK_CLASS, device_id)
            )
            since, late = self._resume(device_id)
            if since is None:
                return TripBuild(device_id, None, 0, 0, late=False)
            window = timedelta(seconds=self.rules.late_window_s)
            # before reading: a fix committed meanwhile is read now and found late next time
            mark = self._scalar(
                "SELECT max(ingest_time) FROM fixes WHERE device_id = %s AND fix_time >= %s",
                (device_id, since - window),
            )
            trips, stops, newest = self._segment(device_id, since, now)
            self._replace(device_id, since, trips, stops)
            self._conn.execute(trip_sql.RECORD, (device_id, mark, newest))
        still_open = sum(1 for t in trips if t.ended_by == "flush")
        return TripBuild(device_id, since, len(trips), len(stops), late, still_open)

    def _scalar(self, query: str, params: Mapping[str, Any] | tuple[Any, ...]) -> Any:
        row = self._conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def _closed_end(self, device_id: str, before: datetime | None = None) -> datetime | None:
        """The end of the device's last trip ended by a stop or a gap (before ``before``)."""
        result: datetime | None = self._scalar(
            trip_sql.LAST_CLOSED, {"device": device_id, "before": before}
        )
        return result

    def _resume(self, device_id: str) -> tuple[datetime | None, bool]:
        """Where to rebuild from (None: no fixes), and whether late fixes moved it back."""
        first = self._scalar("SELECT min(fix_time) FROM fixes WHERE device_id = %s", (device_id,))
        closed = self._closed_end(device_id)
        if first is None or closed is None:
            return first, False
        window = timedelta(seconds=self.rules.late_window_s)
        late = self._scalar(trip_sql.LATE, {"device": device_id, "look_from": closed - window})
        if late is None:
            return closed, False
        hit = self._closed_end(device_id, before=late)  # may change: its end came before
        earlier = None if hit is None else self._closed_end(device_id, before=hit)
        return (first if earlier is None else earlier), True

    def _segment(
        self, device_id: str, since: datetime, now: datetime | None
    ) -> tuple[list[Trip], list[Stop], datetime | None]:
        """The trips and stops the segmenter closes over the fixes from ``since`` on, and
        the newest fix's time (None: no fix read)."""
        cfg = self.rules.segmenter
        segmenter = TripSegmenter(cfg)
        events: list[TripEvent] = []
        last: datetime | None = None
        params = {"device": device_id, "since": since}
        params |= {"max_hdop": self.rules.max_hdop, "min_sats": self.rules.min_sats}
        with self._conn.cursor(name="citytrack_trip_fixes") as cur:
            cur.itersize = FETCH_ROWS
            cur.execute(trip_sql.FIXES, params)
            for seq, fix_time, lat, lon, speed in cur:
                fix = Fix(device_id=device_id, seq=seq, fix_time=fix_time, recv_time=fix_time,
                          lat_deg=lat, lon_deg=lon, speed_mps=speed)  # fmt: skip
                events += segmenter.step(fix)
                last = fix_time
        if now is not None:  # the open trip, provisionally (module docstring)
            events += [e for e in segmenter.flush() if isinstance(e, TripEnded)]
        trips = [e.trip for e in events if isinstance(e, TripEnded)]
        return trips, [e.stop for e in events if isinstance(e, StopEnded)], last

    def _replace(
        self, device_id: str, since: datetime, trips: list[Trip], stops: list[Stop]
    ) -> None:
        for table in ("trips", "stops"):
            self._conn.execute(
                f"DELETE FROM {table} WHERE device_id = %s AND start_time >= %s",
                (device_id, since),
            )
        with self._conn.cursor() as cur:
            if trips:
                cur.executemany(
                    trip_sql.insert("trips", trip_sql.TRIP_COLUMNS), [_trip_row(t) for t in trips]
                )
            if stops:
                cur.executemany(
                    trip_sql.insert("stops", trip_sql.STOP_COLUMNS), [_stop_row(s) for s in stops]
                )

    @translate_errors("read trips")
    def trips(
        self,
        start: datetime,
        end: datetime,
        *,
        device_id: str | None = None,
        driver_id: str | None = None,
    ) -> list[StoredTrip]:
        """Trips starting in ``[start, end)``, of one truck and/or driver, oldest first.

        Raises:
            ValueError: naive times or ``end <= start``.
        """
        require_window(start, end)
        params = {"start": start, "end": end, "device": device_id, "driver": driver_id}
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(trip_sql.select("trips", trip_sql.TRIP_COLUMNS), params).fetchall()
        return [StoredTrip(**utc_row(r, "start_time", "end_time")) for r in rows]

    @translate_errors("read stops")
    def stops(
        self,
        start: datetime,
        end: datetime,
        *,
        device_id: str | None = None,
        driver_id: str | None = None,
    ) -> list[StoredStop]:
        """Stops starting in ``[start, end)``, of one truck and/or driver, oldest first.

        Raises:
            ValueError: naive times or ``end <= start``.
        """
        require_window(start, end)
        params = {"start": start, "end": end, "device": device_id, "driver": driver_id}
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(trip_sql.select("stops", trip_sql.STOP_COLUMNS), params).fetchall()
        return [StoredStop(**utc_row(r, "start_time", "end_time")) for r in rows]

    @translate_errors("read vehicles")
    def devices(self) -> list[str]:
        """The registered vehicles' device ids (the trucks to build trips for)."""
        rows = self._conn.execute("SELECT device_id FROM vehicles ORDER BY device_id")
        return [str(r[0]) for r in rows.fetchall()]


def driver_trips(
    repo: TripRepository,
    names: Mapping[str, str],
    driver_id: str,
    start: datetime,
    end: datetime,
) -> DriverTrips | None:
    """The driver's trips and stops starting in ``[start, end)`` with their summary.

    ``names``: registered drivers, id -> name. Returns None for a driver neither
    registered nor attributed a trip or stop in the range.

    Raises:
        ValueError: naive times or ``end <= start``.
        StoreUnavailableError, StoreRejectedError: the database failed.
    """
    trips = repo.trips(start, end, driver_id=driver_id)
    stops = repo.stops(start, end, driver_id=driver_id)
    if driver_id not in names and not trips and not stops:
        return None
    return DriverTrips(
        driver_id=driver_id,
        driver_name=names.get(driver_id),
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        summary=summarize_trips(trips, stops),
        trips=trips,
        stops=stops,
    )
