"""What the driving detectors find: one ``DetectedEvent`` per episode, and its wire form.

Pure: no I/O, no clock. Event kinds::

    harsh_braking       details: peak_mps2, threshold_mps2, speed_from_mps, speed_to_mps,
                        duration_s
    harsh_acceleration  same details as harsh_braking
    harsh_cornering     details: peak_mps2 (lateral), threshold_mps2, speed_mps (at the
                        peak), turn_deg, direction ("left" | "right"), duration_s
    speeding            details: max_speed_kmh, limit_kmh, tolerance_kmh, zone_id,
                        zone_kind, duration_s
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from citytrack.wire import Alert, EventKind

Severity = Literal["low", "medium", "high"]
DetailValue = float | str | None


@dataclass(frozen=True)
class DetectedEvent:
    """One driving episode a detector found.

    ``start`` and ``end`` are timezone-aware UTC (from the fixes' GNSS time); ``lat_deg`` and
    ``lon_deg`` (WGS84 degrees) locate the worst moment of the episode. ``details`` is a
    read-only mapping whose keys carry their units (see the module docstring); it takes no
    part in hashing, but does in equality.

    Raises:
        ValueError: ``kind`` is not one of ``EVENT_KINDS``, or ``end`` is before ``start``.
    """

    kind: EventKind
    severity: Severity
    start: datetime
    end: datetime
    lat_deg: float
    lon_deg: float
    details: Mapping[str, DetailValue] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def __post_init__(self) -> None:
        if self.kind not in tuple(EventKind):
            raise ValueError(f"unknown event kind {self.kind!r}")
        if self.end < self.start:
            raise ValueError(f"event ends ({self.end}) before it starts ({self.start})")
        # copy, so that a caller's dict changing later cannot change a frozen event
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @property
    def duration_s(self) -> float:
        """``end - start``, seconds."""
        return (self.end - self.start).total_seconds()


def to_alert(event: DetectedEvent, device_id: str, driver_id: str | None) -> Alert:
    """The wire ``Alert`` for ``event`` on ``device_id``, driven by ``driver_id`` (if known).

    Raises:
        pydantic.ValidationError: ``device_id`` breaks the contract's device-id pattern.
    """
    return Alert(
        device_id=device_id,
        driver_id=driver_id,
        kind=EventKind(event.kind),
        severity=event.severity,
        start_time=event.start,
        end_time=event.end,
        lat_deg=event.lat_deg,
        lon_deg=event.lon_deg,
        details=dict(event.details),
    )
