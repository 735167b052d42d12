"""Nothing lost, nothing silent: retried batches, restarts, poison messages, floods, outages.

Each test drives the hub's real pipeline on real PostgreSQL (and Mosquitto where the broker
is part of the story) through the path a failure takes in production.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from app.services import MosquittoBroker, SystemPostgres, free_port
from citytrack import wire
from citytrack.config import CitytrackConfig, load_config
from citytrack.logs import ThrottledLog
from citytrack.mqtt import BrokerAddress
from hub.ingest.inbox import FairInbox
from hub.ingest.service import HubService
from hub.pipeline.batch import Batch, Inbound
from hub.pipeline.dead_letters import DeadLetterHandler
from hub.pipeline.runner import build_pipeline
from hub.storage import schema
from hub.storage.fleet import MAX_DEAD_PAYLOAD, AlertRepository, DeadLetterRepository
from tests.hub_messages import fix, inbound
from tests.mqtt_helpers import publish
from tests.waiting import wait_until

CFG = load_config()
# 11 m/s, then a stop at about 5 m/s^2: one harsh braking episode
BRAKING = [11.0] * 10 + [6.0, 1.0, 0.0] + [0.0] * 5


def live_fix(seq: int, speed_mps: float, start: datetime, device: str = "truck-01") -> wire.Fix:
    """``fix(seq)`` moved to ``start + seq`` seconds (inside the hub's time window)."""
    t = start + timedelta(seconds=seq)
    return fix(seq, speed_mps, device).model_copy(update={"fix_time": t, "recv_time": t})


def braking(start: datetime, device: str = "truck-01") -> list[wire.Fix]:
    return [live_fix(i + 1, s, start, device) for i, s in enumerate(BRAKING)]


@pytest.fixture
def conn(pg_url: str):  # type: ignore[no-untyped-def]
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c)
        yield c


class FailOnce:
    """A critical handler that fails the first batch holding fixes, as a lost database does."""

    critical = True

    def __init__(self) -> None:
        self.failed = False

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        if batch.fixes and not self.failed:
            self.failed = True
            raise psycopg.OperationalError("connection lost (injected)")


def test_a_retried_batch_gives_the_alerts_of_a_fault_free_run(conn: psycopg.Connection) -> None:
    fault = FailOnce()
    pipeline = build_pipeline(CFG.city, CFG.detectors, extra_handlers=[fault])
    batch = [inbound(f) for f in braking(datetime.now(UTC))]
    with pytest.raises(psycopg.OperationalError):
        pipeline.process(conn, batch)
    assert fault.failed and AlertRepository(conn).query(device_id="truck-01") == []
    pipeline.process(conn, batch)  # the retry
    alerts = AlertRepository(conn).query(device_id="truck-01")
    assert [a.kind for a in alerts] == ["harsh_braking"]


def test_a_failed_detector_step_leaves_the_detectors_as_they_were(
    conn: psycopg.Connection,
) -> None:
    """A non-critical handler's savepoint is undone, and so is its state: the fixes it saw
    in the failed step are seen again when they are redelivered."""
    pipeline = build_pipeline(CFG.city, CFG.detectors)
    detect = next(h for h in pipeline.handlers if type(h).__name__ == "DetectHandler")
    fixes = braking(datetime.now(UTC))
    original = detect.handle
    calls = {"n": 0}

    def failing_once(batch: Batch, c: psycopg.Connection) -> None:
        calls["n"] += 1
        original(batch, c)
        if calls["n"] == 1:
            raise RuntimeError("detector defect (injected)")

    detect.handle = failing_once  # type: ignore[method-assign]
    pipeline.process(conn, [inbound(f) for f in fixes])
    assert pipeline.counters.handler_errors == 1
    # the same fixes again: stored already, so the detectors only see them if new; they
    # are not new, so nothing is detected -- but the next episode is seen whole
    later = datetime.now(UTC) + timedelta(minutes=1)
    second = [live_fix(100 + i, s, later) for i, s in enumerate(BRAKING)]
    pipeline.process(conn, [inbound(f) for f in second])
    assert [a.kind for a in AlertRepository(conn).query(device_id="truck-01")] == ["harsh_braking"]


def hub_config(client_id: str) -> CitytrackConfig:
    return CFG.model_copy(update={"hub": CFG.hub.model_copy(update={"client_id": client_id})})


