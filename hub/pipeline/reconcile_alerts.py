"""Harsh events the vehicles detected themselves: stored once, reconciled with the hub's alerts.

``ReconcileAlertsHandler`` is step 6 of the hub pipeline (``hub.pipeline.runner``)::

    1. the batch's edge events -> edge_events, idempotent on (device_id, seq): a QoS 1
       redelivery or a replayed outbox stores nothing and raises nothing
    2. findings: the batch's GNSS alerts (source "gps") and each new edge event as an
       alert (source "imu"), located at the event's own position (the vehicle's latest
       fix), else at the device's stored fix nearest in time within POSITION_WITHIN_S; an
       event with neither stays stored but raises no alert (counted)
    3. the stored alerts near them (same devices and kinds, within analytics.driving.reconcile's
       SLACK_S), so the rule holds across batches and in either arrival order
    4. analytics.driving.reconcile.reconcile: merged alerts get their details updated; new alerts
       are inserted (idempotent on (device_id, kind, start_time)) and, after the commit,
       published on the hub's alert topic. A merge is never published again.

Errors: ``hub.storage.db.StoreUnavailableError`` / ``StoreRejectedError`` from the repositories
(the handler is critical: the batch is rolled back and retried).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import psycopg

from analytics.driving.reconcile import Finding, edge_alert, reconcile
from citytrack.config import CityConfig
from citytrack.wire import DrivingEvent
from hub.pipeline.batch import Batch, HubCounters
from hub.storage.db import Connection
from hub.storage.edge_events import AlertMergeRepository, EdgeEventRepository
from hub.storage.fleet import AlertRepository


class ReconcileAlertsHandler:
    """Stores edge events and the batch's alerts as one alert per episode (see above)."""

    critical = True

    def __init__(
        self, city: CityConfig, counters: HubCounters, clock: Callable[[], datetime]
    ) -> None:
        self.city = city
        self.counters = counters
        self.clock = clock

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        new_events = self._store_events(batch.edge_events, conn)
        findings = [Finding(a, "gps") for a in batch.alerts]
        findings += self._imu_findings(new_events, conn)
        if not findings:
            return
        findings.sort(key=lambda f: f.alert.end_time)  # when each side could first know
        merges = AlertMergeRepository(conn)
        known = merges.near([f.alert for f in findings])
        plan = reconcile(known, findings)
        for i, alert in plan.updated.items():
            merges.update_details(known[i].id, alert.details)
        stored = AlertRepository(conn).insert(plan.created)
        batch.stored_alerts.extend(stored)
        self.counters.alerts += len(stored)
        self.counters.alerts_merged += plan.merged

    def _store_events(self, events: Sequence[DrivingEvent], conn: Connection) -> list[DrivingEvent]:
        if not events:
            return []
        new = EdgeEventRepository(conn).insert(events, self.clock())
        self.counters.edge_events_stored += len(new)
        self.counters.edge_event_duplicates += len(events) - len(new)
        return new

    def _imu_findings(self, events: Sequence[DrivingEvent], conn: Connection) -> list[Finding]:
        out: list[Finding] = []
        repo = EdgeEventRepository(conn)
        for event in events:
            where = (event.lat_deg, event.lon_deg)
            if where[0] is None or where[1] is None:
                where = repo.position_near(event.device_id, event.start_time) or (None, None)
            if where[0] is None or where[1] is None:
                self.counters.edge_events_unlocated += 1
                continue
            truck = self.city.truck(event.device_id)
            driver = truck.driver_id if truck else None
            out.append(Finding(edge_alert(event, driver, where[0], where[1]), "imu"))
        return out
