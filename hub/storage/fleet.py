"""The hub's repositories over PostgreSQL (plain or TimescaleDB), through psycopg 3.

Size: the fleet's repositories (fixes, alerts, dead letters, devices), which share the
fix columns and the row helpers; each class is small.

Every repository receives a ``psycopg.Connection`` and never opens, commits or closes it:
the caller owns the transaction, so one ingest batch (fixes, statuses, alerts) commits or
rolls back as a whole. ``hub.storage.schema.upgrade`` creates the tables. Times go in and come
out timezone-aware UTC; units are in the column and field names.

Errors: ``hub.storage.db`` (``StoreUnavailableError``, ``StoreRejectedError``).

Bad arguments (a naive datetime, ``limit < 1``) raise ``InvalidInputError`` before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from citytrack.alerts import Alert
from citytrack.config import CityConfig
from citytrack.errors import InvalidInputError
from citytrack.wire import DeviceStatus, Fix
from hub.storage.db import Connection, own_transaction, require_aware, translate_errors, utc_row

# --- fixes --------------------------------------------------------------------------------

FIX_COLUMNS = (
    "device_id",
    "seq",
    "fix_time",
    "recv_time",
    "ingest_time",
    "lat_deg",
    "lon_deg",
    "speed_mps",
    "course_deg",
    "alt_m",
    "quality",
    "mode",
    "sats_used",
    "hdop",
    "pdop",
    "vdop",
    "driver_id",
)
_FIX_TYPES = (
    "text",
    "int8",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "float8",
    "float8",
    "float8",
    "float8",
    "float8",
    "int2",
    "int2",
    "int2",
    "float8",
    "float8",
    "float8",
    "text",
)
_STAGE = "citytrack_fix_stage"


# The DELETE empties the stage in the same statement; DISTINCT ON keeps the first copy of
# a key repeated inside the batch; ``fresh`` drops the keys already stored (in the days
# whose seq span holds the seq); ``spans`` widens the spans of the days written to.
# 24 hours, not '1 day': added to a timestamptz, a day follows the session's time zone.
_INSERT_NEW_FIXES = """
WITH staged AS (DELETE FROM {stage} RETURNING *),
batch AS (
    SELECT DISTINCT ON (device_id, seq) * FROM staged ORDER BY device_id, seq, ord
),
fresh AS (
    SELECT b.* FROM batch b
    WHERE NOT EXISTS (
        SELECT 1 FROM fix_seq_days d JOIN fixes f
            ON f.device_id = d.device_id AND f.seq = b.seq
            AND f.fix_time >= d.day AND f.fix_time < d.day + interval '24 hours'
        WHERE d.device_id = b.device_id AND d.max_seq >= b.seq AND d.min_seq <= b.seq
    )
),
inserted AS (
    INSERT INTO fixes ({cols}) SELECT {cols} FROM fresh
    ON CONFLICT DO NOTHING RETURNING device_id, seq, fix_time
),
spans AS (
    INSERT INTO fix_seq_days AS d (device_id, day, min_seq, max_seq)
    SELECT device_id, date_trunc('day', fix_time, 'UTC'), min(seq), max(seq)
    FROM inserted GROUP BY 1, 2
    ON CONFLICT (device_id, day) DO UPDATE
    SET min_seq = least(d.min_seq, excluded.min_seq),
        max_seq = greatest(d.max_seq, excluded.max_seq)
)
SELECT device_id, seq FROM inserted
"""


def _fix_row(fix: Fix, ingest_time: datetime) -> tuple[Any, ...]:
    return tuple(ingest_time if c == "ingest_time" else getattr(fix, c) for c in FIX_COLUMNS)


class FixRepository:
    """GNSS fixes, deduplicated on (device_id, seq)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _ensure_stage(self, cur: psycopg.Cursor[Any]) -> None:
        # One temp table per session, created on first use (again if the transaction that
        # created it rolled back); ON COMMIT DELETE ROWS: nothing staged outlives a commit.
        if cur.execute("SELECT to_regclass(%s)", (f"pg_temp.{_STAGE}",)).fetchone() != (None,):
            return
        cols = ", ".join(f"{c} {t}" for c, t in zip(FIX_COLUMNS, _FIX_TYPES, strict=True))
        cur.execute(f"CREATE TEMP TABLE {_STAGE} (ord int4, {cols}) ON COMMIT DELETE ROWS")

    @translate_errors("insert fixes")
    def insert_batch(self, fixes: Sequence[Fix], ingest_time: datetime) -> list[tuple[str, int]]:
        """Store a batch of fixes stamped with the hub's ``ingest_time`` (aware, UTC).

        (device_id, seq) is a fix's identity, on plain PostgreSQL and TimescaleDB alike: a
        fix whose (device_id, seq) is already stored, or repeated inside the batch, is a
        duplicate and is not stored, whatever its ``fix_time`` (the first one stored
        stays). A device's seq never goes backwards, so a seq that comes back with another
        time is a replay of a damaged or reset outbox, not a new position.

        Binary COPY into a staging table, then one ``INSERT ... SELECT`` that skips the
        keys already stored: looked up in ``fix_seq_days`` (which days of the device hold
        that seq) and then in those days of ``fixes``, since on TimescaleDB the unique
        index includes ``fix_time`` and cannot refuse such a fix itself. A lock per device
        (for the transaction) keeps two writers of one device from both storing a seq.

        Returns:
            The (device_id, seq) keys that were new, in no particular order; the caller
            counts duplicates as ``len(fixes) - len(new)``.

        Raises:
            ValueError: ``ingest_time`` is naive.
            StoreUnavailableError, StoreRejectedError: the database failed.
        """
        require_aware(ingest_time=ingest_time)
        if not fixes:
            return []
        cols = ", ".join(FIX_COLUMNS)
        with own_transaction(self._conn), self._conn.cursor() as cur:
            self._ensure_stage(cur)
            with cur.copy(f"COPY {_STAGE} (ord, {cols}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", *_FIX_TYPES])
                for ord_, fix in enumerate(fixes):
                    copy.write_row((ord_, *_fix_row(fix, ingest_time)))
            # Its own statement: the INSERT's snapshot then sees what a writer that held
            # the lock before us committed.
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('fixes:' || device_id, 0)) "
                f"FROM (SELECT DISTINCT device_id FROM {_STAGE} ORDER BY 1) d"
            )
            cur.execute(_INSERT_NEW_FIXES.format(stage=_STAGE, cols=cols))
            return [(str(d), int(s)) for d, s in cur.fetchall()]

    @translate_errors("count fixes")
    def count(self, device_id: str | None = None) -> int:
        """Number of stored fixes, of one device or of all."""
        one = device_id is not None
        query = "SELECT count(*) FROM fixes" + (" WHERE device_id = %s" if one else "")
        row = self._conn.execute(query, (device_id,) if one else ()).fetchone()
        return int(row[0]) if row else 0

    @translate_errors("read recent fixes")
    def recent(self, device_id: str, span: timedelta) -> list[Fix]:
        """The device's fixes of the last ``span`` before its newest one, in seq order (the
        order the detectors saw them in)."""
        cols = ", ".join(c for c in FIX_COLUMNS if c != "ingest_time")
        with self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {cols} FROM fixes WHERE device_id = %(d)s AND fix_time >= "
                "(SELECT max(fix_time) FROM fixes WHERE device_id = %(d)s) - %(span)s "
                "ORDER BY seq",
                {"d": device_id, "span": span},
            )
            rows = cur.fetchall()
        return [Fix(**utc_row(r, "fix_time", "recv_time")) for r in rows]

    @translate_errors("read track")
    def track(self, device_id: str, since: datetime, until: datetime) -> list[Fix]:
        """Fixes of one device with ``since <= fix_time < until``, in time then seq order.

        Raises:
            ValueError: a naive ``since`` or ``until``.
        """
        require_aware(since=since)
        require_aware(until=until)
        cols = ", ".join(c for c in FIX_COLUMNS if c != "ingest_time")
        with self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {cols} FROM fixes WHERE device_id = %s AND fix_time >= %s "
                "AND fix_time < %s ORDER BY fix_time, seq",
                (device_id, since, until),
            )
            rows = cur.fetchall()
        return [Fix(**utc_row(r, "fix_time", "recv_time")) for r in rows]


