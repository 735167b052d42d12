"""Retention, in one place: every row older than its policy is deleted by one ``prune`` call.

What is kept how long (``Retention``, days; ``[hub]`` and ``[watch]`` in the config)::

    fixes, and the trips and stops built from them     fixes_days
    dead letters                                       dead_letters_days
    a child's passages, watch events and sent notices  passages_days (watch.retention_days):
                                                       a child's whereabouts are kept no
                                                       longer than that, in any form
    alerts, driver_daily, edge events                  kept (the fleet's safety record)

On plain PostgreSQL ``prune`` is the only thing that deletes. On TimescaleDB the
retention policies drop the old chunks of ``fixes``, ``dead_letters`` and ``passages``
(``hub.storage.schema.ddl.RETENTION_POLICIES``; ``schema.upgrade`` keeps them at the
configured lengths) and ``prune`` leaves those three tables alone: it deletes only from the
plain tables. A policy drops a whole chunk (one day) once all of it is older than the
policy, so a row may outlive its policy by up to a day. Notices still queued or deferred
are kept whatever their age: they are the delivery queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from citytrack.config import CitytrackConfig
from hub.storage.db import Connection, translate_errors
from hub.storage.schema import recorded_mode
from hub.storage.schema.ddl import RETENTION_POLICIES, Retention


@dataclass(frozen=True)
class PruneResult:
    """Rows deleted by ``prune``, per table (on TimescaleDB 0 for the tables that its
    policies expire)."""

    fixes: int = 0
    dead_letters: int = 0
    trips: int = 0
    stops: int = 0
    passages: int = 0
    watch_events: int = 0
    notifications: int = 0


def configured_retention(cfg: CitytrackConfig) -> Retention:
    """The retention the configuration asks for (``hub.*_retention_days``,
    ``watch.retention_days``): what the schema's policies and ``prune`` use."""
    return Retention(
        fixes_days=cfg.hub.fixes_retention_days,
        dead_letters_days=cfg.hub.dead_letters_retention_days,
        passages_days=cfg.watch.retention_days,
    )


# (table, time column, the policy's field), in deletion order
_RULES = (
    ("fixes", "fix_time", "fixes_days"),
    ("dead_letters", "received_at", "dead_letters_days"),
    ("trips", "start_time", "fixes_days"),
    ("stops", "start_time", "fixes_days"),
    ("passages", "closest_time", "passages_days"),
    ("watch_events", "time", "passages_days"),
)


@translate_errors("prune")
def prune(conn: Connection, policy: Retention, *, now: datetime | None = None) -> PruneResult:
    """Delete what ``policy`` no longer keeps, as of ``now`` (aware; default: the database
    clock), except from the hypertables whose TimescaleDB policies do it. Runs in the
    caller's transaction.

    Raises:
        ValueError: a naive ``now``.
        StoreUnavailableError, StoreRejectedError: the database failed.
    """
    if now is not None and now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    if now is None:
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        now = row[0]
    assert now is not None
    by_policy = {table for table, _ in RETENTION_POLICIES} if recorded_mode(conn) else set()
    deleted: dict[str, int] = {}
    for table, column, days in _RULES:
        if table in by_policy:
            continue
        cutoff = now - timedelta(days=getattr(policy, days))
        query = f"DELETE FROM {table} WHERE {column} < %s"
        deleted[table] = conn.execute(query.encode(), (cutoff,)).rowcount
    deleted["notifications"] = conn.execute(
        "DELETE FROM notifications WHERE created_at < %s AND status NOT IN ('queued', 'deferred')",
        (now - timedelta(days=policy.passages_days),),
    ).rowcount
    # A day's seq span (hub.storage.fleet.FixRepository) goes a day after the fixes it
    # covers: TimescaleDB drops a day's chunk only once all of it has expired.
    conn.execute(
        "DELETE FROM fix_seq_days WHERE day < %s",
        (now - timedelta(days=policy.fixes_days, hours=24),),
    )
    return PruneResult(**deleted)
