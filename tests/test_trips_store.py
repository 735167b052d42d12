"""Trips and stops built at the hub on a real PostgreSQL: exact trips from scripted drives,
driver attribution across a shift change, idempotence, incremental and late fixes, the
scheduled rollups and retention."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from analytics.driving.trips import TripConfig
from app.services import free_port
from citytrack.config import CityConfig, RosterEntry, load_config
from citytrack.mqtt import BrokerAddress
from citytrack.wire import Fix
from hub.ingest.service import HubService
from hub.reports.trips import ended_words
from hub.storage import schema
from hub.storage.drivers import DriverStatsRepository, RosterRepository
from hub.storage.fleet import DeviceRepository, FixRepository
from hub.storage.retention import prune
from hub.storage.rollups import RollupJob
from hub.storage.schema.ddl import Retention
from hub.storage.trips import TripRepository, TripRules
from tests.test_scorecard_sql import DAY, JST, LAT0, LON0, M_PER_DEG, jst

T0 = jst(11, 50)  # ten minutes before the noon shift change
INGEST = datetime(2024, 5, 13, 3, 0, tzinfo=UTC)
# 10 min at 36 km/h, 5 min parked, 5 min driving, then parked (the stop still open)
ROUTE = ((600, 10.0), (300, 0.0), (300, 10.0), (120, 0.0))
Phase = tuple[int, float]
Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def track(
    phases: Sequence[Phase] = ROUTE, start: datetime = T0, device: str = "truck-01"
) -> list[Fix]:
    """1 Hz fixes due north at each phase's speed for its duration (s), then a last one."""
    speeds = [speed for duration_s, speed in phases for _ in range(duration_s)]
    speeds.append(speeds[-1])
    north_m = [sum(speeds[:i]) for i in range(len(speeds))]
    return [
        Fix(
            device_id=device, seq=i + 1, fix_time=start + timedelta(seconds=i),
            recv_time=start + timedelta(seconds=i), lat_deg=LAT0 + north_m[i] / M_PER_DEG,
            lon_deg=LON0, speed_mps=speed, quality=1, sats_used=9, hdop=0.9,
        )
        for i, speed in enumerate(speeds)
    ]  # fmt: skip


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


ROSTER = [  # truck-01: Tanaka until noon, Suzuki from noon
    RosterEntry(device_id="truck-01", driver_id="drv-tanaka", start=jst(8), end=jst(12)),
    RosterEntry(device_id="truck-01", driver_id="drv-suzuki", start=jst(12)),
]


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_config().city.model_copy(update={"roster": ROSTER})


@pytest.fixture
def conn(pg_url: str, city: CityConfig) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c)
        DeviceRepository(c).sync_registry(city)
        RosterRepository(c).sync(city.roster)
        yield c


def insert(conn: psycopg.Connection, fixes: list[Fix], ingest: datetime = INGEST) -> None:
    FixRepository(conn).insert_batch(fixes, ingest)


def rows(conn: psycopg.Connection) -> Rows:
    trips = conn.execute("SELECT * FROM trips ORDER BY device_id, start_time").fetchall()
    stops = conn.execute("SELECT * FROM stops ORDER BY device_id, start_time").fetchall()
    return trips, stops


def rebuilt_from_scratch(conn: psycopg.Connection, now: datetime) -> Rows:
    """What one build over all the stored fixes writes, for comparison."""
    conn.execute("TRUNCATE trips, stops, trip_builds")
    TripRepository(conn).build("truck-01", now)
    return rows(conn)


DAY_RANGE = (jst(0), jst(0) + timedelta(days=1))


