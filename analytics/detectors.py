"""The driving detectors of one vehicle, run in order on each of its fixes.

``VehicleDetectors`` holds one device's detector states and feeds every fix through, in
this order::

    harsh.step      harsh braking / harsh acceleration (receiver speed, vehicle class)
    speeding.step   speed over the zone or road limit at the fix position

It keeps state between calls but does no I/O and reads no clock, so a shell (the hub's
detector handler, a replay, a test) owns one instance per device and feeds it that
device's fixes in order. ``harsh_events_track`` is the vectorised harsh detector for batch
analytics over a stored track; it agrees with ``VehicleDetectors`` on the same data.

Errors::

    ValueError     a fix from another device than the one the instance has seen
"""

from __future__ import annotations

from analytics.events import DetectedEvent
from analytics.harsh import HarshState, harsh_events_track
from analytics.harsh import flush as harsh_flush
from analytics.harsh import step as harsh_step
from analytics.speeding import SpeedingState
from analytics.speeding import flush as speeding_flush
from analytics.speeding import step as speeding_step
from analytics.zones import ZoneIndex
from citytrack.config import SpeedingConfig, VehicleClass
from citytrack.wire import Fix

__all__ = ["VehicleDetectors", "harsh_events_track"]


class VehicleDetectors:
    """Per-device detector states for one vehicle of class ``vehicle_class``."""

    def __init__(
        self, vehicle_class: VehicleClass, speeding: SpeedingConfig, zones: ZoneIndex
    ) -> None:
        self.vehicle_class = vehicle_class
        self.speeding_config = speeding
        self.zones = zones
        self.device_id: str | None = None
        self._harsh = HarshState()
        self._speeding = SpeedingState()

    def step(self, fix: Fix) -> list[DetectedEvent]:
        """Feed one fix; return the events that ended with it (harsh first, then speeding).

        Raises:
            ValueError: ``fix`` is from another device than the earlier fixes.
        """
        if self.device_id is None:
            self.device_id = fix.device_id
        elif fix.device_id != self.device_id:
            raise ValueError(
                f"fix from {fix.device_id!r} fed to the detectors of {self.device_id!r}"
            )
        self._harsh, harsh_events = harsh_step(self._harsh, fix, self.vehicle_class)
        limit = self.zones.limit_at(fix.lat_deg, fix.lon_deg)
        self._speeding, speeding_events = speeding_step(
            self._speeding, fix, limit, self.speeding_config
        )
        return [*harsh_events, *speeding_events]

    def flush(self) -> list[DetectedEvent]:
        """End of data: close every open episode; return the events long enough to count."""
        self._harsh, harsh_events = harsh_flush(self._harsh, self.vehicle_class)
        self._speeding, speeding_events = speeding_flush(self._speeding, self.speeding_config)
        return [*harsh_events, *speeding_events]
