"""The embedded fallback broker (amqtt) carries the agent's QoS 1 traffic too."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from app.services import AmqttBroker
from citytrack.mqtt import BrokerAddress
from edge_agent.outbox import Outbox
from edge_agent.publisher import OutboxPublisher
from tests.mqtt_helpers import Collector


def test_amqtt_fallback_delivers_an_outbox_in_order(tmp_path: Path) -> None:
    broker = AmqttBroker(tmp_path / "amqtt").start()
    topic = f"citytrack/v1/vehicle/t-{uuid.uuid4().hex[:6]}/fix"
    sub = Collector(broker.url, topic).start()
    box = Outbox(tmp_path / "o.db")
    for _ in range(300):
        box.append(topic, lambda seq: json.dumps({"seq": seq}).encode())
    pub = OutboxPublisher(
        box,
        BrokerAddress.parse(broker.url),
        client_id="amqtt-pub",
        status_topic=topic.replace("/fix", "/status"),
        make_status=lambda online: b"{}",
    )
    pub.start()
    try:
        assert pub.wait_drained(30)
        assert sub.wait_for(300, timeout_s=30)
    finally:
        pub.stop()
        sub.stop()
        broker.stop()
    assert [json.loads(p)["seq"] for p in sub.payloads()] == list(range(1, 301))