def watermarks(conn: Connection) -> dict[str, int]:
    """Per device, the highest seq stored of its fixes, edge events and passages (what the
    hub's retained watermarks say after a restart)."""
    with translate_errors("read watermarks"):
        rows = conn.execute(
            "SELECT device_id, max(max_seq) FROM fix_seq_days GROUP BY device_id "
            "UNION ALL SELECT device_id, max(seq) FROM edge_events GROUP BY device_id "
            "UNION ALL SELECT station_id, max(seq) FROM passages GROUP BY station_id"
        ).fetchall()
    marks: dict[str, int] = {}
    for device_id, seq in rows:
        marks[str(device_id)] = max(int(seq), marks.get(str(device_id), 0))
    return marks


# --- alerts -------------------------------------------------------------------------------


class StoredAlert(Alert):
    """An alert as stored: the detector's ``Alert`` plus the row id and insert time."""

    id: int = Field(description="row id, increasing with insertion")
    created_at: AwareDatetime = Field(description="when the hub stored the alert, UTC")


_ALERT_FIELDS = (
    "device_id",
    "driver_id",
    "kind",
    "severity",
    "start_time",
    "end_time",
    "lat_deg",
    "lon_deg",
    "details",
)
_ALERT_RETURNING = "id, created_at, " + ", ".join(_ALERT_FIELDS)


