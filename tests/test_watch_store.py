"""Child-watch storage on a real PostgreSQL: registry sync, passages, events, retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics.watch.events import WatchEvent, WatchEventKind
from citytrack.config import load_config
from citytrack.config.watch import Tag, WatchConfig
from citytrack.wire import BeaconKind, Passage, Sighting
from hub.storage import schema
from hub.storage.retention import prune
from hub.storage.schema.ddl import Retention
from hub.storage.watch import (
    GuardianRepository,
    PassageRepository,
    WatchEventRepository,
    WatchRegistry,
)

T0 = datetime(2024, 5, 13, 22, 40, tzinfo=UTC)  # 07:40 JST on Tuesday
WATCH = load_config().watch
TAG = next(t for t in WATCH.tags if t.kind == "ibeacon")
WATCH_TABLES = {
    "schools",
    "stations",
    "children",
    "guardians",
    "guardian_children",
    "tags",
    "passages",
    "watch_events",
}


def make_passage(
    seq: int,
    when: datetime = T0,
    *,
    station: str = "gate-naniwa-es",
    beacon_id: str = "e2c56db5-dffb-48d2-b060-d0f5a71096e0/100/4",
) -> Passage:
    return Passage(
        device_id=station,
        seq=seq,
        beacon_kind=BeaconKind.IBEACON,
        beacon_id=beacon_id,
        first_seen=when - timedelta(seconds=4),
        last_seen=when + timedelta(seconds=3),
        closest_time=when,
        peak_rssi_dbm=-61.5,
        adv_count=38,
        battery_mv=2950,
        temperature_c=24.25,
    )


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c)
        WatchRegistry(c).sync(WATCH)
        yield c


def columns(conn: psycopg.Connection, table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
    ).fetchall()
    return {r[0] for r in rows}


def test_schema_steps_create_the_watch_tables(conn: psycopg.Connection) -> None:
    query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    rows = conn.execute(query).fetchall()
    assert {r[0] for r in rows} >= WATCH_TABLES
    names = [s.name for s in schema.steps(False)]
    assert names.index("0009_passages") == names.index("0008_watch_registry") + 1
    # identity keys stay in the hub's configuration; guardians only have a token hash
    assert not any("key" in c for c in columns(conn, "tags"))
    assert columns(conn, "guardians") == {"id", "name", "language", "api_token_sha256"}
    index = conn.execute("SELECT pg_get_indexdef('passages_station_seq_key'::regclass)")
    assert "UNIQUE" in index.fetchone()[0]  # type: ignore[index]


def test_timescale_passages_are_a_hypertable_with_retention() -> None:
    step = next(
        s
        for s in schema.steps(True, schema.Retention(passages_days=45))
        if s.name == "0009_passages"
    )
    text = "\n".join(q for q, _ in step.statements)
    assert "create_hypertable('passages', 'closest_time'" in text
    assert "(station_id, seq, closest_time)" in text
    assert [p for q, p in step.statements if "add_retention_policy('passages'" in q] == [(45,)]


def test_registry_sync_mirrors_the_configuration(conn: psycopg.Connection) -> None:
    WatchRegistry(conn).sync(WATCH)  # again: idempotent
    for table, expected in [
        ("children", len(WATCH.children)),
        ("tags", len(WATCH.tags)),
        ("stations", len(WATCH.stations)),
        ("guardian_children", sum(len(c.guardian_ids) for c in WATCH.children)),
    ]:
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (expected,)
    row = conn.execute("SELECT child_id, kind, trackable FROM tags WHERE id = %s", (TAG.id,))
    assert row.fetchone() == (TAG.child_id, "ibeacon", True)


def test_removing_a_guardian_or_link_revokes_access(conn: psycopg.Connection) -> None:
    g1 = WATCH.guardians[0]
    child = next(c for c in WATCH.children if g1.id in c.guardian_ids)
    repo = GuardianRepository(conn)
    assert repo.with_token_sha256(g1.api_token_sha256) == [(g1.id, g1.api_token_sha256)]
    assert repo.child_of([g1.id], child.id) is not None
    unlinked = [
        c.model_copy(update={"guardian_ids": [WATCH.guardians[1].id]}) if c.id == child.id else c
        for c in WATCH.children
    ]
    WatchRegistry(conn).sync(WATCH.model_copy(update={"children": unlinked}))
    assert repo.child_of([g1.id], child.id) is None
    others = [c for c in unlinked if g1.id not in c.guardian_ids]
    WatchRegistry(conn).sync(
        WatchConfig.model_validate(
            {
                **WATCH.model_dump(),
                "children": others,
                "tags": [],
                "guardians": [g.model_dump() for g in WATCH.guardians[1:]],
            }
        )
    )
    assert repo.with_token_sha256(g1.api_token_sha256) == []
    assert conn.execute("SELECT count(*) FROM tags").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM children").fetchone() == (len(WATCH.children),)


def test_passages_are_stored_once(conn: psycopg.Connection) -> None:
    repo = PassageRepository(conn)
    batch: list[tuple[Passage, Tag | None]] = [(make_passage(s), TAG) for s in (1, 2, 3)]
    assert sorted(repo.insert(batch, T0)) == [("gate-naniwa-es", s) for s in (1, 2, 3)]
    assert repo.insert(batch, T0 + timedelta(seconds=5)) == []  # redelivered
    again = [(make_passage(3), TAG), (make_passage(4), TAG), (make_passage(4), TAG)]
    assert repo.insert(again, T0) == [("gate-naniwa-es", 4)]
    assert repo.count() == 4
    with conn.transaction():  # inside the caller's transaction, too
        assert repo.insert([(make_passage(5), TAG)], T0) == [("gate-naniwa-es", 5)]
    assert repo.insert([], T0) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.insert(batch, datetime(2024, 5, 13))


def test_unresolved_passages_are_kept_without_a_child(conn: psycopg.Connection) -> None:
    repo = PassageRepository(conn)
    stranger = make_passage(1, beacon_id="0123456789abcdef")
    repo.insert([(stranger, None), (make_passage(2), TAG)], T0)
    assert (repo.count(resolved=True), repo.count(resolved=False)) == (1, 1)
    assert [p.seq for p in repo.passages(TAG.child_id)] == [2]


def test_a_childs_passages_newest_first_with_station_and_position(
    conn: psycopg.Connection,
) -> None:
    repo = PassageRepository(conn)
    bus = Sighting(
        **{
            **make_passage(1, T0 + timedelta(minutes=9), station="bus-7").model_dump(),
            "kind": "sighting",
            "lat_deg": 34.6601,
            "lon_deg": 135.4977,
        }
    )
    rows: list[tuple[Passage, Tag | None]] = [
        (make_passage(1), TAG),
        (make_passage(1, T0 + timedelta(minutes=5), station="st-naniwa-ward-office"), TAG),
        (bus, TAG),
    ]
    repo.insert(rows, T0 + timedelta(minutes=10))
    found = repo.passages(TAG.child_id)
    assert [p.station_id for p in found] == ["bus-7", "st-naniwa-ward-office", "gate-naniwa-es"]
    assert (found[0].lat_deg, found[0].lon_deg, found[0].station_name) == (34.6601, 135.4977, None)
    gate = found[2]
    assert gate.station_name == "Naniwa Elementary School gate"
    assert (gate.station_kind, gate.station_lat_deg, gate.lat_deg) == ("school_gate", 34.662, None)
    assert (gate.closest_time, gate.first_seen) == (T0, T0 - timedelta(seconds=4))
    assert gate.closest_time.tzinfo == UTC
    assert (gate.peak_rssi_dbm, gate.battery_mv, gate.temperature_c) == (-61.5, 2950, 24.25)
    window = repo.passages(TAG.child_id, T0 + timedelta(minutes=1), T0 + timedelta(minutes=9))
    assert [p.station_id for p in window] == ["st-naniwa-ward-office"]
    assert len(repo.passages(TAG.child_id, limit=2)) == 2
    last = repo.last_seen(TAG.child_id)
    assert last is not None and last.station_id == "bus-7"
    assert repo.last_seen("c-unknown") is None
    assert [s for _, s, _ in repo.resolved_since(T0 + timedelta(minutes=1))] == [
        "st-naniwa-ward-office",
        "bus-7",
    ]
    with pytest.raises(ValueError, match="limit"):
        repo.passages(TAG.child_id, limit=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.passages(TAG.child_id, since=datetime(2024, 5, 13))


def event(kind: WatchEventKind, when: datetime, child: str = "c-04") -> WatchEvent:
    return WatchEvent.create(kind, child, when, station_id="gate-naniwa-es", school_id="naniwa-es")


def test_watch_events_are_stored_once(conn: psycopg.Connection) -> None:
    repo = WatchEventRepository(conn)
    arrived, passed = event(WatchEventKind.ARRIVED_SCHOOL, T0), event(WatchEventKind.PASSED, T0)
    assert repo.insert([arrived, passed, arrived]) == [arrived, passed]
    assert repo.insert([passed]) == []
    late = event(WatchEventKind.LEFT_SCHOOL, T0 + timedelta(hours=7), child="c-01")
    assert repo.insert([late, passed]) == [late]
    assert repo.since(T0) == [arrived, passed, late]  # by time, then event_id
    assert repo.since(T0, child_id="c-01") == [late]
    assert repo.since(T0 + timedelta(hours=1)) == [late]


def test_prune_deletes_only_what_is_older_than_the_retention(conn: psycopg.Connection) -> None:
    # On TimescaleDB the passages' retention policy drops them, not prune.
    by_prune = 0 if schema.recorded_mode(conn) else 1
    now = datetime(2024, 6, 30, 12, tzinfo=UTC)
    days = WATCH.retention_days
    old, edge, new = (now - timedelta(days=d) for d in (days + 1, days - 0.01, 1))
    passages = PassageRepository(conn)
    passages.insert([(make_passage(i, t), TAG) for i, t in enumerate((old, edge, new), 1)], now)
    events = WatchEventRepository(conn)
    events.insert([event(WatchEventKind.PASSED, t) for t in (old, edge, new)])
    with conn.transaction():
        result = prune(conn, Retention(passages_days=days), now=now)
    assert (result.passages, result.watch_events) == (by_prune, 1)
    kept = [new, edge] if by_prune else [new, edge, old]
    assert [p.closest_time for p in passages.passages(TAG.child_id)] == kept
    assert [e.time for e in events.since(now - timedelta(days=400))] == [edge, new]
    assert prune(conn, Retention(passages_days=days), now=now).passages == 0
    # the database clock: 2024 is long gone
    assert prune(conn, Retention(passages_days=1)).passages == 2 * by_prune
    with pytest.raises(ValueError):
        prune(conn, Retention(passages_days=-1))
    with pytest.raises(ValueError, match="timezone-aware"):
        prune(conn, Retention(passages_days=days), now=datetime(2024, 6, 30))
