"""End to end: a device deletes a message only when the hub has it (its retained watermark).

A broker that crashes after PUBACK, and a unit whose outbox is replaced, lose nothing: the
device re-sends what the hub has not confirmed, and a new outbox numbers its messages after
the hub's watermark. Real Mosquitto, PostgreSQL and hub; the devices are outbox publishers
as the agents run them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from app.services import MosquittoBroker
from citytrack import wire
from citytrack.config import CitytrackConfig, load_config
from citytrack.mqtt import BrokerAddress
from edge_agent.outbox import Outbox
from edge_agent.publisher import OutboxPublisher
from hub.ingest.service import HubService
from tests.hub_messages import fix
from tests.waiting import wait_until

CFG = load_config()
TRUCKS = ["truck-01", "truck-02", "truck-03", "truck-04", "truck-05"]


def hub_config() -> CitytrackConfig:
    return CFG.model_copy(
        update={"hub": CFG.hub.model_copy(update={"client_id": f"hub-{uuid.uuid4().hex[:6]}"})}
    )


def device(
    outbox: Outbox, url: str, device_id: str, resend_after_s: float = 60.0
) -> OutboxPublisher:
    """A vehicle's publisher, confirming on the hub's watermark (as ``DeviceAgent`` does)."""
    return OutboxPublisher(
        outbox,
        BrokerAddress.parse(url),
        client_id=f"citytrack-{device_id}-{uuid.uuid4().hex[:4]}",
        status_topic=wire.topic_for(wire.Role.VEHICLE, device_id, wire.Kind.STATUS),
        make_status=lambda online: wire.encode(
            wire.DeviceStatus(device_id=device_id, online=online, time=wire.utcnow())
        ),
        watermark_topic=wire.watermark_topic(device_id),
        floor_wait_s=1.0,
        resend_after_s=resend_after_s,
    )


def append_fixes(outbox: Outbox, device_id: str, n: int, start: datetime) -> None:
    topic = wire.topic_for(wire.Role.VEHICLE, device_id, wire.Kind.FIX)
    for i in range(n):
        t = start + timedelta(seconds=0.1 * i)  # 10 Hz

        def payload(seq: int, t: datetime = t) -> bytes:
            f = fix(seq, 8.0, device_id).model_copy(update={"fix_time": t, "recv_time": t})
            return wire.encode(f)

        outbox.append(topic, payload)


def stored(db_url: str, device_id: str) -> tuple[int, int, int]:
    """(rows, distinct seqs, distinct fix times) of a device's stored fixes."""
    with psycopg.connect(db_url) as c:
        row = c.execute(
            "SELECT count(*), count(DISTINCT seq), count(DISTINCT fix_time) FROM fixes "
            "WHERE device_id = %s",
            (device_id,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


@pytest.fixture
def crashable_broker(make_broker: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A broker that writes its state to disk only every hour: a SIGKILL loses what it
    held in memory, as a crash between two saves does."""
    return make_broker(autosave_interval_s=3600)


@pytest.fixture
def outboxes(tmp_path: Path) -> Iterator[Callable[[str], Outbox]]:
    made: list[Outbox] = []

    def make(name: str) -> Outbox:
        box = Outbox(tmp_path / f"{name}.db")
        made.append(box)
        return box

    yield make
    for box in made:
        box.close()


def test_a_broker_crash_after_puback_loses_nothing(
    pg_url: str, crashable_broker: MosquittoBroker, outboxes: Callable[[str], Outbox]
) -> None:
    cfg = hub_config()
    hub = HubService(cfg, BrokerAddress.parse(crashable_broker.url), pg_url)
    hub.start()  # makes the hub's persistent session, then goes away
    assert hub.wait_subscribed(10)
    hub.stop()
    boxes = {d: outboxes(d) for d in TRUCKS}
    pubs = {d: device(boxes[d], crashable_broker.url, d) for d in TRUCKS}
    start = datetime.now(UTC)
    for d in TRUCKS:
        append_fixes(boxes[d], d, 30, start)
        pubs[d].start()
    try:
        # every fix acknowledged by the broker (PUBACK) and queued for the absent hub
        wait_until(lambda: all(p.published >= 30 for p in pubs.values()), 30, "PUBACKs")
        assert all(boxes[d].depth() == 30 for d in TRUCKS)  # kept: the hub has none yet
        crashable_broker.kill()
        crashable_broker.start()
        hub = HubService(cfg, BrokerAddress.parse(crashable_broker.url), pg_url)
        hub.start()
        try:
            wait_until(lambda: all(boxes[d].depth() == 0 for d in TRUCKS), 60, "confirmed")
        finally:
            hub.stop()
    finally:
        for p in pubs.values():
            p.stop()
    for d in TRUCKS:
        assert stored(pg_url, d) == (30, 30, 30)


def test_a_new_outbox_for_an_existing_device_loses_nothing(
    pg_url: str, own_broker: MosquittoBroker, outboxes: Callable[[str], Outbox]
) -> None:
    device_id = "truck-05"
    broker_url = own_broker.url
    hub = HubService(hub_config(), BrokerAddress.parse(broker_url), pg_url)
    hub.start()
    try:
        assert hub.wait_subscribed(10)
        old = outboxes("old")
        append_fixes(old, device_id, 50, datetime.now(UTC) - timedelta(minutes=2))
        pub = device(old, broker_url, device_id)
        pub.start()
        wait_until(lambda: old.depth() == 0, 30, "the old outbox confirmed by the hub")
        pub.stop()
        # the unit is replaced: a new outbox, whose seqs would start at 1 again
        new = outboxes("new")
        append_fixes(new, device_id, 30, datetime.now(UTC) - timedelta(minutes=1))
        assert not new.floor_settled
        pub = device(new, broker_url, device_id)
        pub.start()
        wait_until(lambda: new.depth() == 0, 30, "the new outbox confirmed by the hub")
        pub.stop()
        assert new.floor_settled and new.last_seq() == 80
    finally:
        hub.stop()
    assert stored(pg_url, device_id) == (80, 80, 80)


def test_messages_a_broker_dropped_with_the_connection_up_are_sent_again(
    pg_url: str, own_broker: MosquittoBroker, outboxes: Callable[[str], Outbox]
) -> None:
    """No hub session on the broker (a new client id, or a broker that lost it): what the
    device sent meanwhile was acknowledged and dropped. The device, still connected, sends
    it again once the hub has confirmed nothing for a while."""
    device_id = "truck-04"
    box = outboxes("box")
    append_fixes(box, device_id, 20, datetime.now(UTC) - timedelta(minutes=1))
    pub = device(box, own_broker.url, device_id, resend_after_s=1.0)
    pub.start()
    hub: HubService | None = None
    try:
        wait_until(lambda: pub.published >= 20, 30, "PUBACKs from a broker with no hub")
        hub = HubService(hub_config(), BrokerAddress.parse(own_broker.url), pg_url)
        hub.start()
        wait_until(lambda: box.depth() == 0, 30, "the hub's confirmation of every message")
        assert pub.connects == 1  # sent again without a reconnect
    finally:
        pub.stop()
        if hub is not None:
            hub.stop()
    assert stored(pg_url, device_id) == (20, 20, 20)
