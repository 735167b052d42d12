"""Driver attribution and scorecard measures on a real PostgreSQL, from hand-computable drives."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from citytrack.alerts import Alert
from citytrack.config import CityConfig, RosterEntry, load_config
from citytrack.wire import Fix
from hub.storage import schema
from hub.storage.drivers import (
    DriverStatsRepository,
    MotionRules,
    RosterRepository,
    driver_scorecard,
    resolve_driver,
)
from hub.storage.fleet import AlertRepository, DeviceRepository, FixRepository

JST = ZoneInfo("Asia/Tokyo")
DAY = date(2024, 5, 13)  # a Monday
M_PER_DEG = 6371008.8 * math.pi / 180  # geo_distance_m's sphere, metres per degree of arc
LAT0, LON0 = 34.6560, 135.4930


def jst(hour: int, minute: int = 0, second: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=JST)


WHOLE_DAY = (jst(0), jst(0) + timedelta(days=1))


@pytest.fixture(scope="module")
def city() -> CityConfig:
    """Osaka's registry (truck-01 defaults to drv-tanaka) with a shift change at noon."""
    roster = [
        RosterEntry(device_id="truck-01", driver_id="drv-tanaka", start=jst(8), end=jst(12)),
        RosterEntry(device_id="truck-01", driver_id="drv-suzuki", start=jst(12)),
    ]
    return load_config().city.model_copy(update={"roster": roster})


@pytest.fixture
def conn(pg_url: str, city: CityConfig) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c)
        DeviceRepository(c).sync_registry(city)
        RosterRepository(c).sync(city.roster)
        yield c


def drive(
    start: datetime,
    seconds: int,
    *,
    speed_mps: float = 10.0,
    device: str = "truck-01",
    card: str | None = None,
    seq0: int = 1,
    lat0: float = LAT0,
) -> list[Fix]:
    """A fix per second for ``seconds + 1`` epochs, due north at ``speed_mps``."""
    return [
        Fix(
            device_id=device, seq=seq0 + i, fix_time=start + timedelta(seconds=i),
            recv_time=start + timedelta(seconds=i), lat_deg=lat0 + i * speed_mps / M_PER_DEG,
            lon_deg=LON0, speed_mps=speed_mps, quality=1, sats_used=9, hdop=0.9, driver_id=card,
        )
        for i in range(seconds + 1)
    ]  # fmt: skip


def alert(kind: str, at: datetime, seconds: float = 2.0, device: str = "truck-01") -> Alert:
    """An alert as the pipeline stores it: with the truck's default driver."""
    return Alert(
        device_id=device, driver_id="drv-tanaka", kind=kind, severity="medium", start_time=at,
        end_time=at + timedelta(seconds=seconds), lat_deg=LAT0, lon_deg=LON0,
    )  # fmt: skip


def store(conn: psycopg.Connection, fixes: list[Fix], alerts: Sequence[Alert] = ()) -> None:
    FixRepository(conn).insert_batch(fixes, datetime.now(UTC))
    AlertRepository(conn).insert(list(alerts))


def by_driver(conn: psycopg.Connection, rules: MotionRules | None = None) -> dict[str, object]:
    days = DriverStatsRepository(conn, rules).days(*WHOLE_DAY, JST)
    return {d.driver_id: d.exposure for d in days}  # type: ignore[misc]


def test_straight_10_km_at_36_kmh_with_two_harsh_brakes(conn: psycopg.Connection) -> None:
    # 06:00-06:16:40 JST, before any shift: the truck's default driver
    store(
        conn,
        drive(jst(6), 1000),
        [alert("harsh_braking", jst(6, 5)), alert("harsh_braking", jst(6, 10))],
    )
    card = driver_scorecard(
        DriverStatsRepository(conn), "drv-tanaka", start=WHOLE_DAY[0], end=WHOLE_DAY[1],
        tz=JST, period="day",
    )  # fmt: skip
    assert card is not None
    total = card.total
    assert total.km == pytest.approx(10.0, abs=1e-6)
    assert total.driving_s == pytest.approx(1000.0)
    assert total.events["harsh_braking"] == 2
    assert total.events_per_100km is not None
    assert total.events_per_100km["harsh_braking"] == pytest.approx(20.0)
    assert total.penalties["harsh_braking"] == pytest.approx(320.0)
    assert (total.score, total.risk) == (0.0, "high")
    assert [p.period_start for p in card.periods] == [DAY]
    assert card.periods[0].km == total.km


