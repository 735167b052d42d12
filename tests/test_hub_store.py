"""Hub repositories against a real PostgreSQL (fresh database per test)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest

from citytrack.alerts import Alert
from citytrack.config import CityConfig, load_config
from citytrack.wire import DeviceStatus, Fix
from hub.storage import schema
from hub.storage.db import StoreRejectedError, StoreUnavailableError
from hub.storage.fleet import AlertRepository, DeadLetterRepository, DeviceRepository, FixRepository

T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
JST = timezone(timedelta(hours=9))


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c)
        yield c


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_config().city


def make_fix(device_id: str = "truck-01", seq: int = 1, **kw: object) -> Fix:
    fields: dict[str, object] = {
        "fix_time": T0 + timedelta(seconds=seq),
        "recv_time": T0 + timedelta(seconds=seq, milliseconds=250),
        "lat_deg": 34.6560 + seq * 1e-5,
        "lon_deg": 135.4930,
    }
    fields.update(kw)
    return Fix(device_id=device_id, seq=seq, **fields)  # type: ignore[arg-type]


def full_fix(seq: int) -> Fix:
    return make_fix(
        seq=seq,
        fix_time=datetime(2024, 5, 1, 9, 0, 1, 123456, tzinfo=JST),  # given in JST
        recv_time=datetime(2024, 5, 1, 0, 0, 1, 654321, tzinfo=UTC),
        lat_deg=34.123456789012345,
        lon_deg=-135.98765432109876,
        speed_mps=12.3456789,
        course_deg=359.999,
        alt_m=-3.25,
        quality=2,
        mode=3,
        sats_used=11,
        hdop=0.8,
        pdop=1.7,
        vdop=1.4,
    )


# --- fixes --------------------------------------------------------------------------------


def test_fix_round_trip_every_field_and_nulls(conn: psycopg.Connection) -> None:
    ingest = datetime(2024, 5, 1, 0, 0, 2, tzinfo=UTC)
    bare = make_fix(seq=2, fix_time=T0 + timedelta(hours=1))
    repo = FixRepository(conn)
    assert sorted(repo.insert_batch([full_fix(1), bare], ingest)) == [
        ("truck-01", 1),
        ("truck-01", 2),
    ]

    got = repo.track("truck-01", T0 - timedelta(days=1), T0 + timedelta(days=1))

    assert got == [full_fix(1), bare]
    assert got[0].model_dump() == full_fix(1).model_dump()
    for fix in got:
        assert fix.fix_time.utcoffset() == timedelta(0)
        assert fix.recv_time.utcoffset() == timedelta(0)
    assert got[0].fix_time == datetime(2024, 5, 1, 0, 0, 1, 123456, tzinfo=UTC)
    assert got[1].speed_mps is None and got[1].quality is None and got[1].vdop is None
    stored = conn.execute("SELECT ingest_time FROM fixes WHERE seq = 1").fetchone()
    assert stored is not None and stored[0] == ingest


def test_insert_returns_only_new_keys_and_replay_stores_nothing(conn: psycopg.Connection) -> None:
    repo = FixRepository(conn)
    first = [make_fix(seq=s) for s in (1, 2, 3)]
    assert sorted(repo.insert_batch(first, T0)) == [
        ("truck-01", 1),
        ("truck-01", 2),
        ("truck-01", 3),
    ]

    mixed = [make_fix(seq=3), make_fix(seq=4), make_fix("truck-02", seq=3)]
    assert sorted(repo.insert_batch(mixed, T0)) == [("truck-01", 4), ("truck-02", 3)]
    assert repo.insert_batch(first + mixed, T0) == []
    assert repo.count() == 5
    assert repo.count("truck-01") == 4
    assert repo.count("truck-02") == 1


def test_duplicates_inside_a_batch_are_stored_once_first_wins(conn: psycopg.Connection) -> None:
    repo = FixRepository(conn)
    batch = [make_fix(seq=7, lat_deg=1.0), make_fix(seq=8), make_fix(seq=7, lat_deg=2.0)]
    new = repo.insert_batch(batch, T0)
    assert sorted(new) == [("truck-01", 7), ("truck-01", 8)]
    assert len(batch) - len(new) == 1
    track = repo.track("truck-01", T0, T0 + timedelta(hours=1))
    assert [(f.seq, f.lat_deg) for f in track] == [(7, 1.0), (8, make_fix(seq=8).lat_deg)]


def test_large_batch(conn: psycopg.Connection) -> None:
    fixes = [make_fix(f"truck-{i % 20:02d}", seq=i // 20 + 1) for i in range(20_000)]
    new = FixRepository(conn).insert_batch(fixes, T0)
    assert len(new) == 20_000
    assert len(set(new)) == 20_000
    assert FixRepository(conn).count() == 20_000
    assert FixRepository(conn).count("truck-07") == 1_000


def test_insert_batch_joins_the_callers_transaction(pg_url: str, conn: psycopg.Connection) -> None:
    with psycopg.connect(pg_url) as tx_conn:  # not autocommit: the caller owns the transaction
        repo = FixRepository(tx_conn)
        assert len(repo.insert_batch([make_fix(seq=1), make_fix(seq=2)], T0)) == 2
        assert repo.insert_batch([make_fix(seq=2), make_fix(seq=3)], T0) == [("truck-01", 3)]
        assert repo.count() == 3
        tx_conn.rollback()
        assert repo.count() == 0
        assert len(repo.insert_batch([make_fix(seq=1)], T0)) == 1
        tx_conn.commit()
    assert FixRepository(conn).count() == 1


def test_insert_batch_inside_an_explicit_transaction_rolls_back(conn: psycopg.Connection) -> None:
    repo = FixRepository(conn)
    with pytest.raises(RuntimeError), conn.transaction():
        repo.insert_batch([make_fix(seq=1)], T0)
        raise RuntimeError("handler failed")
    assert repo.count() == 0
    assert repo.insert_batch([], T0) == []


def test_naive_times_are_refused(conn: psycopg.Connection) -> None:
    with pytest.raises(ValueError, match="ingest_time"):
        FixRepository(conn).insert_batch([make_fix()], datetime(2024, 5, 1))
    with pytest.raises(ValueError, match="since"):
        FixRepository(conn).track("truck-01", datetime(2024, 5, 1), T0)


def test_track_window_is_half_open_and_per_device(conn: psycopg.Connection) -> None:
    repo = FixRepository(conn)
    repo.insert_batch([make_fix(seq=s) for s in range(1, 6)] + [make_fix("truck-02", 3)], T0)
    got = repo.track("truck-01", T0 + timedelta(seconds=2), T0 + timedelta(seconds=4))
    assert [f.seq for f in got] == [2, 3]


# --- alerts -------------------------------------------------------------------------------


def make_alert(device_id: str, kind: str, minute: int, severity: str = "medium") -> Alert:
    start = T0 + timedelta(minutes=minute)
    return Alert(
        device_id=device_id,
        driver_id="drv-tanaka",
        kind=kind,
        severity=severity,  # type: ignore[arg-type]
        start_time=start,
        end_time=start + timedelta(seconds=3.5),
        lat_deg=34.66,
        lon_deg=135.49,
        details={"max_speed_kmh": 52.0, "zone_id": None}
        if kind == "speeding"
        else {"peak_mps2": 3.4},
    )


def test_alerts_are_idempotent_and_round_trip(conn: psycopg.Connection) -> None:
    repo = AlertRepository(conn)
    alerts = [make_alert("truck-01", "harsh_braking", 1), make_alert("truck-02", "speeding", 2)]
    stored = repo.insert(alerts)
    assert [s.kind for s in stored] == ["harsh_braking", "speeding"]
    assert stored[0].id < stored[1].id
    assert Alert(**stored[0].model_dump(exclude={"id", "created_at"})) == alerts[0]
    assert stored[0].created_at.utcoffset() == timedelta(0)

    again = repo.insert([*alerts, make_alert("truck-01", "harsh_braking", 5)])
    assert [(a.device_id, a.start_time) for a in again] == [("truck-01", T0 + timedelta(minutes=5))]
    assert repo.insert([]) == []
    assert len(repo.query()) == 3


def test_alert_query_filters_and_order(conn: psycopg.Connection) -> None:
    repo = AlertRepository(conn)
    repo.insert(
        [
            make_alert("truck-01", "harsh_braking", 1),
            make_alert("truck-01", "speeding", 2),
            make_alert("truck-02", "speeding", 3),
            make_alert("truck-02", "harsh_acceleration", 4),
        ]
    )

    def keys(alerts: list) -> list[tuple[str, int]]:  # type: ignore[type-arg]
        return [(a.device_id, int((a.start_time - T0).total_seconds() // 60)) for a in alerts]

    assert keys(repo.query()) == [
        ("truck-02", 4),
        ("truck-02", 3),
        ("truck-01", 2),
        ("truck-01", 1),
    ]
    assert keys(repo.query(device_id="truck-01")) == [("truck-01", 2), ("truck-01", 1)]
    assert keys(repo.query(kind="speeding")) == [("truck-02", 3), ("truck-01", 2)]
    assert keys(repo.query(since=T0 + timedelta(minutes=2))) == [
        ("truck-02", 4),
        ("truck-02", 3),
        ("truck-01", 2),
    ]
    assert keys(repo.query(until=T0 + timedelta(minutes=2))) == [("truck-01", 1)]
    assert keys(repo.query(limit=1)) == [("truck-02", 4)]
    assert keys(repo.query(device_id="truck-02", kind="speeding", since=T0)) == [("truck-02", 3)]
    assert repo.query(device_id="nobody") == []
    with pytest.raises(ValueError, match="limit"):
        repo.query(limit=0)


def test_counts_by_kind(conn: psycopg.Connection) -> None:
    repo = AlertRepository(conn)
    assert repo.counts_by_kind() == {}
    repo.insert(
        [make_alert("truck-01", "speeding", m) for m in (1, 2, 3)]
        + [make_alert("truck-01", "harsh_braking", 4)]
    )
    assert repo.counts_by_kind() == {"speeding": 3, "harsh_braking": 1}
    assert repo.counts_by_kind(since=T0 + timedelta(minutes=3)) == {
        "speeding": 1,
        "harsh_braking": 1,
    }


# --- dead letters -------------------------------------------------------------------------


def test_dead_letters_keep_payload_and_reason(conn: psycopg.Connection) -> None:
    repo = DeadLetterRepository(conn)
    assert repo.count() == 0
    repo.insert("citytrack/v1/vehicle/x/fix", b"\x00not json\xff", "invalid fix: json", T0)
    repo.insert("bad/topic", b"{}", "not a citytrack topic", T0 + timedelta(seconds=1))
    assert repo.count() == 2
    newest, oldest = repo.recent(10)
    assert (newest.topic, newest.payload, newest.reason) == (
        "bad/topic",
        b"{}",
        "not a citytrack topic",
    )
    assert (oldest.payload, oldest.reason) == (b"\x00not json\xff", "invalid fix: json")
    assert oldest.received_at == T0 and oldest.received_at.utcoffset() == timedelta(0)
    assert [d.topic for d in repo.recent(1)] == ["bad/topic"]


# --- devices ------------------------------------------------------------------------------


def status(online: bool, seconds: int, **counters: int) -> DeviceStatus:
    return DeviceStatus(
        device_id="truck-01", online=online, time=T0 + timedelta(seconds=seconds), counters=counters
    )


def test_status_keeps_the_newest(conn: psycopg.Connection, city: CityConfig) -> None:
    repo = DeviceRepository(conn)
    repo.sync_registry(city)
    repo.upsert_status(status(True, 10, sent=5))
    repo.upsert_status(status(False, 5, sent=1))  # older: ignored
    by_id = {p.device_id: p for p in repo.last_positions()}
    assert (by_id["truck-01"].online, by_id["truck-01"].counters) == (True, {"sent": 5})
    repo.upsert_status(status(False, 20, sent=9))
    by_id = {p.device_id: p for p in repo.last_positions()}
    assert by_id["truck-01"].online is False
    assert by_id["truck-01"].status_time == T0 + timedelta(seconds=20)
    assert by_id["truck-01"].counters == {"sent": 9}


def test_sync_registry_upserts(conn: psycopg.Connection, city: CityConfig) -> None:
    repo = DeviceRepository(conn)
    repo.sync_registry(city)
    repo.sync_registry(city)
    assert repo.names() == (
        {t.device_id: t.name for t in city.trucks},
        {d.id: d.name for d in city.drivers},
    )
    truck = city.trucks[0].model_copy(update={"name": "renamed", "driver_id": city.drivers[-1].id})
    repo.sync_registry(city.model_copy(update={"trucks": [truck]}))
    assert repo.names()[0][truck.device_id] == "renamed"
    assert len(repo.names()[0]) == len(city.trucks)  # unconfigured rows are kept


def test_last_positions(conn: psycopg.Connection, city: CityConfig) -> None:
    devices = DeviceRepository(conn)
    devices.sync_registry(city)
    fixes = FixRepository(conn)
    fixes.insert_batch(
        [make_fix(seq=s, speed_mps=float(s), course_deg=90.0) for s in (1, 3, 2)], T0
    )
    fixes.insert_batch([make_fix("unregistered", seq=1)], T0)
    devices.upsert_status(status(True, 1, fixes_sent=3))

    positions = devices.last_positions()

    assert [p.device_id for p in positions] == sorted(t.device_id for t in city.trucks)
    first = positions[0]
    assert (first.device_id, first.name, first.driver_id, first.driver_name) == (
        "truck-01",
        city.trucks[0].name,
        "drv-tanaka",
        "Tanaka Hiroshi",
    )
    assert first.fix_time == T0 + timedelta(seconds=3)
    assert (first.lat_deg, first.speed_mps, first.course_deg) == (
        make_fix(seq=3).lat_deg,
        3.0,
        90.0,
    )
    assert (first.online, first.counters) == (True, {"fixes_sent": 3})
    second = positions[1]
    assert second.fix_time is None and second.lat_deg is None and second.online is None
    assert second.counters == {}


# --- errors -------------------------------------------------------------------------------


def test_errors_are_translated(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as c:  # schema not upgraded
        with pytest.raises(StoreRejectedError, match="count fixes") as info:
            FixRepository(c).count()
        assert isinstance(info.value.__cause__, psycopg.errors.UndefinedTable)
        assert info.value.operation == "count fixes"
    with pytest.raises(StoreUnavailableError) as info2:
        AlertRepository(c).query()  # the connection is closed now
    assert isinstance(info2.value.__cause__, psycopg.OperationalError)
