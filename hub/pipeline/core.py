"""The hub's ordered handler list: one place to read what happens to a message.

    Inbound MQTT messages (a batch, in arrival order)
      1. DecodeHandler        contract check; unknown devices; bad input -> dead letters
      2. DeadLetterHandler    store dead letters with topic, payload and reason
      3. StoreFixesHandler    binary COPY, idempotent on (device_id, seq); counts duplicates
      4. StatusHandler        latest device status and counters
      5. DetectHandler        per device, in seq order: harsh braking/acceleration, speeding
      6. ReconcileAlertsHandler  edge events idempotent on (device_id, seq); they and the
                              GNSS alerts make one alert per episode
                              (hub/pipeline/reconcile_alerts.py);
                              alerts idempotent on (device_id, kind, start_time)
      7-8. child watch        passages and guardian events (hub/pipeline/watch.py)
    -- commit, then the broker is acknowledged (QoS 1) --
      after-commit listeners  live views, alert publishing

All handlers run in one transaction per batch. A storage failure aborts the batch, which
is not acknowledged and is retried; a detector failure is logged and counted, and the
batch goes on. A disabled feature is simply absent from the list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import psycopg

from analytics.driving.detectors import VehicleDetectors
from analytics.driving.findings import to_alert
from analytics.driving.roads import limit_lookup
from analytics.driving.zones import ZoneIndex
from citytrack import wire
from citytrack.config import CityConfig, DetectorsConfig
from hub.pipeline.reconcile_alerts import ReconcileAlertsHandler
from hub.storage.fleet import AlertRepository, DeadLetterRepository, DeviceRepository, FixRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    """One message as the broker delivered it."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 0


@dataclass
class Batch:
    inbound: Sequence[Inbound]
    fixes: list[wire.Fix] = field(default_factory=list)
    statuses: list[wire.DeviceStatus] = field(default_factory=list)
    passages: list[wire.Passage] = field(default_factory=list)  # incl. Sighting
    edge_events: list[wire.DrivingEvent] = field(default_factory=list)
    dead: list[tuple[Inbound, str]] = field(default_factory=list)
    new_fixes: list[wire.Fix] = field(default_factory=list)
    alerts: list[wire.Alert] = field(default_factory=list)
    stored_alerts: list[wire.Alert] = field(default_factory=list)
    extensions: dict[str, object] = field(default_factory=dict)  # per-feature results


@dataclass
class HubCounters:
    received: int = 0
    fixes_stored: int = 0
    duplicates_dropped: int = 0
    dead_letters: int = 0
    statuses: int = 0
    alerts: int = 0
    alerts_merged: int = 0  # findings merged into an alert of the other source
    edge_events_stored: int = 0
    edge_event_duplicates: int = 0
    edge_events_unlocated: int = 0  # no position to raise an alert at
    handler_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class Handler(Protocol):
    critical: bool  # True: a failure aborts the batch; False: logged, batch goes on

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None: ...


class DecodeHandler:
    critical = True

    def __init__(self, known_devices: set[str], counters: HubCounters) -> None:
        self.known = known_devices
        self.counters = counters

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        for msg in batch.inbound:
            try:
                decoded = wire.decode(msg.topic, msg.payload)
            except wire.ContractError as exc:
                batch.dead.append((msg, exc.reason))
                continue
            if decoded.device_id not in self.known:
                batch.dead.append((msg, f"unknown device {decoded.device_id!r}"))
            elif isinstance(decoded, wire.Fix):
                batch.fixes.append(decoded)
            elif isinstance(decoded, wire.Passage):
                batch.passages.append(decoded)
            elif isinstance(decoded, wire.DrivingEvent):
                batch.edge_events.append(decoded)
            else:
                batch.statuses.append(decoded)


class DeadLetterHandler:
    critical = True

    def __init__(self, counters: HubCounters) -> None:
        self.counters = counters

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        repo = DeadLetterRepository(conn)
        for msg, reason in batch.dead:
            log.warning("dead letter on %s: %s", msg.topic, reason)
            repo.insert(msg.topic, msg.payload, reason, msg.received_at)
        self.counters.dead_letters += len(batch.dead)


class StoreFixesHandler:
    critical = True

    def __init__(self, counters: HubCounters, clock: Callable[[], datetime]) -> None:
        self.counters = counters
        self.clock = clock

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        if not batch.fixes:
            return
        new = set(FixRepository(conn).insert_batch(batch.fixes, self.clock()))
        seen: set[tuple[str, int]] = set()
        for fix in batch.fixes:
            key = (fix.device_id, fix.seq)
            if key in new and key not in seen:
                batch.new_fixes.append(fix)
                seen.add(key)
        self.counters.fixes_stored += len(batch.new_fixes)
        self.counters.duplicates_dropped += len(batch.fixes) - len(batch.new_fixes)