def fix_messages(fixes: list[wire.Fix]) -> list[tuple[str, bytes]]:
    return [
        (wire.topic_for(wire.Role.VEHICLE, f.device_id, wire.Kind.FIX), wire.encode(f))
        for f in fixes
    ]


def test_an_episode_that_straddles_a_hub_restart_gives_one_alert(
    pg_url: str, own_broker: MosquittoBroker
) -> None:
    cfg = hub_config(f"hub-{uuid.uuid4().hex[:6]}")
    fixes = braking(datetime.now(UTC), device="truck-03")
    hub = HubService(cfg, BrokerAddress.parse(own_broker.url), pg_url)
    hub.start()
    try:
        assert hub.wait_subscribed(10)
        publish(own_broker.url, fix_messages(fixes[:11]))  # cruising, then braking begins
        wait_until(lambda: hub.counters.fixes_stored == 11, 15, "the first 11 fixes stored")
        assert hub.counters.alerts == 0  # the episode has not ended yet
    finally:
        hub.stop()
    hub = HubService(cfg, BrokerAddress.parse(own_broker.url), pg_url)
    hub.start()
    try:
        assert hub.wait_subscribed(10)
        publish(own_broker.url, fix_messages(fixes[11:]))
        wait_until(lambda: hub.counters.fixes_stored == len(fixes) - 11, 15, "the rest stored")
        wait_until(lambda: hub.counters.alerts == 1, 10, "the episode's alert")
    finally:
        hub.stop()
    with psycopg.connect(pg_url) as c:
        alerts = AlertRepository(c).query(device_id="truck-03")
    assert [a.kind for a in alerts] == ["harsh_braking"]


# --- one message must never stop the hub -------------------------------------------------


def _fix_json(**changes: object) -> bytes:
    now = datetime.now(UTC).isoformat()
    body: dict[str, object] = {
        "schema": 1,
        "kind": "fix",
        "device_id": "truck-01",
        "seq": 1,
        "fix_time": now,
        "recv_time": now,
        "lat_deg": 34.67,
        "lon_deg": 135.496,
        "speed_mps": 8.0,
    }
    body.update(changes)
    return json.dumps(body).replace('"NaN!"', "NaN").replace('"Inf!"', "Infinity").encode()


def _passage_json(**changes: object) -> bytes:
    now = datetime.now(UTC).isoformat()
    tag = CFG.watch.tags[3]
    body: dict[str, object] = {
        "schema": 1,
        "kind": "passage",
        "device_id": "gate-naniwa-es",
        "seq": 1,
        "beacon_kind": "ibeacon",
        "beacon_id": tag.ibeacon_id(),
        "first_seen": now,
        "last_seen": now,
        "closest_time": now,
        "peak_rssi_dbm": -60.0,
        "adv_count": 5,
    }
    body.update(changes)
    return json.dumps(body).encode()


def _event_json(**changes: object) -> bytes:
    now = datetime.now(UTC).isoformat()
    body: dict[str, object] = {
        "schema": 1,
        "kind": "event",
        "device_id": "truck-01",
        "seq": 1,
        "event_kind": "harsh_braking",
        "start_time": now,
        "end_time": now,
        "peak_mps2": 5.0,
        "threshold_mps2": 3.5,
    }
    body.update(changes)
    return json.dumps(body).encode()


FIX_TOPIC = "citytrack/v1/vehicle/truck-01/fix"
EVENT_TOPIC = "citytrack/v1/vehicle/truck-01/event"
PASSAGE_TOPIC = "citytrack/v1/station/gate-naniwa-es/passage"
STATUS_TOPIC = "citytrack/v1/vehicle/truck-01/status"
LONG_AGO = (datetime.now(UTC) - timedelta(days=40)).isoformat()  # past watch retention (30 d)