def _alert_row(alert: Alert) -> tuple[Any, ...]:
    details = Jsonb(alert.details.model_dump(mode="json"))
    return (*(getattr(alert, f) for f in _ALERT_FIELDS[:-1]), details)


def _stored_alert(row: dict[str, Any]) -> StoredAlert:
    return StoredAlert(**utc_row(row, "start_time", "end_time", "created_at"))


class AlertRepository:
    """Detector alerts, unique on (device_id, kind, start_time) so re-detection is a no-op."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @translate_errors("insert alerts")
    def insert(self, alerts: Sequence[Alert]) -> list[StoredAlert]:
        """Store alerts; returns only those that were new, in input order."""
        if not alerts:
            return []
        query = (
            f"INSERT INTO alerts ({', '.join(_ALERT_FIELDS)}) "
            f"VALUES ({', '.join(['%s'] * len(_ALERT_FIELDS))}) "
            f"ON CONFLICT DO NOTHING RETURNING {_ALERT_RETURNING}"
        )
        params = [_alert_row(a) for a in alerts]
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = [cur.execute(query, p).fetchone() for p in params]  # None: already stored
        return [_stored_alert(row) for row in rows if row is not None]

    @translate_errors("query alerts")
    def query(
        self,
        *,
        device_id: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[StoredAlert]:
        """Alerts newest first (by start_time), filtered; ``since <= start_time < until``.

        Raises:
            InvalidInputError: a naive ``since``/``until`` or ``limit < 1``.
        """
        require_aware(since=since)
        require_aware(until=until)
        if limit < 1:
            raise InvalidInputError(f"limit must be >= 1, got {limit}")
        where, params = _alert_filter(device_id=device_id, kind=kind, since=since, until=until)
        query = sql.SQL(
            "SELECT {cols} FROM alerts {where} ORDER BY start_time DESC, id DESC LIMIT %s"
        ).format(cols=sql.SQL(_ALERT_RETURNING), where=where)
        with self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, (*params, limit))
            return [_stored_alert(r) for r in cur.fetchall()]

    @translate_errors("count alerts")
    def counts_by_kind(self, since: datetime | None = None) -> dict[str, int]:
        """Number of alerts per kind with ``start_time >= since`` (all if None)."""
        require_aware(since=since)
        where, params = _alert_filter(since=since)
        query = sql.SQL("SELECT kind, count(*) FROM alerts {where} GROUP BY kind").format(
            where=where
        )
        return {str(k): int(n) for k, n in self._conn.execute(query, params).fetchall()}


_ALERT_CONDITIONS = {
    "device_id": "device_id = %s",
    "kind": "kind = %s",
    "since": "start_time >= %s",
    "until": "start_time < %s",
}


def _alert_filter(**values: Any) -> tuple[sql.Composable, list[Any]]:
    """A WHERE clause (maybe empty) and its parameters, for the filters that are set."""
    used = [(_ALERT_CONDITIONS[k], v) for k, v in values.items() if v is not None]
    if not used:
        return sql.SQL(""), []
    conds = sql.SQL(" AND ").join(sql.SQL(cond) for cond, _ in used)
    return sql.SQL("WHERE ") + conds, [v for _, v in used]


# --- dead letters -------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    """A message the hub could not use, kept for inspection."""

    id: int
    received_at: datetime  # UTC
    topic: str
    payload: bytes
    reason: str


MAX_DEAD_PAYLOAD = 64 * 1024  # bytes of a dead letter's payload kept: enough to see why
MAX_DEAD_TOPIC = 512
MAX_DEAD_REASON = 2000


class DeadLetterRepository:
    """Messages that broke the contract or failed processing, with the reason."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @translate_errors("insert dead letter")
    def insert(self, topic: str, payload: bytes, reason: str, received_at: datetime) -> None:
        """Keep one unusable message. Raises ValueError on a naive ``received_at``."""
        self.insert_many([(topic, payload, reason, received_at)])

    @translate_errors("insert dead letters")
    def insert_many(self, letters: Sequence[tuple[str, bytes, str, datetime]]) -> None:
        """Keep unusable messages: (topic, payload, reason, received_at) each. A payload
        over ``MAX_DEAD_PAYLOAD`` bytes keeps only its start, and the reason says so.

        Raises:
            ValueError: a naive ``received_at``.
        """
        rows = []
        for topic, payload, reason, received_at in letters:
            require_aware(received_at=received_at)
            why = reason[:MAX_DEAD_REASON]
            if len(payload) > MAX_DEAD_PAYLOAD:
                why += f" (payload of {len(payload)} bytes, first {MAX_DEAD_PAYLOAD} kept)"
            rows.append((received_at, topic[:MAX_DEAD_TOPIC], payload[:MAX_DEAD_PAYLOAD], why))
        if not rows:
            return
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dead_letters (received_at, topic, payload, reason) "
                "VALUES (%s, %s, %s, %s)",
                rows,
            )

    @translate_errors("count dead letters")
    def count(self) -> int:
        row = self._conn.execute("SELECT count(*) FROM dead_letters").fetchone()
        return int(row[0]) if row else 0

    @translate_errors("read dead letters")
    def recent(self, limit: int = 100) -> list[DeadLetter]:
        """The newest ``limit`` dead letters, newest first."""
        rows = self._conn.execute(
            "SELECT id, received_at, topic, payload, reason FROM dead_letters "
            "ORDER BY received_at DESC, id DESC LIMIT %s",
            (limit,),
        ).fetchall()
        return [
            DeadLetter(int(i), t.astimezone(UTC), str(top), bytes(p), str(r))
            for i, t, top, p, r in rows
        ]