def test_known_drive_gives_exact_trips_stops_and_drivers(conn: psycopg.Connection) -> None:
    insert(conn, track())
    repo = TripRepository(conn)
    build = repo.build("truck-01", now=at(1330))
    assert (build.since, build.trips, build.stops, build.late) == (at(0), 2, 1, False)

    first, second = repo.trips(*DAY_RANGE)
    # before the shift change: Tanaka; a trip belongs to the driver who started it
    assert (first.driver_id, first.start_time, first.end_time) == ("drv-tanaka", at(0), at(600))
    assert first.distance_m == pytest.approx(6000.0, abs=0.01)
    assert first.driving_s == pytest.approx(600.0)
    assert first.duration_s == 600.0 and first.max_speed_mps == 10.0
    assert (first.ended_by, first.halts) == ("stop", 0)
    assert first.start_lat_deg == pytest.approx(LAT0)
    assert first.end_lat_deg == pytest.approx(LAT0 + 6000 / M_PER_DEG)
    # the stop: from the first standing fix to the last one before driving off
    (stop,) = repo.stops(*DAY_RANGE)
    assert (stop.driver_id, stop.start_time, stop.end_time) == ("drv-suzuki", at(600), at(899))
    assert stop.duration_s == 299.0
    assert stop.lat_deg == pytest.approx(first.end_lat_deg)
    # after noon: Suzuki; the open stop at the end is not stored
    assert (second.driver_id, second.start_time, second.end_time) == (
        "drv-suzuki", at(899), at(1200),
    )  # fmt: skip
    assert second.distance_m == pytest.approx(3000.0, abs=0.01)
    assert second.driving_s == pytest.approx(301.0)

    # filters and attribution: the same rule as the alerts' view
    assert repo.trips(*DAY_RANGE, driver_id="drv-tanaka") == [first]
    assert repo.trips(*DAY_RANGE, device_id="truck-02") == []
    assert repo.stops(*DAY_RANGE, driver_id="drv-tanaka") == []
    roster = RosterRepository(conn)
    assert roster.driver_at("truck-01", at(0)) == first.driver_id
    assert roster.driver_at("truck-01", at(899)) == second.driver_id


def test_card_reader_attributes_the_trip(conn: psycopg.Connection) -> None:
    carded = [f.model_copy(update={"driver_id": "drv-kobayashi"}) for f in track()]
    insert(conn, carded)
    repo = TripRepository(conn)
    repo.build("truck-01", now=at(1330))
    assert {t.driver_id for t in repo.trips(*DAY_RANGE)} == {"drv-kobayashi"}
    assert [s.driver_id for s in repo.stops(*DAY_RANGE)] == ["drv-kobayashi"]


def test_building_twice_writes_the_same_rows(conn: psycopg.Connection) -> None:
    insert(conn, track())
    repo = TripRepository(conn)
    repo.build("truck-01", now=at(1330))
    before = rows(conn)
    again = repo.build("truck-01", now=at(1330))
    assert (again.since, again.trips, again.stops) == (at(1200), 0, 0)  # from the watermark
    assert rows(conn) == before
    assert len(before[0]) == 2 and len(before[1]) == 1


def test_more_fixes_close_the_open_trip_without_duplicates(conn: psycopg.Connection) -> None:
    fixes = track()
    insert(conn, fixes[:1001])  # up to 12:06:40, in the middle of the second trip
    repo = TripRepository(conn)
    build = repo.build("truck-01", now=at(1005))
    trips, stops = repo.trips(*DAY_RANGE), repo.stops(*DAY_RANGE)
    # 5 s after its last fix the drive in progress is there already, provisionally
    assert [(t.end_time, t.ended_by) for t in trips] == [(at(600), "stop"), (at(1000), "silence")]
    assert (build.trips, build.open_trips) == (2, 1)
    assert [(s.start_time, s.end_time) for s in stops] == [(at(600), at(899))]

    insert(conn, fixes[1001:], INGEST + timedelta(minutes=5))
    build = repo.build("truck-01", now=at(1330))
    assert (build.since, build.late) == (at(600), False)
    assert [(t.start_time, t.end_time) for t in repo.trips(*DAY_RANGE)] == [
        (at(0), at(600)), (at(899), at(1200)),
    ]  # fmt: skip
    assert len(repo.stops(*DAY_RANGE)) == 1
    assert rows(conn) == rebuilt_from_scratch(conn, at(1330))


