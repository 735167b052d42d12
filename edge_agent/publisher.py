"""Drain a device outbox to the broker: QoS 1, in order, deleted only on PUBACK.

One thread owns the outbox cursor; paho's network thread only reports PUBACKs (through a
queue, because paho calls ``on_publish`` under its own locks). Within one process, paho
re-sends its unacknowledged messages after a reconnect; after a restart, everything
still in the outbox is sent again from the oldest row. Either way the hub may see a
message twice, never zero times: it drops duplicates by (device_id, seq).

The device status is retained, published on every connect and every
``status_interval_s``, with a retained last will that says offline.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from citytrack.mqtt import BrokerAddress, make_client
from edge_agent.outbox import Outbox

log = logging.getLogger(__name__)

StatusFactory = Callable[[bool], bytes]


class OutboxPublisher:
    """Publishes an outbox's rows and the device status over one MQTT connection."""

    def __init__(
        self,
        outbox: Outbox,
        address: BrokerAddress,
        *,
        client_id: str,
        status_topic: str,
        make_status: StatusFactory,
        max_inflight: int = 200,
        status_interval_s: float = 10.0,
    ) -> None:
        self.outbox = outbox
        self.status_topic = status_topic
        self.make_status = make_status
        self.max_inflight = max_inflight
        self.status_interval_s = status_interval_s
        self.published = 0  # messages acknowledged by the broker (PUBACK)
        self.connects = 0
        self._connected = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._cursor = 0  # highest seq handed to paho in this process
        self._thread: threading.Thread | None = None
        self.client = make_client(client_id, address, clean_session=True)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self._address = address

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self.client.will_set(self.status_topic, self.make_status(False), qos=1, retain=True)
        self.client.connect_async(self._address.host, self._address.port, keepalive=30)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Tell the publisher that new rows are in the outbox."""
        self._wake.set()

    def wait_drained(self, timeout_s: float) -> bool:
        """Block until the outbox is empty and nothing is in flight, or timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.outbox.depth() == 0 and not self._inflight:
                return True
            self._wake.set()
            time.sleep(0.05)
        return False

    def stop(self, *, graceful: bool = True) -> None:
        """Stop; with ``graceful`` publish an offline status and disconnect cleanly."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        if graceful and self.connected:
            info = self.client.publish(self.status_topic, self.make_status(False), 1, True)
            info.wait_for_publish(2)
            self.client.disconnect()
        self.client.loop_stop()

    # paho callbacks (network thread): no locks, no I/O beyond signalling

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused connection: %s", reason)
            return
        self.connects += 1
        self._connected.set()
        self._wake.set()
        log.info("connected to broker (connect #%d)", self.connects)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        if reason.is_failure:
            log.warning("disconnected from broker: %s; the outbox keeps the backlog", reason)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        self._acks.put(mid)
        self._wake.set()

    # publisher thread

    def _run(self) -> None:
        next_status = 0.0
        was_connected = False
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self._settle_acks()
            connected = self.connected
            if connected and (not was_connected or time.monotonic() >= next_status):
                self.client.publish(self.status_topic, self.make_status(True), 1, True)
                next_status = time.monotonic() + self.status_interval_s
            was_connected = connected
            if connected:
                self._send_more()
        self._settle_acks()

    def _settle_acks(self) -> None:
        seqs: list[int] = []
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                break
            seq = self._inflight.pop(mid, None)
            if seq is not None:
                seqs.append(seq)
        if seqs:
            self.outbox.ack(seqs)
            self.published += len(seqs)

    def _send_more(self) -> None:
        room = self.max_inflight - len(self._inflight)
        if room <= 0:
            return
        for row in self.outbox.pending(self._cursor, room):
            info = self.client.publish(row.topic, row.payload, qos=1)
            if info.rc == mqtt.MQTT_ERR_NO_CONN:
                # paho keeps it queued and sends it after the reconnect
                log.debug("queued seq %d while the connection is down", row.seq)
            self._inflight[info.mid] = row.seq
            self._cursor = row.seq
