"""Test clients of a real broker: a plain paho subscriber that collects what it delivers,
and a publisher of (topic, payload) pairs."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from citytrack.mqtt import BrokerAddress, make_client
from tests.waiting import poll


class Collector:
    """Subscribes to ``topic`` (QoS 1) and keeps (topic, payload, retain) in arrival order."""

    def __init__(
        self, url: str, topic: str, *, client_id: str | None = None, clean_session: bool = True
    ) -> None:
        self.address = BrokerAddress.parse(url)
        self.topic = topic
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = make_client(
            client_id or f"test-{uuid.uuid4().hex[:8]}", self.address, clean_session=clean_session
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def start(self) -> Collector:
        self.client.connect(self.address.host, self.address.port)
        self.client.loop_start()
        assert self._subscribed.wait(5), "subscription not acknowledged"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def topics(self) -> list[str]:
        with self._lock:
            return [t for t, _, _ in self.messages]

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [p for _, p, _ in self.messages]

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> bool:
        """True as soon as ``count`` messages have arrived; False after ``timeout_s``."""
        return poll(lambda: self.count() >= count, timeout_s)


def publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish (topic, payload) pairs with QoS 1, each acknowledged before the next."""
    address = BrokerAddress.parse(url)
    client = make_client(f"pub-{uuid.uuid4().hex[:6]}", address)
    client.connect(address.host, address.port)
    client.loop_start()
    for topic, body in messages:
        client.publish(topic, body, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
