"""Drain a device outbox to the broker: QoS 1, in order, deleted only when confirmed.

Confirmed means, for a device agent, by the hub (``watermark_topic``): the hub publishes a
retained ``Watermark`` per device, the highest seq it has taken into its database, and
the publisher deletes the rows it covers. A broker's PUBACK only frees a slot in flight:
a broker that crashes after PUBACK loses what it had not yet persisted, so on every
(re)connect the publisher sends again everything the hub has not confirmed, oldest
first; and if the hub confirms nothing for ``resend_after_s`` while messages wait (the
broker dropped them with the connection up, e.g. a hub whose session it lost), it sends
them again, waiting twice as long each time up to ``RESEND_MAX_S``. The hub drops
duplicates by (device_id, seq): a message may arrive twice, never zero times. Without
``watermark_topic`` (a bench or a test with no hub) rows are deleted on PUBACK.

A new outbox (``Outbox.floor_settled`` false) sends nothing until it knows where the
device's sequence stands at the hub: the retained watermark, read on connecting (or, if
none comes within ``floor_wait_s``, a device the hub has never heard of); its rows are
renumbered to follow it, so a replaced unit never reuses a seq the hub has stored.

One thread owns the outbox cursor; paho's network thread only reports PUBACKs and
watermarks (through queues, because paho calls back under its own locks).

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

from citytrack import wire
from citytrack.mqtt import BrokerAddress, BrokerLink, make_client
from edge_agent.outbox import Outbox

log = logging.getLogger(__name__)
RESEND_MAX_S = 900.0

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
        watermark_topic: str | None = None,
        floor_wait_s: float = 3.0,
        resend_after_s: float = 60.0,
    ) -> None:
        self.outbox = outbox
        self.watermark_topic = watermark_topic
        self.floor_wait_s = floor_wait_s
        # sent but unconfirmed for this long (doubling to RESEND_MAX_S): send again, in case
        # the broker lost them while the connection stayed up (e.g. the hub's session)
        self.resend_after_s = resend_after_s
        self._resend_wait = resend_after_s
        self._progress_at = time.monotonic()
        self.confirmed = 0  # rows the hub confirmed (deleted on its watermark)
        self._marks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._resend = threading.Event()
        self._subscribed_at: float | None = None
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
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._address = address
        self.link = BrokerLink(address, log, backlog=outbox.depth, client_id=client_id)
        self.link.attach(self.client)

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

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.link.refused(reason)
            return
        self.connects += 1
        self.link.up()
        if self.watermark_topic is not None:
            self._subscribed_at = None
            client.subscribe(self.watermark_topic, qos=1)
            self._resend.set()  # what the hub has not confirmed goes again
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            self.link.down(f"{reason}; the outbox keeps the backlog")

    def _on_subscribe(self, *_: Any) -> None:
        self._subscribed_at = time.monotonic()
        self._wake.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            mark = wire.Watermark.model_validate_json(msg.payload)
        except ValueError as exc:
            log.warning("ignoring a bad watermark on %s: %s", msg.topic, exc)
            return
        self._marks.put(mark.seq)
        self._wake.set()

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
            self._settle_marks()
            if connected and self._floor_known():
                self._resend_if_stalled()
                if self._resend.is_set():
                    self._resend.clear()
                    self._inflight.clear()  # their PUBACKs no longer matter
                    self._cursor = self.outbox.watermark()
                self._send_more()
        self._settle_acks()
        self._settle_marks()

    def _settle_marks(self) -> None:
        mark = -1
        while True:
            try:
                mark = max(mark, self._marks.get_nowait())
            except queue.Empty:
                break
        if mark < 0:
            return
        if not self.outbox.floor_settled:
            self._settle_floor(mark)
        if mark > self.outbox.watermark():
            self._progress_at = time.monotonic()
            self._resend_wait = self.resend_after_s
        self.confirmed += self.outbox.confirm(mark)

    def _resend_if_stalled(self) -> None:
        if self.watermark_topic is None or self._cursor <= self.outbox.watermark():
            self._progress_at = time.monotonic()  # nothing sent waits for the hub
            return
        if time.monotonic() - self._progress_at >= self._resend_wait:
            log.warning(
                "the hub has confirmed nothing for %.0f s; sending the unconfirmed messages again",
                self._resend_wait,
            )
            self._resend.set()
            self._resend_wait = min(self._resend_wait * 2, RESEND_MAX_S)
            self._progress_at = time.monotonic()

    def _floor_known(self) -> bool:
        """Whether rows may be sent: the outbox's seqs follow the hub's (module doc)."""
        if self.watermark_topic is None or self.outbox.floor_settled:
            return True
        waited = self._subscribed_at is not None
        if waited and time.monotonic() - (self._subscribed_at or 0.0) >= self.floor_wait_s:
            self._settle_floor(0)  # no watermark retained: the hub never heard of us
            return True
        return False

    def _settle_floor(self, hub_watermark: int) -> None:
        shift = self.outbox.settle_floor(hub_watermark, wire.with_seq)
        if shift:
            log.warning(
                "new outbox: the hub already has seqs up to %d of this device; the %s held "
                "messages were renumbered to follow them",
                hub_watermark,
                self.outbox.depth(),
            )

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
            if self.watermark_topic is None:  # no hub behind: the broker's word is final
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
