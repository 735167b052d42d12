"""The vehicle edge agent: GNSS receiver -> NMEA decoder -> outbox -> broker.

    Source (serial/gpsd/replay) -> NmeaFixDecoder (pure) -> Fix -> Outbox -> OutboxPublisher

The reader thread stamps the receive time, decodes, and appends every fix to the outbox
before anything is sent; the publisher drains it with QoS 1. Source errors (a receiver
unplugged, gpsd restarting) are logged and retried with backoff: the agent never exits
on bad input.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime

from citytrack import wire
from citytrack.mqtt import BrokerAddress
from edge_agent.nmea import Epoch, NmeaFixDecoder
from edge_agent.outbox import Outbox
from edge_agent.publisher import OutboxPublisher
from edge_agent.sources import GnssSource, SourceError

log = logging.getLogger(__name__)


class VehicleAgent:
    """One vehicle's agent; ``start()`` runs it in background threads."""

    def __init__(
        self,
        device_id: str,
        source: GnssSource,
        outbox: Outbox,
        address: BrokerAddress,
        *,
        max_inflight: int = 200,
        status_interval_s: float = 10.0,
        clock: Callable[[], datetime] = wire.utcnow,
    ) -> None:
        self.device_id = device_id
        self.source = source
        self.outbox = outbox
        self.decoder = NmeaFixDecoder()
        self.clock = clock
        self.fixes = 0
        self.source_errors = 0
        self.last_fix: wire.Fix | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.publisher = OutboxPublisher(
            outbox,
            address,
            client_id=f"citytrack-{device_id}",
            status_topic=wire.topic_for(wire.Role.VEHICLE, device_id, wire.Kind.STATUS),
            make_status=self._status_payload,
            max_inflight=max_inflight,
            status_interval_s=status_interval_s,
        )
        self._fix_topic = wire.topic_for(wire.Role.VEHICLE, device_id, wire.Kind.FIX)

    def counters(self) -> dict[str, int]:
        """Monotonic counters plus the outbox depth gauge, as published in the status."""
        return {
            **self.decoder.counters.as_dict(),
            "fixes_queued": self.fixes,
            "published": self.publisher.published,
            "outbox_depth": self.outbox.depth(),
            "connects": self.publisher.connects,
            "source_errors": self.source_errors,
        }

    def _status_payload(self, online: bool) -> bytes:
        status = wire.DeviceStatus(
            device_id=self.device_id, online=online, time=self.clock(), counters=self.counters()
        )
        return wire.encode(status)

    def start(self) -> None:
        self.publisher.start()
        self._thread = threading.Thread(
            target=self._read_loop, name=f"reader-{self.device_id}", daemon=True
        )
        self._thread.start()

    def stop(self, *, drain_timeout_s: float = 0.0) -> bool:
        """Stop reading; optionally wait for the outbox to drain. True if it drained."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._queue(self.decoder.flush())
        drained = self.publisher.wait_drained(drain_timeout_s) if drain_timeout_s else False
        self.publisher.stop()
        self.source.close()
        return drained

    def _read_loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                data = self.source.read(0.5)
            except SourceError as exc:
                self.source_errors += 1
                delay = backoff * (1 + random.random())
                log.warning(
                    "%s: GNSS source failed (%s); retrying in %.1f s", self.device_id, exc, delay
                )
                self._stop.wait(delay)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            if data:
                self._queue(self.decoder.feed(data))

    def _queue(self, epochs: list[Epoch]) -> None:
        if not epochs:
            return
        recv_time = self.clock()
        for epoch in epochs:
            self.outbox.append(self._fix_topic, functools.partial(self._render, epoch, recv_time))
            self.fixes += 1
        self.publisher.notify()

    def _render(self, epoch: Epoch, recv_time: datetime, seq: int) -> bytes:
        fix = epoch.to_fix(self.device_id, seq, recv_time)
        self.last_fix = fix
        return wire.encode(fix)
