"""Step 5: each vehicle's driving detectors over its new fixes, in sequence order."""

from __future__ import annotations

import psycopg

from analytics.driving.detectors import VehicleDetectors
from analytics.driving.findings import to_alert
from analytics.driving.roads import limit_lookup
from analytics.driving.zones import ZoneIndex
from citytrack.config import CityConfig, DetectorsConfig
from hub.pipeline.batch import Batch


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