# --- devices ------------------------------------------------------------------------------


class VehiclePosition(BaseModel):
    """A registered vehicle with its newest fix and device status (None: never seen)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: str = Field(description="GPS unit id")
    name: str = Field(description="vehicle name or plate")
    vehicle_class: str = Field(description="key of the city's vehicle classes")
    driver_id: str | None = Field(description="driver on duty")
    driver_name: str | None = Field(description="driver's name")
    fix_time: AwareDatetime | None = Field(description="GNSS time of the newest fix, UTC")
    lat_deg: float | None = Field(description="WGS84 latitude of the newest fix, degrees")
    lon_deg: float | None = Field(description="WGS84 longitude of the newest fix, degrees")
    speed_mps: float | None = Field(description="speed over ground at the newest fix, m/s")
    course_deg: float | None = Field(description="course over ground at the newest fix, deg")
    online: bool | None = Field(description="device online per its last status; None: none")
    status_time: AwareDatetime | None = Field(description="device time of that status, UTC")
    counters: dict[str, int] = Field(description="the device's counters from that status")


_LAST_POSITIONS = """
SELECT v.device_id, v.name, v.vehicle_class, v.driver_id, d.name AS driver_name,
       f.fix_time, f.lat_deg, f.lon_deg, f.speed_mps, f.course_deg,
       s.online, s.status_time, COALESCE(s.counters, '{}'::jsonb) AS counters