BAD_INPUT = {
    "seq 2^63": (FIX_TOPIC, _fix_json(seq=2**63)),
    "seq as a string": (FIX_TOPIC, _fix_json(seq="7")),
    "seq true": (FIX_TOPIC, _fix_json(seq=True)),
    "NaN latitude": (FIX_TOPIC, _fix_json(lat_deg="NaN!")),
    "infinite speed": (FIX_TOPIC, _fix_json(speed_mps="Inf!")),
    "speed 1e308": (FIX_TOPIC, _fix_json(speed_mps=1e308)),
    "speed 2.5e20": (FIX_TOPIC, _fix_json(speed_mps=2.5e20)),
    "fix dated 1970": (FIX_TOPIC, _fix_json(fix_time="1970-01-01T00:00:00Z")),
    "fix dated 2100": (FIX_TOPIC, _fix_json(fix_time="2100-01-01T00:00:00Z")),
    "fix dated year 1 at +09:00": (FIX_TOPIC, _fix_json(fix_time="0001-01-01T00:00:00+09:00")),
    "status dated 2100": (
        STATUS_TOPIC,
        json.dumps(
            {
                "device_id": "truck-01",
                "kind": "status",
                "online": True,
                "time": "2100-01-01T00:00:00Z",
            }
        ).encode(),
    ),
    "status counter 2^64": (
        STATUS_TOPIC,
        json.dumps(
            {
                "device_id": "truck-01",
                "kind": "status",
                "online": True,
                "time": datetime.now(UTC).isoformat(),
                "counters": {"sent": 2**64},
            }
        ).encode(),
    ),
    "event dated year 1": (
        EVENT_TOPIC,
        _event_json(start_time="0001-01-01T00:00:00Z", end_time="0001-01-01T00:00:01Z"),
    ),
    "event dated 9999": (
        EVENT_TOPIC,
        _event_json(start_time="9999-12-31T23:59:58Z", end_time="9999-12-31T23:59:59Z"),
    ),
    "passage adv_count 2^31": (PASSAGE_TOPIC, _passage_json(adv_count=2**31)),
    "passage battery 2^63": (PASSAGE_TOPIC, _passage_json(battery_mv=2**63)),
    "passage dated 2100": (
        PASSAGE_TOPIC,
        _passage_json(
            first_seen="2100-01-01T00:00:00Z",
            last_seen="2100-01-01T00:00:00Z",
            closest_time="2100-01-01T00:00:00Z",
        ),
    ),
    "passage older than retention": (
        PASSAGE_TOPIC,
        _passage_json(first_seen=LONG_AGO, last_seen=LONG_AGO, closest_time=LONG_AGO),
    ),
}


@pytest.fixture
def hub(pg_url: str) -> Iterator[HubService]:
    """A hub whose pipeline is driven directly (``ingest``), without a broker."""
    service = HubService(CFG, BrokerAddress.parse("mqtt://127.0.0.1:1"), pg_url)
    service.prepare_database()
    yield service
    service.stop()


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_out_of_bounds_input_is_a_dead_letter_and_the_hub_goes_on(
    hub: HubService, case: str
) -> None:
    topic, payload = BAD_INPUT[case]
    good = inbound(live_fix(5, 8.0, datetime.now(UTC)))
    hub.ingest([Inbound(topic, payload, datetime.now(UTC)), good])
    assert (hub.counters.dead_letters, hub.counters.fixes_stored) == (1, 1)
    with psycopg.connect(hub.db_url) as c:
        assert c.execute("SELECT count(*) FROM passages").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM edge_events").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM device_status").fetchone() == (0,)
        (reason,) = [d.reason for d in DeadLetterRepository(c).recent(5)]
    assert reason  # says why


class Defect:
    """A handler with a defect that one payload sets off (not a database error)."""

    critical = True

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        if any(f.speed_mps == 13.0 for f in batch.fixes):
            raise ZeroDivisionError("a defect (injected)")


def test_a_message_that_sets_off_a_defect_is_isolated_and_the_worker_goes_on(
    pg_url: str, broker_url: str
) -> None:
    device = "truck-02"
    hub = HubService(
        hub_config(f"hub-{uuid.uuid4().hex[:6]}"), BrokerAddress.parse(broker_url), pg_url
    )
    hub.pipeline.handlers.append(Defect())
    hub.start()
    try:
        assert hub.wait_subscribed(10)
        start = datetime.now(UTC)
        poison = live_fix(1, 13.0, start, device)
        after = [live_fix(s, 8.0, start, device) for s in range(2, 12)]
        publish(broker_url, fix_messages([poison]))
        wait_until(lambda: hub.counters.dead_letters == 1, 15, "the poison message dead-lettered")
        publish(broker_url, fix_messages(after))
        wait_until(lambda: hub.counters.fixes_stored == 10, 15, "later fixes still stored")
        ready = hub.readiness()
        assert ready.checks["worker"].ok and ready.checks["database"].ok
    finally:
        hub.stop()
    with psycopg.connect(pg_url) as c:
        (reason,) = [d.reason for d in DeadLetterRepository(c).recent(5)]
    assert "ZeroDivisionError" in reason


# --- floods ---------------------------------------------------------------------------------


