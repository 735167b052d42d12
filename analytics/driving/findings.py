"""What the driving detectors find: one ``DetectedEvent`` per episode, and its wire form.

Pure: no I/O, no clock. An event's details are the contract's model of its kind
(``citytrack.details_model``): ``HarshDetails`` for harsh_braking and
harsh_acceleration, ``CorneringDetails`` for harsh_cornering, ``SpeedingDetails`` for
speeding; their fields carry the units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from citytrack.alerts import Alert, Details, details_model
from citytrack.wire import EventKind

Severity = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class DetectedEvent:
    """One driving episode a detector found.

    ``start`` and ``end`` are timezone-aware UTC (from the fixes' GNSS time); ``lat_deg`` and
    ``lon_deg`` (WGS84 degrees) locate the worst moment of the episode. ``details`` (frozen)
    is the model of ``kind`` (see the module docstring); it takes no part in hashing, but
    does in equality.

    Raises:
        ValueError: ``kind`` is not an ``EventKind``, ``details`` is not the model of
            ``kind``, or ``end`` is before ``start``.
    """

    kind: EventKind
    severity: Severity
    start: datetime
    end: datetime
    lat_deg: float
    lon_deg: float
    details: Details = field(hash=False)

    def __post_init__(self) -> None:
        if self.kind not in tuple(EventKind):
            raise ValueError(f"unknown event kind {self.kind!r}")
        model = details_model(self.kind)
        if type(self.details) is not model:
            raise ValueError(
                f"a {self.kind} event takes {model.__name__}, not {type(self.details).__name__}"
            )
        if self.end < self.start:
            raise ValueError(f"event ends ({self.end}) before it starts ({self.start})")

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
        details=event.details,
    )