FROM vehicles v
LEFT JOIN drivers d ON d.id = v.driver_id
LEFT JOIN device_status s ON s.device_id = v.device_id
LEFT JOIN LATERAL (
    SELECT fix_time, lat_deg, lon_deg, speed_mps, course_deg FROM fixes
    WHERE fixes.device_id = v.device_id ORDER BY fix_time DESC, seq DESC LIMIT 1
) f ON TRUE
ORDER BY v.device_id
"""

_UPSERT_STATUS = """
INSERT INTO device_status AS s (device_id, online, status_time, counters, updated_at)
VALUES (%s, %s, %s, %s, now())
ON CONFLICT (device_id) DO UPDATE SET online = EXCLUDED.online,
    status_time = EXCLUDED.status_time, counters = EXCLUDED.counters, updated_at = now()
WHERE s.status_time <= EXCLUDED.status_time
"""


class DeviceRepository:
    """The vehicle and driver registry (from the city config) and device statuses."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @translate_errors("sync registry")
    def sync_registry(self, city: CityConfig) -> None:
        """Upsert the city's drivers and trucks; rows no longer configured are kept."""
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO drivers (id, name) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
                [(d.id, d.name) for d in city.drivers],
            )
            cur.executemany(
                "INSERT INTO vehicles (device_id, name, driver_id, vehicle_class) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (device_id) DO UPDATE SET "
                "name = EXCLUDED.name, driver_id = EXCLUDED.driver_id, "
                "vehicle_class = EXCLUDED.vehicle_class",
                [(t.device_id, t.name, t.driver_id, t.vehicle_class) for t in city.trucks],
            )

    @translate_errors("upsert device status")
    def upsert_status(self, status: DeviceStatus) -> None:
        """Keep the newest status per device; one older (by ``time``) than stored is ignored."""
        self._conn.execute(
            _UPSERT_STATUS,
            (status.device_id, status.online, status.time, Jsonb(status.counters)),
        )

    @translate_errors("read last positions")
    def last_positions(self) -> list[VehiclePosition]:
        """Every registered vehicle, by device_id, with its newest fix and status."""
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(_LAST_POSITIONS).fetchall()
        return [VehiclePosition(**utc_row(r, "fix_time", "status_time")) for r in rows]

    @translate_errors("read registry names")
    def names(self) -> tuple[dict[str, str], dict[str, str]]:
        """For display: (device_id -> vehicle name, driver id -> driver name)."""
        vehicles = self._conn.execute("SELECT device_id, name FROM vehicles").fetchall()
        drivers = self._conn.execute("SELECT id, name FROM drivers").fetchall()
        return dict(vehicles), dict(drivers)
