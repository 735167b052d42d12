"""The hub pipeline and its MQTT shell on real PostgreSQL and Mosquitto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from app.services import MosquittoBroker
from citytrack import wire
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress
from hub.ingest.service import HubService
from hub.pipeline.batch import Inbound
from hub.pipeline.runner import build_pipeline
from hub.storage import schema
from hub.storage.fleet import AlertRepository, DeadLetterRepository, FixRepository
from tests.hub_messages import T0, fix, inbound
from tests.mqtt_helpers import publish
from tests.waiting import wait_until

CFG = load_config()


@pytest.fixture
def conn(pg_url: str):  # type: ignore[no-untyped-def]
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c)
        yield c


def test_duplicates_and_bad_input_are_counted_and_dead_lettered(conn: psycopg.Connection) -> None:
    pipeline = build_pipeline(CFG.city, CFG.detectors)
    good = [inbound(fix(s)) for s in range(1, 11)]
    bad = [
        Inbound("citytrack/v1/vehicle/truck-01/fix", b"{not json", T0),
        inbound(fix(99, device="truck-02"), topic="citytrack/v1/vehicle/truck-01/fix"),
        inbound(fix(1, device="truck-99")),
        Inbound("citytrack/v1/vehicle/truck-01/selfie", b"{}", T0),
    ]
    pipeline.process(conn, good + bad)
    pipeline.process(conn, good[:5])  # a QoS 1 redelivery
    c = pipeline.counters
    assert (c.received, c.fixes_stored, c.duplicates_dropped, c.dead_letters) == (19, 10, 5, 4)
    assert FixRepository(conn).count("truck-01") == 10
    reasons = sorted(d.reason for d in DeadLetterRepository(conn).recent(10))
    assert len(reasons) == 4
    assert any("unknown device 'truck-99'" in r for r in reasons)
    assert any("differs from topic" in r for r in reasons)
    assert any("unknown role or kind" in r for r in reasons)


def test_harsh_braking_in_the_stream_becomes_one_stored_alert(conn: psycopg.Connection) -> None:
    pipeline = build_pipeline(CFG.city, CFG.detectors)
    speeds = [11.0] * 10 + [6.0, 1.0, 0.0] + [0.0] * 5
    fixes = [fix(i + 1, s) for i, s in enumerate(speeds)]
    batch_a = pipeline.process(conn, [inbound(f) for f in fixes[:11]])
    batch_b = pipeline.process(conn, [inbound(f) for f in fixes[11:]])
    alerts = AlertRepository(conn).query(device_id="truck-01")
    assert [a.kind for a in alerts] == ["harsh_braking"]
    assert alerts[0].driver_id == "drv-tanaka"
    assert len(batch_a.stored_alerts) + len(batch_b.stored_alerts) == 1
    # replaying the whole stream (outbox replay) changes nothing
    pipeline.process(conn, [inbound(f) for f in fixes])
    assert len(AlertRepository(conn).query(device_id="truck-01")) == 1


def test_hub_keeps_its_session_so_messages_sent_while_it_is_down_arrive(
    pg_url: str, own_broker: MosquittoBroker
) -> None:
    hub_cfg = CFG.model_copy(update={"hub": CFG.hub.model_copy(update={"client_id": "hub-t1"})})
    hub = HubService(hub_cfg, BrokerAddress.parse(own_broker.url), pg_url)
    hub.start()
    assert hub.wait_subscribed(10)  # the persistent session exists from here on
    first = [
        (
            wire.topic_for(wire.Role.VEHICLE, "truck-02", wire.Kind.FIX),
            wire.encode(fix(s, device="truck-02")),
        )
        for s in range(1, 51)
    ]
    publish(own_broker.url, first)
    wait_until(lambda: hub.counters.fixes_stored == 50, 15, "the first 50 fixes stored")
    hub.stop()
    second = [
        (t, wire.encode(fix(s, device="truck-02"))) for s in range(51, 251) for t in [first[0][0]]
    ]
    publish(own_broker.url, second + first[:10])  # 200 new while the hub is away, 10 repeats
    hub = HubService(hub_cfg, BrokerAddress.parse(own_broker.url), pg_url)
    hub.start()
    try:
        wait_until(
            lambda: (hub.counters.fixes_stored, hub.counters.duplicates_dropped) == (200, 10),
            15,
            "the 200 fixes sent while the hub was away stored, the 10 repeats dropped",
        )
    finally:
        hub.stop()
    with psycopg.connect(pg_url) as c:
        assert FixRepository(c).count("truck-02") == 250


def test_hub_retention_deletes_only_fixes_older_than_configured(pg_url: str) -> None:
    hub_cfg = CFG.model_copy(
        update={"hub": CFG.hub.model_copy(update={"fixes_retention_days": 30})}
    )
    hub = HubService(hub_cfg, BrokerAddress.parse("mqtt://127.0.0.1:1"), pg_url)
    with psycopg.connect(pg_url, autocommit=True) as c:  # on TimescaleDB policies do this
        schema.upgrade(c, timescale=False)
    hub.prepare_database()
    now = datetime.now(UTC)
    old = [
        f.model_copy(update={"fix_time": now - timedelta(days=31)}) for f in map(fix, range(1, 6))
    ]
    new = [
        f.model_copy(update={"fix_time": now - timedelta(days=29)}) for f in map(fix, range(6, 9))
    ]
    with psycopg.connect(pg_url, autocommit=True) as c, c.transaction():
        FixRepository(c).insert_batch(old + new, now)
    result = hub.apply_retention()
    assert result.fixes == 5
    with psycopg.connect(pg_url) as c:
        assert FixRepository(c).count("truck-01") == 3


def test_hub_retention_deletes_child_passages_older_than_watch_retention(pg_url: str) -> None:
    from analytics.watch.tags import TagDirectory
    from citytrack.wire import Passage
    from hub.storage.watch import PassageRepository

    hub = HubService(CFG, BrokerAddress.parse("mqtt://127.0.0.1:1"), pg_url)
    with psycopg.connect(pg_url, autocommit=True) as c:  # on TimescaleDB policies do this
        schema.upgrade(c, timescale=False)
    hub.prepare_database()
    now = datetime.now(UTC)
    tag = CFG.watch.tags[3]  # an iBeacon tag: resolvable without EID keys
    assert tag.kind == "ibeacon"

    def passage(seq: int, age: timedelta) -> Passage:
        t = now - age
        return Passage(
            device_id="gate-naniwa-es",
            seq=seq,
            beacon_kind="ibeacon",
            beacon_id=tag.ibeacon_id(),
            first_seen=t,
            last_seen=t,
            closest_time=t,
            peak_rssi_dbm=-60,
            adv_count=5,
        )

    rows = [passage(1, timedelta(days=31)), passage(2, timedelta(days=29))]
    directory = TagDirectory(CFG.watch)
    with psycopg.connect(pg_url, autocommit=True) as c, c.transaction():
        pairs = [(p, directory.resolve(p.beacon_kind, p.beacon_id, p.closest_time)) for p in rows]
        assert all(t is not None for _, t in pairs)
        PassageRepository(c).insert(pairs, now)
    hub.apply_retention()
    with psycopg.connect(pg_url) as c:
        kept = c.execute("SELECT seq FROM passages ORDER BY seq").fetchall()
    assert kept == [(2,)]