def test_a_silent_trip_is_kept_provisionally_and_extended(conn: psycopg.Connection) -> None:
    fixes = track()
    insert(conn, fixes[:1001])
    repo = TripRepository(conn)
    # no fix for 10 min (unit off, or out of coverage with its backlog still to come)
    repo.build("truck-01", now=at(1600))
    silent = repo.trips(*DAY_RANGE)[-1]
    assert (silent.start_time, silent.end_time, silent.ended_by) == (
        at(899), at(1000), "silence",
    )  # fmt: skip
    assert silent.distance_m == pytest.approx(1000.0, abs=0.01)
    # the backlog arrives and continues the drive: the same trip, longer, closed by a stop
    insert(conn, fixes[1001:], INGEST + timedelta(minutes=15))
    repo.build("truck-01", now=at(1600))
    trips = repo.trips(*DAY_RANGE)
    assert [(t.start_time, t.end_time, t.ended_by) for t in trips] == [
        (at(0), at(600), "stop"), (at(899), at(1200), "stop"),
    ]  # fmt: skip
    assert trips[1].distance_m == pytest.approx(3000.0, abs=0.01)


def test_fixes_inserted_out_of_order_give_the_same_trips(conn: psycopg.Connection) -> None:
    fixes = track()
    insert(conn, fixes[700:], INGEST)
    insert(conn, fixes[:700], INGEST + timedelta(seconds=1))
    TripRepository(conn).build("truck-01", now=at(1330))
    shuffled = rows(conn)
    assert len(shuffled[0]) == 2 and len(shuffled[1]) == 1
    assert shuffled == rebuilt_from_scratch(conn, at(1330))


def test_late_fixes_before_the_watermark_rebuild_what_they_change(
    conn: psycopg.Connection,
) -> None:
    fixes = track()
    # 400 s of the first trip missing (longer than max_gap_s): it is cut in two by a gap
    insert(conn, fixes[:100] + fixes[500:])
    repo = TripRepository(conn)
    repo.build("truck-01", now=at(1330))
    cut = repo.trips(*DAY_RANGE)
    assert [(t.start_time, t.end_time, t.ended_by) for t in cut] == [
        (at(0), at(99), "gap"), (at(500), at(600), "stop"), (at(899), at(1200), "stop"),
    ]  # fmt: skip
    # the missing fixes arrive late: the trips are built again from before them
    insert(conn, fixes[100:500], INGEST + timedelta(hours=1))
    build = repo.build("truck-01", now=at(1330))
    assert (build.since, build.late) == (at(0), True)
    whole = rows(conn)
    assert [(r[1], r[2]) for r in whole[0]] == [(at(0), at(600)), (at(899), at(1200))]
    assert whole == rebuilt_from_scratch(conn, at(1330))
    # nothing late any more: the next build resumes at the watermark
    assert repo.build("truck-01", now=at(1330)).late is False


def test_bad_fixes_are_not_used_and_naive_times_refused(conn: psycopg.Connection) -> None:
    fixes = [f.model_copy(update={"hdop": 9.0}) for f in track()]
    insert(conn, fixes)
    repo = TripRepository(conn)
    assert repo.build("truck-01", now=at(1330)).trips == 0
    assert repo.build("truck-09").since is None  # no fixes at all
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.build("truck-01", now=datetime(2024, 5, 13, 12))
    with pytest.raises(ValueError, match="after start"):
        repo.trips(DAY_RANGE[1], DAY_RANGE[0])
    loose = TripRepository(conn, TripRules(max_hdop=10.0))
    assert loose.build("truck-01", now=at(1330)).trips == 2


