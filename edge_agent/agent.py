"""The vehicle edge agent: GNSS receiver -> NMEA decoder -> outbox -> broker.

    Source (serial/gpsd/replay) -> NmeaFixDecoder (pure) -> Fix -> Outbox -> OutboxPublisher
    ImuSource (serial/replay) -> ImuDecoder (pure) -> ImuHarshDetector (pure)
        -> DrivingEvent -> the same Outbox and OutboxPublisher

The reader thread stamps the receive time, decodes, and appends every fix to the outbox
before anything is sent; the publisher drains it with QoS 1. With an accelerometer, a
second reader thread feeds its samples to the harsh-event detector, which also gets every
fix's speed (it learns the sensor's mounting from them); each event it reports goes into
the same outbox, with the latest fix's position and speed. Source errors (a receiver
unplugged, gpsd restarting) are logged and retried with backoff: the agent never exits
on bad input.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from analytics.device.imu_harsh import ImuHarshDetector, ImuHarshEvent, ImuSample
from citytrack import wire
from citytrack.logs import ThrottledLog
from citytrack.mqtt import BrokerAddress
from citytrack.retry import Backoff
from edge_agent.device import DeviceAgent
from edge_agent.nmea import Epoch, NmeaFixDecoder
from edge_agent.outbox import Outbox
from edge_agent.pctim import ImuDecoder, ImuSource
from edge_agent.sources import GnssSource, SourceError, SourceOpenError

log = logging.getLogger(__name__)


class VehicleAgent(DeviceAgent):
    """One vehicle's agent; ``start()`` runs it in background threads.

    ``imu_source`` and ``imu_detector`` come together (an accelerometer and the detector
    for the vehicle's class) or not at all.

    Raises:
        ValueError: only one of ``imu_source`` and ``imu_detector`` given.
    """

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
        imu_source: ImuSource | None = None,
        imu_detector: ImuHarshDetector | None = None,
        confirm_by: Literal["hub", "broker"] = "hub",
    ) -> None:
        if (imu_source is None) != (imu_detector is None):
            raise ValueError("give both imu_source and imu_detector, or neither")
        super().__init__(
            device_id,
            wire.Role.VEHICLE,
            outbox,
            address,
            max_inflight=max_inflight,
            status_interval_s=status_interval_s,
            clock=clock,
            confirm_by=confirm_by,
        )
        self.source = source
        self.decoder = NmeaFixDecoder()
        self.fixes = 0
        self.out_of_range = 0  # epochs the contract refuses (a corrupted, checksum-valid line)
        self._refused = ThrottledLog(log, 30.0)
        self.source_errors = 0
        self.last_fix: wire.Fix | None = None
        self.imu_source = imu_source
        self.imu_detector = imu_detector
        self.imu_decoder = ImuDecoder()
        self.imu_events = 0
        self.imu_source_errors = 0
        self._detector_lock = threading.Lock()  # the two reader threads share the detector
        self._thread: threading.Thread | None = None
        self._imu_thread: threading.Thread | None = None
        self._fix_topic = self.topic(wire.Kind.FIX)
        self._event_topic = self.topic(wire.Kind.EVENT)

    def own_counters(self) -> dict[str, int]:
        """The decoder's counts, ``fixes_queued``, ``out_of_range`` (epochs whose values the
        contract refuses: never queued) and ``source_errors``.

        With an accelerometer also ``imu_*``: its decoder's line counts, ``imu_bad_lines``,
        the detector's counts (``imu_samples``, ``imu_uncalibrated_samples``, the
        ``imu_calibrated`` gauge, ...), ``imu_events_queued`` and ``imu_source_errors``.
        """
        counters = {
            **self.decoder.counters.as_dict(),
            "fixes_queued": self.fixes,
            "out_of_range": self.out_of_range,
            "source_errors": self.source_errors,
        }
        if self.imu_detector is not None:
            lines = self.imu_decoder.counters
            counters |= {f"imu_{k}": v for k, v in lines.as_dict().items()}
            counters |= {f"imu_{k}": v for k, v in self.imu_detector.counters.as_dict().items()}
            counters["imu_bad_lines"] = lines.bad_lines
            counters["imu_events_queued"] = self.imu_events
            counters["imu_source_errors"] = self.imu_source_errors
        return counters

    def start(self) -> None:
        self.publisher.start()
        self._thread = threading.Thread(
            target=self._read_loop,
            args=(self.source, "GNSS", self._on_gnss, self._count_gnss_error),
            name=f"reader-{self.device_id}",
            daemon=True,
        )
        self._thread.start()
        if self.imu_source is not None:
            self._imu_thread = threading.Thread(
                target=self._read_loop,
                args=(self.imu_source, "IMU", self._on_imu, self._count_imu_error),
                name=f"imu-{self.device_id}",
                daemon=True,
            )
            self._imu_thread.start()

    def stop(self, *, drain_timeout_s: float = 0.0) -> bool:
        """Stop reading; optionally wait for the outbox to drain. True if it drained."""
        self._stop.set()
        for thread in (self._thread, self._imu_thread):
            if thread is not None:
                thread.join(5)
        self._queue(self.decoder.flush())
        if self.imu_detector is not None:
            self._detect(self.imu_decoder.flush())
            with self._detector_lock:
                self._queue_events(self.imu_detector.flush())
        drained = self.publisher.wait_drained(drain_timeout_s) if drain_timeout_s else False
        self.publisher.stop()
        self.source.close()
        if self.imu_source is not None:
            self.imu_source.close()
        return drained

    def _read_loop(
        self,
        source: GnssSource,
        what: str,
        on_data: Callable[[bytes], None],
        on_error: Callable[[], None],
    ) -> None:
        """Read ``source`` until stopped, handing data to ``on_data``; a failed read is
        counted (``on_error``), logged and retried with jittered backoff."""
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                data = source.read(0.5)
            except SourceError as exc:
                on_error()
                delay = backoff.next_delay()
                # one line per attempt: the backoff spaces them out to one per 30 s
                doing = "waiting for" if isinstance(exc, SourceOpenError) else "lost"
                log.warning(
                    "%s: %s the %s source %s; trying again in %.1f s",
                    self.device_id, doing, what, exc, delay,
                )  # fmt: skip
                self._stop.wait(delay)
                continue
            if backoff.failures:
                log.info("%s: the %s source is reading again", self.device_id, what)
            backoff.reset()
            if data:
                on_data(data)

    def _on_gnss(self, data: bytes) -> None:
        self._queue(self.decoder.feed(data))

    def _count_gnss_error(self) -> None:
        self.source_errors += 1

    def _count_imu_error(self) -> None:
        self.imu_source_errors += 1

    def _on_imu(self, data: bytes) -> None:
        self._detect(self.imu_decoder.feed(data))

    def _queue(self, epochs: list[Epoch]) -> None:
        if not epochs:
            return
        recv_time = self.clock()
        for epoch in epochs:
            try:  # checked before it takes a seq: a refused epoch must not stop the reader
                fix = epoch.to_fix(self.device_id, 1, recv_time)
            except wire.ContractError as exc:
                self.out_of_range += 1
                self._refused.warning("range", "epoch refused, not sent: %s", exc.reason)
                continue
            self.outbox.append(self._fix_topic, functools.partial(self._render, fix))
            self.fixes += 1
        self.publisher.notify()
        if self.imu_detector is not None:
            with self._detector_lock:
                for epoch in epochs:
                    self.imu_detector.observe_speed(
                        epoch.fix_time.timestamp(), epoch.speed_mps, epoch.course_deg
                    )

    def _detect(self, samples: list[ImuSample]) -> None:
        if not samples or self.imu_detector is None:
            return
        with self._detector_lock:
            self._queue_events(self.imu_detector.feed_many(samples))

    def _queue_events(self, events: list[ImuHarshEvent]) -> None:
        for event in events:
            render = functools.partial(self._render_event, event, self.last_fix)
            self.outbox.append(self._event_topic, render)
            self.imu_events += 1
            log.info("%s: %s detected by the IMU", self.device_id, event.kind)
        if events:
            self.publisher.notify()

    def _render(self, checked: wire.Fix, seq: int) -> bytes:
        fix = checked.model_copy(update={"seq": seq})
        self.last_fix = fix
        return wire.encode(fix)

    def _render_event(self, event: ImuHarshEvent, fix: wire.Fix | None, seq: int) -> bytes:
        message = wire.DrivingEvent(
            device_id=self.device_id,
            seq=seq,
            event_kind=event.kind,
            start_time=event.start,
            end_time=event.end,
            peak_mps2=event.peak_mps2,
            threshold_mps2=event.threshold_mps2,
            direction=event.direction,
            lat_deg=fix.lat_deg if fix else None,
            lon_deg=fix.lon_deg if fix else None,
            speed_mps=fix.speed_mps if fix else None,
        )
        return wire.encode(message)
