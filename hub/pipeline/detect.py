"""Step 5: each vehicle's driving detectors over its new fixes, in sequence order.

The detectors' state is transactional (``batch.Stateful``): a batch that does not commit
leaves every vehicle's detectors as it found them. At start, ``rebuild`` feeds each
vehicle's last ``REBUILD_SPAN`` of stored fixes through fresh detectors (their events were
stored with their batches and are discarded), so that an episode that straddles a restart
is reported once, when it ends."""

from __future__ import annotations

import logging
from datetime import timedelta

import psycopg

from analytics.driving.detectors import DetectorSnapshot, VehicleDetectors
from analytics.driving.findings import to_alert
from analytics.driving.roads import limit_lookup
from analytics.driving.zones import ZoneIndex
from citytrack.config import CityConfig, DetectorsConfig
from hub.pipeline.batch import Batch
from hub.storage.fleet import FixRepository

log = logging.getLogger(__name__)

# Stored fixes replayed per vehicle at start: longer than any harsh or cornering window and
# than the quality filter's memory; a speeding episode open longer than this before a
# restart is reported from the restart on.
REBUILD_SPAN = timedelta(minutes=5)


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
        # in a batch: each touched device's state before it (None: it had none)
        self._before: dict[str, DetectorSnapshot | None] = {}

    def _detectors(self, device_id: str) -> VehicleDetectors | None:
        found = self._per_device.get(device_id)
        if device_id not in self._before:
            self._before[device_id] = found.snapshot() if found is not None else None
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

    # batch.Stateful

    def begin(self) -> None:
        self._before = {}

    def commit(self) -> None:
        self._before = {}

    def rollback(self) -> None:
        for device_id, snapshot in self._before.items():
            if snapshot is None:
                self._per_device.pop(device_id, None)
            else:
                self._per_device[device_id].restore(snapshot)
        self._before = {}

    # batch.Rebuilds

    def rebuild(self, conn: psycopg.Connection) -> int:
        """Fresh detectors fed with each vehicle's recent stored fixes; returns how many."""
        self._per_device = {}
        fixes = FixRepository(conn)
        used = 0
        for truck in self.city.trucks:
            detectors = self._detectors(truck.device_id)
            assert detectors is not None
            recent = fixes.recent(truck.device_id, REBUILD_SPAN)
            for fix in recent:
                detectors.step(fix)  # its events were stored with the batch that held it
            used += len(recent)
        self._before = {}
        log.info("detectors rebuilt from %d stored fixes", used)
        return used
