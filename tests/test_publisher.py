"""The outbox publisher against a real Mosquitto: in order, QoS 1, nothing lost."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from app.services import MosquittoBroker
from citytrack.mqtt import BrokerAddress
from edge_agent.outbox import Outbox
from edge_agent.publisher import OutboxPublisher
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until


def make_publisher(box: Outbox, url: str, topic_root: str) -> OutboxPublisher:
    return OutboxPublisher(
        box,
        BrokerAddress.parse(url),
        client_id=f"pub-{uuid.uuid4().hex[:8]}",
        status_topic=f"{topic_root}/status",
        make_status=lambda online: json.dumps({"online": online}).encode(),
        max_inflight=50,
        status_interval_s=60,
    )


def fill(box: Outbox, topic: str, n: int) -> None:
    for _ in range(n):
        box.append(topic, lambda seq: json.dumps({"seq": seq}).encode())


def seqs(collector: Collector) -> list[int]:
    return [json.loads(p)["seq"] for t, p, _ in collector.messages if t.endswith("/fix")]


def test_backlog_drains_in_order_and_is_deleted_on_puback(tmp_path: Path, broker_url: str) -> None:
    root = f"test/{uuid.uuid4().hex[:8]}"
    sub = Collector(broker_url, f"{root}/#").start()
    box = Outbox(tmp_path / "o.db")
    fill(box, f"{root}/fix", 2000)
    pub = make_publisher(box, broker_url, root)
    pub.start()
    try:
        assert pub.wait_drained(20)
        assert sub.wait_for(2001)  # 2000 fixes + the retained online status
    finally:
        pub.stop()
        sub.stop()
    assert seqs(sub) == list(range(1, 2001))
    assert pub.published == 2000
    assert box.depth() == 0


def test_nothing_lost_across_a_broker_outage(tmp_path: Path, own_broker: MosquittoBroker) -> None:
    broker = own_broker
    root = f"test/{uuid.uuid4().hex[:8]}"
    sub = Collector(broker.url, f"{root}/fix", client_id="outage-sub", clean_session=False).start()
    box = Outbox(tmp_path / "o.db")
    pub = make_publisher(box, broker.url, root)
    pub.start()
    try:
        fill(box, f"{root}/fix", 100)
        pub.notify()
        assert pub.wait_drained(10)
        broker.stop()  # a restart: mosquitto persists its sessions on SIGTERM
        wait_until(lambda: not pub.connected, 10, "the publisher to see the broker gone")
        fill(box, f"{root}/fix", 300)  # written while the broker is down
        pub.notify()
        # nothing to await when nothing may happen: a second in which the woken publisher
        # could (wrongly) take rows out of the outbox without a PUBACK
        time.sleep(1.0)
        assert box.depth() == 300
        broker.start()  # same port, same persistence directory
        assert pub.wait_drained(30)
        assert sub.wait_for(400, timeout_s=30)
    finally:
        pub.stop()
        sub.stop()
        broker.stop()
    received = seqs(sub)
    assert sorted(set(received)) == list(range(1, 401))
    assert pub.connects >= 2


def test_an_hour_of_10hz_backlog_drains_in_order(tmp_path: Path, broker_url: str) -> None:
    """An hour offline at 10 Hz is 36,000 fixes; all arrive, in order, none twice."""
    root = f"test/{uuid.uuid4().hex[:8]}"
    sub = Collector(broker_url, f"{root}/fix").start()
    box = Outbox(tmp_path / "o.db")
    fill(box, f"{root}/fix", 36_000)
    pub = make_publisher(box, broker_url, root)
    pub.start()
    try:
        assert pub.wait_drained(120)
        assert sub.wait_for(36_000, timeout_s=60)
    finally:
        pub.stop()
        sub.stop()
    assert seqs(sub) == list(range(1, 36_001))
