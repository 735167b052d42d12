"""One retention job deletes a child's whereabouts in every form once the policy says so.

The databases here are plain PostgreSQL whatever the server: on TimescaleDB its policy
drops old passages, and ``prune`` leaves them to it (``tests/test_hub_schema.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from hub.storage import schema
from hub.storage.retention import PruneResult, prune
from hub.storage.schema.ddl import Retention

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c, timescale=False)
        yield c


def _passage(conn: psycopg.Connection, seq: int, at: datetime) -> None:
    conn.execute(
        "INSERT INTO passages (station_id, seq, beacon_kind, beacon_id, tag_id, child_id,"
        " first_seen, last_seen, closest_time, peak_rssi_dbm, adv_count, ingest_time)"
        " VALUES ('gate-1', %s, 'ibeacon', 'b', 'tag-1', 'hana', %s, %s, %s, -60, 5, %s)",
        (seq, at, at, at, at),
    )


def _event(conn: psycopg.Connection, event_id: str, at: datetime) -> None:
    conn.execute(
        "INSERT INTO watch_events (event_id, kind, child_id, time)"
        " VALUES (%s, 'passed', 'hana', %s)",
        (event_id, at),
    )


def _notice(conn: psycopg.Connection, event_id: str, status: str, at: datetime) -> None:
    conn.execute(
        "INSERT INTO notifications (event_id, guardian_id, child_id, channel, recipient, kind,"
        " event_time, text, status, retry_key, created_at, due_at)"
        " VALUES (%s, 'g-1', 'hana', 'webhook', 'https://x', 'passed', %s, 't', %s,"
        " gen_random_uuid(), %s, %s)",
        (event_id, at, status, at, at),
    )


def _count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
    assert row is not None
    return int(row[0])


def test_a_childs_data_goes_after_the_watch_retention(conn: psycopg.Connection) -> None:
    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=29)
    _passage(conn, 1, old)
    _passage(conn, 2, recent)
    _event(conn, "e-old", old)
    _event(conn, "e-new", recent)
    _notice(conn, "e-old", "delivered", old)
    _notice(conn, "e-new", "delivered", recent)
    _notice(conn, "e-stuck", "queued", old)  # still the delivery queue: kept

    result = prune(conn, Retention(passages_days=30), now=NOW)

    assert result == PruneResult(passages=1, watch_events=1, notifications=1)
    assert (_count(conn, "passages"), _count(conn, "watch_events")) == (1, 1)
    kept = conn.execute("SELECT event_id FROM notifications ORDER BY event_id").fetchall()
    assert [r[0] for r in kept] == ["e-new", "e-stuck"]


def test_nothing_older_than_the_policy_is_left(conn: psycopg.Connection) -> None:
    for seq, days in enumerate((400, 45, 7, 1), start=1):
        _passage(conn, seq, NOW - timedelta(days=days))
    prune(conn, Retention(passages_days=7), now=NOW)
    row = conn.execute("SELECT min(closest_time) FROM passages").fetchone()
    assert row is not None and row[0] >= NOW - timedelta(days=7)
