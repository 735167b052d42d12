"""The ``notifications`` table: one row per (event, guardian, channel) notice.

Like ``hub.storage.fleet``'s repositories, ``NotificationRepository`` receives a connection and
never commits or closes it. Every notice the policy decided is stored, dropped ones
too (status ``dropped`` with the ``reason``), so the unique key (event_id, guardian_id,
channel) makes re-processing an event a no-op. A broadcast's rows share one
``event_id``, the broadcast id, with ``kind = 'emergency'`` and no child.

Statuses: ``queued`` (due at ``due_at``, possibly being delivered), ``deferred``
(quiet hours: due at ``due_at``), ``delivered``, ``failed`` (permanently, or out of
attempts; ``last_error`` says why), ``dropped``.

Times go in aware and come out in UTC. Errors: ``hub.storage.db.StoreUnavailableError`` and
``StoreRejectedError`` (psycopg errors translated); ``ValueError`` for a naive time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from hub.storage.db import Connection, require_aware, translate_errors

STATUSES = ("queued", "delivered", "failed", "dropped", "deferred")


@dataclass(frozen=True)
class NewNotice:
    """A notice to store. ``status`` is ``queued``, ``deferred`` or ``dropped``."""

    event_id: str
    guardian_id: str
    child_id: str | None
    channel: str
    recipient: str
    kind: str
    station_id: str | None
    school_id: str | None
    event_time: datetime
    subject: str
    text: str
    status: str
    reason: str
    due_at: datetime
    retry_key: str


@dataclass(frozen=True)
class Notice(NewNotice):
    """A stored notice with its delivery record (times UTC)."""

    id: int
    attempts: int
    last_error: str | None
    created_at: datetime
    handed_at: datetime | None  # first hand-off to the channel
    delivered_at: datetime | None


_NEW_COLUMNS = tuple(f.name for f in fields(NewNotice))
_ALL_COLUMNS = tuple(f.name for f in fields(Notice))
_TIMES = ("event_time", "due_at", "created_at", "handed_at", "delivered_at")


def _notice(row: dict[str, Any]) -> Notice:
    values = {
        k: (v.astimezone(UTC) if k in _TIMES and v is not None else v) for k, v in row.items()
    }
    values["retry_key"] = str(values["retry_key"])
    return Notice(**values)


def _param(notice: NewNotice, column: str) -> Any:
    value = getattr(notice, column)
    return uuid.UUID(value) if column == "retry_key" else value


class NotificationRepository:
    """Stored notices and their delivery state."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @translate_errors("insert notifications")
    def insert(self, notices: Sequence[NewNotice], created_at: datetime) -> list[int]:
        """Store notices; one already stored (same event, guardian, channel) is skipped.

        Returns:
            The ids of the rows that were new, in input order.

        Raises:
            ValueError: a naive time.
        """
        require_aware(created_at=created_at)
        for n in notices:
            require_aware(event_time=n.event_time)
            require_aware(due_at=n.due_at)
        if not notices:
            return []
        cols = ", ".join((*_NEW_COLUMNS, "created_at"))
        marks = ", ".join(["%s"] * (len(_NEW_COLUMNS) + 1))
        query = (
            f"INSERT INTO notifications ({cols}) VALUES ({marks}) "
            "ON CONFLICT (event_id, guardian_id, channel) DO NOTHING RETURNING id"
        )
        params = [(*(_param(n, c) for c in _NEW_COLUMNS), created_at) for n in notices]
        ids: list[int] = []
        with self._conn.cursor() as cur:
            cur.executemany(query, params, returning=True)
            while True:
                row = cur.fetchone()
                if row is not None:
                    ids.append(int(row[0]))
                if not cur.nextset():
                    break
        return ids

    @translate_errors("read notified events")
    def notified(self, event_ids: Sequence[str]) -> set[tuple[str, str]]:
        """The (event_id, guardian_id) pairs among ``event_ids`` that are already stored."""
        if not event_ids:
            return set()
        rows = self._conn.execute(
            "SELECT DISTINCT event_id, guardian_id FROM notifications WHERE event_id = ANY(%s)",
            (list(event_ids),),
        ).fetchall()
        return {(str(e), str(g)) for e, g in rows}

    @translate_errors("claim due notifications")
    def claim_due(self, now: datetime, limit: int, lease_s: float) -> list[Notice]:
        """Take up to ``limit`` queued or deferred notices due at ``now``, oldest due first.

        Claimed rows become ``queued`` with ``due_at = now + lease_s``: should the claimer
        die before recording the attempt, the notice is due again when the lease ends.
        Rows locked by another claimer are skipped.

        Raises:
            ValueError: a naive ``now`` or ``limit < 1``.
        """
        require_aware(now=now)
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        query = (
            "WITH due AS (SELECT id FROM notifications "
            " WHERE status IN ('queued', 'deferred') AND due_at <= %s "
            " ORDER BY due_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE notifications n SET status = 'queued', due_at = %s "
            f"FROM due WHERE n.id = due.id RETURNING {', '.join('n.' + c for c in _ALL_COLUMNS)}"
        )
        lease_end = now + timedelta(seconds=lease_s)
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query, (now, limit, lease_end)).fetchall()
        return sorted((_notice(r) for r in rows), key=lambda n: n.id)

    @translate_errors("record delivery attempt")
    def record_attempt(
        self,
        notice_id: int,
        *,
        status: str,
        handed_at: datetime,
        error: str | None = None,
        delivered_at: datetime | None = None,
        next_due: datetime | None = None,
    ) -> None:
        """Count one attempt: the new ``status`` (``queued`` to retry at ``next_due``,
        ``delivered`` or ``failed``), the error text, and the first hand-off time.

        Raises:
            ValueError: a naive time, or an unknown status.
        """
        if status not in ("queued", "delivered", "failed"):
            raise ValueError(f"an attempt ends queued, delivered or failed, not {status!r}")
        for name, value in (("handed_at", handed_at), ("delivered_at", delivered_at)):
            require_aware(**{name: value})
        require_aware(next_due=next_due)
        self._conn.execute(
            "UPDATE notifications SET attempts = attempts + 1, status = %s, last_error = %s, "
            "handed_at = COALESCE(handed_at, %s), delivered_at = %s, "
            "due_at = COALESCE(%s, due_at) WHERE id = %s",
            (status, error, handed_at, delivered_at, next_due, notice_id),
        )

    @translate_errors("release notifications")
    def release(self, notice_ids: Sequence[int], due_at: datetime) -> None:
        """Give claimed, unattempted notices back: still ``queued``, due at ``due_at``.

        Raises:
            ValueError: a naive ``due_at``.
        """
        require_aware(due_at=due_at)
        if notice_ids:
            self._conn.execute(
                "UPDATE notifications SET due_at = %s WHERE id = ANY(%s) AND status = 'queued'",
                (due_at, list(notice_ids)),
            )

    @translate_errors("count notifications")
    def counts(self, event_id: str | None = None) -> dict[str, int]:
        """Notices per status (every status present, zeros included), of one event or all."""
        one = event_id is not None
        query = "SELECT status, count(*) FROM notifications" + (
            " WHERE event_id = %s" if one else ""
        )
        rows = self._conn.execute(query + " GROUP BY status", (event_id,) if one else ()).fetchall()
        return {**dict.fromkeys(STATUSES, 0), **{str(s): int(n) for s, n in rows}}

    @translate_errors("count pending notifications")
    def pending(self) -> int:
        """Notices still to be delivered now or on retry (``queued``; not ``deferred``)."""
        row = self._conn.execute("SELECT count(*) FROM notifications WHERE status = 'queued'")
        found = row.fetchone()
        return int(found[0]) if found else 0

    @translate_errors("query notifications")
    def query(
        self,
        *,
        event_id: str | None = None,
        guardian_id: str | None = None,
        limit: int = 1000,
    ) -> list[Notice]:
        """Notices in id order, filtered by event and/or guardian.

        Raises:
            ValueError: ``limit < 1``.
        """
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        conds = [(c, v) for c, v in (("event_id", event_id), ("guardian_id", guardian_id)) if v]
        where = " AND ".join(f"{c} = %s" for c, _ in conds)
        query = (
            f"SELECT {', '.join(_ALL_COLUMNS)} FROM notifications "
            f"{'WHERE ' + where if where else ''} ORDER BY id LIMIT %s"
        )
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query.encode(), (*(v for _, v in conds), limit)).fetchall()
        return [_notice(r) for r in rows]

    @translate_errors("read hand-off latencies")
    def handoff_latencies_s(self, since: datetime) -> list[float]:
        """Seconds from event to first hand-off, of notices created at or after ``since``.

        Raises:
            ValueError: a naive ``since``.
        """
        require_aware(since=since)
        rows = self._conn.execute(
            "SELECT EXTRACT(EPOCH FROM handed_at - event_time) FROM notifications "
            "WHERE handed_at IS NOT NULL AND created_at >= %s ORDER BY id",
            (since,),
        ).fetchall()
        return [float(r[0]) for r in rows]
