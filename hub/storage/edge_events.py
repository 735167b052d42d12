"""The ``edge_events`` table (harsh events the vehicles detected themselves) and the
queries that reconcile them with stored alerts (``hub.pipeline.reconcile_alerts``).

Errors: ``hub.storage.db.StoreUnavailableError`` / ``StoreRejectedError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from analytics.driving.reconcile import SLACK_S
from citytrack.alerts import Alert, AlertDetails
from citytrack.wire import DrivingEvent
from hub.storage.db import Connection, translate_errors
from hub.storage.fleet import StoredAlert

POSITION_WITHIN_S = 60.0
"""How far in time the hub looks for a fix to place an edge event without a position, s."""

_EVENT_COLUMNS = (
    "device_id",
    "seq",
    "kind",
    "source",
    "start_time",
    "end_time",
    "peak_mps2",
    "threshold_mps2",
    "direction",
    "lat_deg",
    "lon_deg",
    "speed_mps",
    "ingest_time",
)
_ALERT_COLUMNS = (
    "id, created_at, device_id, driver_id, kind, severity, start_time, end_time, "
    "lat_deg, lon_deg, details"
)


def _event_row(event: DrivingEvent, ingest_time: datetime) -> tuple[Any, ...]:
    values = {"kind": event.event_kind, "ingest_time": ingest_time}
    return tuple(values[c] if c in values else getattr(event, c) for c in _EVENT_COLUMNS)


class EdgeEventRepository:
    """Edge events, unique on (device_id, seq); and where a device was at a given time."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @translate_errors("insert edge events")
    def insert(self, events: Sequence[DrivingEvent], ingest_time: datetime) -> list[DrivingEvent]:
        """Store events stamped with the hub's ``ingest_time`` (aware); returns those that
        were new, in input order (a repeat, stored or earlier in ``events``, is skipped)."""
        query = (
            f"INSERT INTO edge_events ({', '.join(_EVENT_COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(_EVENT_COLUMNS))}) "
            "ON CONFLICT DO NOTHING RETURNING seq"
        )
        new: list[DrivingEvent] = []
        with self._conn.cursor() as cur:
            for event in events:
                if cur.execute(query, _event_row(event, ingest_time)).fetchone() is not None:
                    new.append(event)
        return new

    @translate_errors("count edge events")
    def count(self, device_id: str | None = None) -> int:
        """Stored edge events, of one device or of all."""
        one = device_id is not None
        query = "SELECT count(*) FROM edge_events" + (" WHERE device_id = %s" if one else "")
        row = self._conn.execute(query, (device_id,) if one else ()).fetchone()
        return int(row[0]) if row else 0

    @translate_errors("locate edge event")
    def position_near(
        self, device_id: str, at: datetime, within_s: float = POSITION_WITHIN_S
    ) -> tuple[float, float] | None:
        """(lat, lon) degrees of the device's stored fix nearest to ``at`` within
        ``within_s`` seconds, or None."""
        span = timedelta(seconds=within_s)
        row = self._conn.execute(
            "SELECT lat_deg, lon_deg FROM fixes WHERE device_id = %s "
            "AND fix_time BETWEEN %s AND %s "
            "ORDER BY abs(extract(epoch FROM fix_time - %s)), seq LIMIT 1",
            (device_id, at - span, at + span, at),
        ).fetchone()
        return None if row is None else (float(row[0]), float(row[1]))


class AlertMergeRepository:
    """What reconciliation needs of the alerts table: the alerts near some findings, and
    merged details written back."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @translate_errors("query alerts near findings")
    def near(self, alerts: Sequence[Alert], slack_s: float = SLACK_S) -> list[StoredAlert]:
        """Stored alerts of the same device and kind as one of ``alerts`` whose interval
        overlaps it or lies at most ``slack_s`` seconds away; by start time, then id."""
        slack = timedelta(seconds=slack_s)
        found: dict[int, StoredAlert] = {}
        with self._conn.cursor(row_factory=dict_row) as cur:
            for alert in alerts:
                cur.execute(
                    f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE device_id = %s AND kind = %s "
                    "AND start_time <= %s AND end_time >= %s",
                    (alert.device_id, alert.kind, alert.end_time + slack, alert.start_time - slack),
                )
                for row in cur.fetchall():
                    found[int(row["id"])] = _stored(row)
        return sorted(found.values(), key=lambda a: (a.start_time, a.id))

    @translate_errors("update alert details")
    def update_details(self, alert_id: int, details: AlertDetails) -> None:
        """Replace the details of alert ``alert_id``."""
        self._conn.execute(
            "UPDATE alerts SET details = %s WHERE id = %s",
            (Jsonb(details.model_dump(mode="json")), alert_id),
        )


def _stored(row: dict[str, Any]) -> StoredAlert:
    times = ("start_time", "end_time", "created_at")
    return StoredAlert(**{**row, **{k: row[k].astimezone(UTC) for k in times}})
