"""The driving detectors of one vehicle, run in order on each of its fixes.

``VehicleDetectors`` holds one device's filter and detector states and feeds every fix
through, in this order::

    quality.step     accept or reject the fix (analytics.driving.quality); accepted fixes go on
    harsh.step       harsh braking / harsh acceleration (receiver speed, vehicle class)
    cornering.step   harsh cornering (speed x yaw rate from the course, vehicle class)
    speeding.step    speed over the limit that ``limit_for(fix)`` gives at the fix

The filter settles a fix when the next one arrives, so a fix's events come out one fix
later (``flush`` settles the last one). Where the filter reports a gap, harsh and
cornering restart (their open episodes close) before the fix is fed to them.

It keeps state between calls but does no I/O and reads no clock, so a shell (the hub's
detector handler, a replay, a test) owns one instance per device and feeds it that
device's fixes. ``harsh_events_track`` is the vectorised harsh detector for batch
analytics over a stored track; it agrees with ``VehicleDetectors`` on a clean track.

Errors::

    ValueError     a fix from another device than the one the instance has seen
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from analytics.driving import cornering, harsh, quality
from analytics.driving.findings import DetectedEvent
from analytics.driving.harsh import harsh_events_track
from analytics.driving.quality import FilterCounts, FilterState, Verdict
from analytics.driving.speeding import SpeedingState
from analytics.driving.speeding import flush as speeding_flush
from analytics.driving.speeding import step as speeding_step
from analytics.driving.zones import Limit, ZoneIndex
from citytrack.config import QualityConfig, SpeedingConfig, VehicleClass
from citytrack.wire import Fix

__all__ = ["DetectorSnapshot", "LimitLookup", "VehicleDetectors", "harsh_events_track"]

LimitLookup = Callable[[Fix], Limit]
"""The speed limit (km/h, and where it comes from) that applies at a fix."""


@dataclass(frozen=True)
class DetectorSnapshot:
    """One vehicle's filter and detector states at a moment (``VehicleDetectors.snapshot``)."""

    device_id: str | None
    filter: FilterState
    harsh: harsh.HarshState
    cornering: cornering.CorneringState
    speeding: SpeedingState


def zone_limit_lookup(zones: ZoneIndex) -> LimitLookup:
    """The limit at the fix's position from speed-zone polygons over the default limit."""
    return lambda fix: zones.limit_at(fix.lat_deg, fix.lon_deg)


class VehicleDetectors:
    """Per-device filter and detector states for one vehicle of class ``vehicle_class``.

    Args:
        vehicle_class: harsh and cornering thresholds (m/s^2) and minimum duration (s).
        speeding: speeding tolerance and minimum duration.
        zones: speed zones; the default ``limit_for`` looks limits up in them.
        quality: which fixes to trust (``QualityConfig()`` defaults if None).
        limit_for: where the speed limit for an accepted fix comes from (default: ``zones``).
    """

    def __init__(
        self,
        vehicle_class: VehicleClass,
        speeding: SpeedingConfig,
        zones: ZoneIndex,
        *,
        quality: QualityConfig | None = None,
        limit_for: LimitLookup | None = None,
    ) -> None:
        self.vehicle_class = vehicle_class
        self.speeding_config = speeding
        self.zones = zones
        self.quality_config = quality if quality is not None else QualityConfig()
        self.limit_for: LimitLookup = (
            limit_for if limit_for is not None else zone_limit_lookup(zones)
        )
        self.device_id: str | None = None
        self._filter = FilterState()
        self._harsh = harsh.HarshState()
        self._cornering = cornering.CorneringState()
        self._speeding = SpeedingState()

    def snapshot(self) -> DetectorSnapshot:
        """The whole state, to ``restore`` later (the states are immutable: no copy)."""
        return DetectorSnapshot(
            self.device_id, self._filter, self._harsh, self._cornering, self._speeding
        )

    def restore(self, snapshot: DetectorSnapshot) -> None:
        """Go back to the state of ``snapshot`` (a batch that did not commit is undone)."""
        self.device_id = snapshot.device_id
        self._filter, self._harsh = snapshot.filter, snapshot.harsh
        self._cornering, self._speeding = snapshot.cornering, snapshot.speeding

    @property
    def quality_counts(self) -> FilterCounts:
        """What the fix filter accepted and rejected (per reason) so far."""
        return self._filter.counts

    def step(self, fix: Fix) -> list[DetectedEvent]:
        """Feed one fix; return the events that ended with the fixes it settled.

        Events come in detector order per fix: harsh, cornering, speeding.

        Raises:
            ValueError: ``fix`` is from another device than the earlier fixes.
        """
        if self.device_id is None:
            self.device_id = fix.device_id
        elif fix.device_id != self.device_id:
            raise ValueError(
                f"fix from {fix.device_id!r} fed to the detectors of {self.device_id!r}"
            )
        self._filter, verdicts = quality.step(self._filter, fix, self.quality_config)
        return self._detect(verdicts)

    def flush(self) -> list[DetectedEvent]:
        """End of data: settle the waiting fix, then close every open episode; return the
        events long enough to count."""
        self._filter, verdicts = quality.flush(self._filter, self.quality_config)
        events = self._detect(verdicts)
        cls = self.vehicle_class
        self._harsh, harsh_events = harsh.flush(self._harsh, cls)
        self._cornering, corner_events = cornering.flush(self._cornering, cls)
        self._speeding, speeding_events = speeding_flush(self._speeding, self.speeding_config)
        return [*events, *harsh_events, *corner_events, *speeding_events]

    def _detect(self, verdicts: Sequence[Verdict]) -> list[DetectedEvent]:
        events: list[DetectedEvent] = []
        for verdict in verdicts:
            if verdict.accepted:
                events.extend(self._run(verdict.fix, restart=verdict.restart))
        return events

    def _run(self, fix: Fix, *, restart: bool) -> list[DetectedEvent]:
        """Feed one accepted fix to harsh, cornering and speeding, in that order."""
        cls = self.vehicle_class
        harsh_events: list[DetectedEvent] = []
        corner_events: list[DetectedEvent] = []
        if restart:
            self._harsh, harsh_events = harsh.restart(self._harsh, cls)
            self._cornering, corner_events = cornering.restart(self._cornering, cls)
        self._harsh, found = harsh.step(self._harsh, fix, cls)
        harsh_events += found
        self._cornering, found = cornering.step(self._cornering, fix, cls)
        corner_events += found
        self._speeding, speeding_events = speeding_step(
            self._speeding, fix, self.limit_for(fix), self.speeding_config
        )
        return [*harsh_events, *corner_events, *speeding_events]