def test_a_flooding_device_does_not_hold_up_the_others() -> None:
    inbox = FairInbox()
    now = datetime.now(UTC)
    for i in range(10_000):
        inbox.put(Inbound("citytrack/v1/vehicle/noisy/fix", b"x%d" % i, now))
    inbox.put(Inbound("citytrack/v1/vehicle/quiet/fix", b"fix", now))
    first = inbox.take(2000, 0.0, 1.0)
    assert len(first) == 2000
    assert [m.topic for m in first].index("citytrack/v1/vehicle/quiet/fix") <= 1
    noisy = [m.payload for m in first if "noisy" in m.topic]
    assert noisy == [b"x%d" % i for i in range(len(noisy))]  # each device's order is kept


def test_a_flood_of_dead_letters_writes_few_log_lines_and_bounded_rows(
    conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    handler = DeadLetterHandler(
        build_pipeline(CFG.city, CFG.detectors).counters,
        ThrottledLog(logging.getLogger("test.dead"), interval_s=3600),
    )
    now = datetime.now(UTC)
    dead = [(Inbound(FIX_TOPIC, b"{bad", now), "invalid JSON") for _ in range(5000)]
    huge = Inbound(FIX_TOPIC, b"x" * (10 * 1024 * 1024), now)
    batch = Batch(inbound=[])
    batch.dead.extend([*dead, (huge, "invalid JSON")])
    with caplog.at_level(logging.WARNING, logger="test.dead"), conn.transaction():
        handler.handle(batch, conn)
    assert len([r for r in caplog.records if r.name == "test.dead"]) == 1
    assert handler.throttle.suppressed_total == 5000
    assert DeadLetterRepository(conn).count() == 5001
    row = conn.execute(
        "SELECT length(payload), reason FROM dead_letters ORDER BY length(payload) DESC LIMIT 1"
    ).fetchone()
    assert row is not None and row[0] == MAX_DEAD_PAYLOAD
    assert "10485760 bytes" in row[1]


# --- outages are visible --------------------------------------------------------------------


def test_readiness_names_an_unreachable_broker(pg_url: str) -> None:
    closed = f"mqtt://127.0.0.1:{free_port()}"
    hub = HubService(hub_config(f"hub-{uuid.uuid4().hex[:6]}"), BrokerAddress.parse(closed), pg_url)
    hub.start()
    try:
        wait_until(lambda: "refused" in hub.readiness().checks["broker"].detail, 15, "the reason")
        ready = hub.readiness()
        assert not ready.ready and ready.checks["database"].ok and ready.checks["worker"].ok
    finally:
        hub.stop()


def test_readiness_follows_the_database_down_and_back(services_dir: Path, broker_url: str) -> None:
    server = SystemPostgres(services_dir / f"pg-{uuid.uuid4().hex[:6]}").start()
    hub = HubService(
        hub_config(f"hub-{uuid.uuid4().hex[:6]}"), BrokerAddress.parse(broker_url), server.url
    )
    try:
        hub.start()
        assert hub.wait_subscribed(10)
        old_pid = int((server.workdir / "data" / "postmaster.pid").read_text().split()[0])
        server.stop()
        publish(broker_url, fix_messages([live_fix(1, 8.0, datetime.now(UTC), "truck-04")]))
        wait_until(lambda: not hub.readiness().checks["database"].ok, 20, "database reported down")
        assert "database unavailable" in hub.readiness().checks["database"].detail
        wait_until(lambda: not _alive(old_pid), 30, "the old postmaster gone")
        server.start()
        wait_until(lambda: hub.counters.fixes_stored == 1, 30, "the fix stored once it is back")
        wait_until(lambda: hub.readiness().checks["database"].ok, 10, "the database ready again")
    finally:
        hub.stop()
        server.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- notices ---------------------------------------------------------------------------------


def test_a_failed_notice_step_still_gives_the_guardian_exactly_one_notice(
    pg_url: str, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.storage.notifications import NotificationRepository
    from hub.storage.watch import WatchEventRepository

    real_insert = NotificationRepository.insert
    failures = {"left": 1}

    def insert_failing_once(self: NotificationRepository, *args: object, **kw: object) -> object:
        if failures["left"]:
            failures["left"] -= 1
            raise psycopg.OperationalError("connection lost while storing notices (injected)")
        return real_insert(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(NotificationRepository, "insert", insert_failing_once)
    hub = HubService(
        hub_config(f"hub-{uuid.uuid4().hex[:6]}"), BrokerAddress.parse(broker_url), pg_url
    )
    hub.start()
    try:
        assert hub.wait_subscribed(10)
        publish(broker_url, [(PASSAGE_TOPIC, _passage_json(seq=7))])
        wait_until(
            lambda: hub.watch is not None and hub.watch.counters.watch_events > 0, 20, "events"
        )
        wait_until(
            lambda: hub.watch is not None and hub.watch.notifier.counters.get("stored", 0) > 0,
            20,
            "notices",
        )
    finally:
        hub.stop()
    assert failures["left"] == 0  # the failure did happen
    with psycopg.connect(pg_url) as c:
        since = datetime.now(UTC) - timedelta(hours=1)
        assert WatchEventRepository(c).without_notices(since) == []
        rows = c.execute(
            "SELECT event_id, guardian_id, channel, count(*) FROM notifications GROUP BY 1, 2, 3"
        ).fetchall()
    assert rows and all(n == 1 for *_, n in rows)


def test_events_left_without_notices_are_notified_at_start(pg_url: str) -> None:
    from analytics.watch.events import WatchEvent, WatchEventKind
    from hub.storage.watch import WatchEventRepository

    hub = HubService(CFG, BrokerAddress.parse(f"mqtt://127.0.0.1:{free_port()}"), pg_url)
    hub.prepare_database()
    child = CFG.watch.children[0]
    orphan = WatchEvent.create(
        WatchEventKind.ARRIVED_SCHOOL,
        child.id,
        datetime.now(UTC) - timedelta(minutes=5),
        station_id=CFG.watch.stations[0].id,
        school_id=child.school_id,
    )
    with psycopg.connect(pg_url, autocommit=True) as c, c.transaction():
        WatchEventRepository(c).insert([orphan])  # stored, its notices never made
    hub.start()
    hub.stop()
    with psycopg.connect(pg_url) as c:
        guardians = {
            g
            for (g,) in c.execute(
                "SELECT guardian_id FROM notifications WHERE event_id = %s", (orphan.event_id,)
            ).fetchall()
        }
    assert guardians == set(child.guardian_ids)


# --- two hubs ----------------------------------------------------------------------------


def test_a_second_hub_on_the_same_database_refuses_before_touching_anything(
    pg_url: str, broker_url: str
) -> None:
    from hub.ingest.service import HubAlreadyRunningError

    cfg = hub_config(f"hub-{uuid.uuid4().hex[:6]}")
    first = HubService(cfg, BrokerAddress.parse(broker_url), pg_url)
    first.start()
    try:
        assert first.wait_subscribed(10)
        second = HubService(cfg, BrokerAddress.parse(broker_url), pg_url)
        with pytest.raises(HubAlreadyRunningError, match="another hub is running"):
            second.start()
        assert second.link.failures == 0 and not second.link.connected  # never connected
        publish(broker_url, fix_messages([live_fix(1, 8.0, datetime.now(UTC), "truck-05")]))
        wait_until(lambda: first.counters.fixes_stored == 1, 15, "the first hub still ingests")
        assert first.link.connected
    finally:
        first.stop()
    again = HubService(cfg, BrokerAddress.parse(broker_url), pg_url)
    again.start()  # the lock went with the first hub
    again.stop()


def test_the_hub_command_says_in_one_line_that_another_hub_runs(
    pg_url: str, broker_url: str
) -> None:
    import subprocess
    import sys

    citytrack = str(Path(sys.executable).with_name("citytrack"))
    argv = [citytrack, "hub", "--db", pg_url, "--broker", broker_url]
    first = subprocess.Popen([*argv, "--api-port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None
        assert "hub running" in first.stdout.readline()
        second = subprocess.run(
            [*argv, "--api-port", "0"], check=False, capture_output=True, text=True, timeout=60
        )
    finally:
        first.terminate()
        first.communicate(timeout=30)
    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    errors = [line for line in second.stderr.splitlines() if line.startswith("citytrack:")]
    assert len(errors) == 1 and "another hub is running" in errors[0], second.stderr
    assert "schema step" not in second.stderr  # it migrated nothing


def test_the_hub_commits_to_disk_whatever_the_server_default(hub: HubService) -> None:
    """A batch is acknowledged once it commits: a commit the server could still lose in a
    crash (synchronous_commit off, as on the test server) would lose acknowledged fixes."""
    hub.ingest([inbound(live_fix(1, 8.0, datetime.now(UTC)))])
    conn = hub._connection()
    assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