def test_shift_change_splits_kilometres_and_alerts_by_roster(
    conn: psycopg.Connection, city: CityConfig
) -> None:
    # 11:55:00-12:05:00: a step belongs to the driver of its later fix
    store(
        conn,
        drive(jst(11, 55), 600),
        [alert("harsh_braking", jst(11, 58)), alert("harsh_acceleration", jst(12, 2))],
    )
    got = by_driver(conn)
    assert set(got) == {"drv-tanaka", "drv-suzuki"}
    tanaka, suzuki = got["drv-tanaka"], got["drv-suzuki"]
    assert tanaka.km == pytest.approx(2.99)  # type: ignore[attr-defined]
    assert suzuki.km == pytest.approx(3.01)  # type: ignore[attr-defined]
    assert tanaka.events == {"harsh_braking": 1}  # type: ignore[attr-defined]
    assert suzuki.events == {"harsh_acceleration": 1}  # type: ignore[attr-defined]
    # the configuration's rule and the database's agree
    roster = RosterRepository(conn)
    for at in (jst(7, 59), jst(8), jst(11, 59, 59), jst(12), jst(23)):
        assert roster.driver_at("truck-01", at) == resolve_driver(city, "truck-01", at, None)
    assert resolve_driver(city, "truck-01", jst(12), None) == "drv-suzuki"
    assert resolve_driver(city, "truck-01", jst(7), None) == "drv-tanaka"


def test_card_reader_overrides_the_roster(conn: psycopg.Connection, city: CityConfig) -> None:
    fixes = drive(jst(11, 55), 600)
    carded = [f.model_copy(update={"driver_id": "drv-kobayashi"}) for f in fixes[300:]]
    store(
        conn,
        fixes[:300] + carded,
        [alert("harsh_braking", jst(11, 58)), alert("speeding", jst(12, 2), seconds=30)],
    )
    got = by_driver(conn)
    assert set(got) == {"drv-tanaka", "drv-kobayashi"}
    kobayashi = got["drv-kobayashi"]
    assert kobayashi.km == pytest.approx(3.01)  # type: ignore[attr-defined]
    assert kobayashi.events == {"speeding": 1}  # type: ignore[attr-defined]
    assert kobayashi.speeding_s == pytest.approx(30.0)  # type: ignore[attr-defined]
    assert kobayashi.driving_s == pytest.approx(301.0)  # type: ignore[attr-defined]
    roster = RosterRepository(conn)
    assert roster.driver_at("truck-01", jst(12), "drv-kobayashi") == "drv-kobayashi"
    assert resolve_driver(city, "truck-01", jst(12), "drv-kobayashi") == "drv-kobayashi"
    # the set-based view and the scalar rule agree on every fix
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE driver_id IS DISTINCT FROM "
        "driver_at(device_id, fix_time, card_driver_id)) FROM driver_fixes"
    ).fetchone()
    assert row == (601, 0)


def test_card_id_is_stored_with_the_fix(conn: psycopg.Connection) -> None:
    store(conn, drive(jst(6), 2, card="drv-nakamura"))
    track = FixRepository(conn).track("truck-01", *WHOLE_DAY)
    assert [f.driver_id for f in track] == ["drv-nakamura"] * 3


def test_gaps_jumps_standstill_and_bad_fixes_add_no_distance(conn: psycopg.Connection) -> None:
    first = drive(jst(6), 100)  # 1.00 km
    # 30 s without fixes, then 100 s more: the gap's step is dropped
    second = drive(jst(6, 2, 10), 100, seq0=200, lat0=first[-1].lat_deg + 0.01)
    # a GNSS jump: one fix 5 km away (250 m/s implied) and both its steps are dropped
    jump = second[50].model_copy(update={"lat_deg": second[50].lat_deg + 0.045})
    second = [*second[:50], jump, *second[51:]]
    # standing still 60 s with 2 m of jitter: receiver speed 0
    still = [
        f.model_copy(update={"speed_mps": 0.0, "lat_deg": LAT0 + (i % 2) * 2 / M_PER_DEG})
        for i, f in enumerate(drive(jst(7), 60, seq0=400))
    ]
    # bad fixes (HDOP 9, or no fix) are not used at all
    bad = [f.model_copy(update={"hdop": 9.0}) for f in drive(jst(8), 50, seq0=500)]
    bad += [f.model_copy(update={"quality": 0}) for f in drive(jst(9), 50, seq0=600)]
    store(conn, first + second + still + bad)
    got = by_driver(conn)["drv-tanaka"]
    # first: 100 steps; second: 100 steps less the 2 around the jump
    assert got.km == pytest.approx(1.98, abs=1e-6)  # type: ignore[attr-defined]
    assert got.driving_s == pytest.approx(198.0)  # type: ignore[attr-defined]