def test_rollup_job_builds_every_truck_and_refreshes_driver_daily(
    conn: psycopg.Connection, city: CityConfig
) -> None:
    insert(conn, track())
    insert(conn, track(((300, 8.0), (120, 0.0)), start=jst(9), device="truck-02"))
    job = RollupJob.for_city(city, load_config().detectors.quality)
    result = job.run(conn, jst(18))
    built = {b.device_id: (b.trips, b.stops) for b in result.builds}
    assert built["truck-01"] == (2, 1) and built["truck-02"] == (1, 0)
    assert built["truck-03"] == (0, 0) and result.failed == []
    assert (result.first_day, result.last_day) == (DAY - timedelta(days=1), DAY)
    daily = DriverStatsRepository(conn).daily(DAY, DAY, JST)
    assert {(d.driver_id, d.device_id) for d in daily} == {
        ("drv-tanaka", "truck-01"), ("drv-suzuki", "truck-01"), ("drv-suzuki", "truck-02"),
    }  # fmt: skip
    assert result.daily_rows == 3
    assert (job.counts.runs, job.counts.trips, job.counts.daily_rows) == (1, 3, 3)
    assert "3 trip(s)" in result.summary()
    with pytest.raises(ValueError, match="aware"):
        job.run(conn, datetime(2024, 5, 13, 18))


def test_rollup_job_counts_a_refused_build_and_goes_on(
    conn: psycopg.Connection, city: CityConfig, caplog: pytest.LogCaptureFixture
) -> None:
    insert(conn, track())
    conn.execute("ALTER TABLE stops RENAME TO stops_away")
    job = RollupJob.for_city(city, load_config().detectors.quality)
    with caplog.at_level(logging.ERROR, logger="hub.storage.rollups"):
        result = job.run(conn, jst(18))
    assert result.failed == ["truck-01"]  # the others have no fixes: nothing to write
    assert job.counts.device_failures == 1
    assert result.daily_rows == 2  # driver_daily is still refreshed
    assert "trips of truck-01 not built" in caplog.text


def test_hub_refreshes_rollups_and_never_raises(pg_url: str, city: CityConfig) -> None:
    cfg = load_config().model_copy(update={"city": city})
    hub = HubService(cfg, BrokerAddress.parse("mqtt://127.0.0.1:1"), pg_url)
    hub.prepare_database()
    with psycopg.connect(pg_url, autocommit=True) as c:
        insert(c, track())
    result = hub.refresh_rollups(jst(18))
    assert result is not None and result.daily_rows == 2
    with psycopg.connect(pg_url) as c:
        assert c.execute("SELECT count(*) FROM trips").fetchone() == (2,)
    nowhere = psycopg.conninfo.make_conninfo(pg_url, host="127.0.0.1", port=free_port())
    down = HubService(cfg, BrokerAddress.parse("mqtt://127.0.0.1:1"), nowhere)
    assert down.refresh_rollups(jst(18)) is None
    assert down.rollups.counts.failures == 1


def test_prune_removes_trips_and_stops_with_their_fixes(conn: psycopg.Connection) -> None:
    insert(conn, track())
    TripRepository(conn).build("truck-01", now=at(1330))
    result = prune(conn, Retention(fixes_days=10), now=at(0) + timedelta(days=10, minutes=11))
    assert (result.trips, result.stops) == (1, 1)  # the 11:50 trip and the noon stop
    assert [r[1] for r in rows(conn)[0]] == [at(899)]


def test_concurrent_builds_of_one_truck_take_turns(conn: psycopg.Connection, pg_url: str) -> None:
    insert(conn, track())
    errors: list[BaseException] = []

    def build() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as c:
                TripRepository(c).build("truck-01", now=at(1330))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [len(r) for r in rows(conn)] == [2, 1]


def test_the_open_trip_reads_in_progress_then_no_fix_since(conn: psycopg.Connection) -> None:
    insert(conn, track()[:1001])
    repo = TripRepository(conn)
    repo.build("truck-01", now=at(1005))
    open_trip = repo.trips(*DAY_RANGE)[-1]
    gap_s = TripConfig().max_gap_s
    assert ended_words(open_trip, at(1005), gap_s) == "in progress"
    assert ended_words(open_trip, at(1000) + timedelta(seconds=gap_s), gap_s) == "no fix since"
    assert ended_words(repo.trips(*DAY_RANGE)[0], at(1005), gap_s) == "stop"