class StatusHandler:
    critical = True

    def __init__(self, counters: HubCounters) -> None:
        self.counters = counters

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        repo = DeviceRepository(conn)
        for status in batch.statuses:
            repo.upsert_status(status)
        self.counters.statuses += len(batch.statuses)


class DetectHandler:
    """Runs each vehicle's detectors over its new fixes, in sequence order."""

    critical = False

    def __init__(self, city: CityConfig, detectors: DetectorsConfig) -> None:
        self.city = city
        self.speeding = detectors.speeding
        self.quality = detectors.quality
        self.zones = ZoneIndex(city.speed_zones, city.default_road_limit_kmh)
        self.limit_for = limit_lookup(city)  # road segments, then zones, then the default
        self._per_device: dict[str, VehicleDetectors] = {}

    def _detectors(self, device_id: str) -> VehicleDetectors | None:
        found = self._per_device.get(device_id)
        truck = self.city.truck(device_id)
        if found is None and truck is not None:
            vclass = self.city.vehicle_classes[truck.vehicle_class]
            found = VehicleDetectors(
                vclass, self.speeding, self.zones, quality=self.quality, limit_for=self.limit_for
            )
            self._per_device[device_id] = found
        return found

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        for fix in sorted(batch.new_fixes, key=lambda f: (f.device_id, f.seq)):
            detectors = self._detectors(fix.device_id)
            if detectors is None:
                continue
            truck = self.city.truck(fix.device_id)
            driver = truck.driver_id if truck else None
            batch.alerts.extend(to_alert(e, fix.device_id, driver) for e in detectors.step(fix))


class StoreAlertsHandler:
    """Stores alerts as detected, without reconciliation (the standard list uses
    ``hub.pipeline.reconcile_alerts.ReconcileAlertsHandler``)."""

    critical = True

    def __init__(self, counters: HubCounters) -> None:
        self.counters = counters

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        if not batch.alerts:
            return
        stored = AlertRepository(conn).insert(batch.alerts)
        batch.stored_alerts.extend(stored)  # type: ignore[arg-type]
        self.counters.alerts += len(stored)


AfterCommit = Callable[[Batch], None]


class Pipeline:
    """Runs the handler list over a batch in one transaction."""

    def __init__(self, handlers: Sequence[Handler], counters: HubCounters) -> None:
        self.handlers = list(handlers)
        self.counters = counters
        self.after_commit: list[AfterCommit] = []

    def process(self, conn: psycopg.Connection, inbound: Sequence[Inbound]) -> Batch:
        """Process and commit one batch.

        Raises:
            psycopg.Error: a critical handler failed; the transaction was rolled back.
        """
        batch = Batch(inbound)
        with conn.transaction():
            for handler in self.handlers:
                self._run(handler, batch, conn)
        self.counters.received += len(inbound)
        for listener in self.after_commit:
            try:
                listener(batch)
            except Exception:  # a broken listener must not stop ingestion
                log.exception("after-commit listener failed")
        return batch

    def _run(self, handler: Handler, batch: Batch, conn: psycopg.Connection) -> None:
        if handler.critical:
            handler.handle(batch, conn)
            return
        try:
            with conn.transaction():  # savepoint: a failed detector leaves no partial writes
                handler.handle(batch, conn)
        except Exception:
            self.counters.handler_errors += 1
            log.exception("%s failed; batch goes on", type(handler).__name__)


def build_pipeline(
    city: CityConfig,
    detectors: DetectorsConfig,
    clock: Callable[[], datetime] = wire.utcnow,
    *,
    stations: Sequence[str] = (),
    extra_handlers: Sequence[Handler] = (),
) -> Pipeline:
    """The standard hub pipeline for a city; ``extra_handlers`` (child watch) go last."""
    counters = HubCounters()
    known = {t.device_id for t in city.trucks} | set(stations)
    handlers: list[Handler] = [
        DecodeHandler(known, counters),
        DeadLetterHandler(counters),
        StoreFixesHandler(counters, clock),
        StatusHandler(counters),
        DetectHandler(city, detectors),
        ReconcileAlertsHandler(city, counters, clock),
        *extra_handlers,
    ]
    return Pipeline(handlers, counters)