def test_weeks_roll_up_days_and_the_rollup_table_matches(conn: psycopg.Connection) -> None:
    # truck-02: no roster, always its default driver drv-suzuki
    tue, sun, next_mon = DAY + timedelta(1), DAY + timedelta(6), DAY + timedelta(7)
    fixes = [
        *drive(jst(6, day=tue), 200, device="truck-02"),
        *drive(jst(6, day=sun), 3000, device="truck-02", seq0=1000),
        *drive(jst(6, day=next_mon), 100, device="truck-02", seq0=5000),
    ]
    store(conn, fixes, [alert("harsh_braking", jst(6, 1, day=next_mon), device="truck-02")])
    stats = DriverStatsRepository(conn)
    start, end = jst(0, day=tue), jst(0, day=next_mon + timedelta(1))
    card = driver_scorecard(stats, "drv-suzuki", start=start, end=end, tz=JST, period="week")
    assert card is not None
    assert [p.period_start for p in card.periods] == [DAY, next_mon]
    assert [p.km for p in card.periods] == [pytest.approx(32.0), pytest.approx(1.0)]
    assert card.periods[0].score == 100.0
    assert card.periods[1].score == 0.0  # 1 brake in 1 km: 100 per 100 km
    # the range's score comes from its totals, not from the mean of the weeks' scores
    assert card.total.km == pytest.approx(33.0)
    assert card.total.score == pytest.approx(100 - 16 * 100 / 33, abs=0.05)
    daily = driver_scorecard(stats, "drv-suzuki", start=start, end=end, tz=JST, period="day")
    assert daily is not None and len(daily.periods) == 7
    assert [p.score for p in daily.periods][1:5] == [None] * 4  # Wed-Sat: no driving

    assert stats.refresh_daily(tue, next_mon, JST) == 3
    assert stats.refresh_daily(tue, next_mon, JST) == 3  # idempotent
    assert stats.daily(tue, next_mon, JST) == stats.days(start, end, JST)
    assert stats.daily(tue, next_mon, JST, "drv-tanaka") == []


def test_unknown_driver_has_no_scorecard_and_naive_times_are_refused(
    conn: psycopg.Connection,
) -> None:
    stats = DriverStatsRepository(conn)
    kwargs = {"start": WHOLE_DAY[0], "end": WHOLE_DAY[1], "tz": JST, "period": "day"}
    assert driver_scorecard(stats, "drv-nobody", **kwargs) is None  # type: ignore[arg-type]
    empty = driver_scorecard(stats, "drv-yamamoto", **kwargs)  # type: ignore[arg-type]
    assert empty is not None and empty.total.score is None and empty.total.km == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        stats.days(datetime(2024, 5, 13), WHOLE_DAY[1], JST)
    with pytest.raises(ValueError, match="after start"):
        stats.days(WHOLE_DAY[1], WHOLE_DAY[0], JST)


def test_speed_profile_route_and_events(conn: psycopg.Connection) -> None:
    store(conn, drive(jst(6), 100) + drive(jst(6, 5), 100, speed_mps=20, seq0=200))
    store(conn, [], [alert("harsh_cornering", jst(6, 6))])
    stats = DriverStatsRepository(conn)
    profile = stats.speed_profile(*WHOLE_DAY)
    assert profile == {"drv-tanaka": {35.0: 100.0, 70.0: 100.0}}  # 36 and 72 km/h
    route = stats.route("drv-tanaka", *WHOLE_DAY, max_points=50)
    assert 40 <= len(route) <= 51
    assert route == sorted(route, key=lambda p: p.fix_time)
    events = stats.events("drv-tanaka", *WHOLE_DAY)
    assert [(e.kind, e.start_time) for e in events] == [("harsh_cornering", jst(6, 6))]
    assert stats.events("drv-suzuki", *WHOLE_DAY) == []
