"""The hub's derived child-watch events: what guardians are told about.

The event engine turns passages into ``WatchEvent``s ("Hana passed the Naniwa ward office
gate at 07:42"); ``hub.notify`` turns each event into notices for that child's guardians.
``event_id`` is stable: the same happening, derived again from the same passages, gets
the same id, and a notice is stored once per (event_id, guardian, channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class WatchEventKind(StrEnum):
    """What happened to a child."""

    PASSED = "passed"
    ARRIVED_SCHOOL = "arrived_school"
    LEFT_SCHOOL = "left_school"
    ENTERED_AREA = "entered_area"
    LEFT_AREA = "left_area"
    NOT_ARRIVED = "not_arrived"


URGENT_KINDS = frozenset({WatchEventKind.NOT_ARRIVED})
"""Kinds that ignore quiet hours and the rate limit."""


@dataclass(frozen=True)
class WatchEvent:
    """One derived event about one child.

    Attributes:
        kind: what happened.
        child_id: the child (``Child.id``).
        time: when it happened, timezone-aware (normalised to UTC). For ``NOT_ARRIVED``
            the deadline that passed.
        station_id: the station that saw it, if any (``Station.id``).
        school_id: the school concerned, if any (``School.id``).
        event_id: stable, deterministic id; see ``make_event_id``.

    Raises:
        ValueError: a naive ``time`` or an empty ``child_id``/``event_id``.
    """

    kind: WatchEventKind
    child_id: str
    time: datetime
    station_id: str | None
    school_id: str | None
    event_id: str

    def __post_init__(self) -> None:
        if self.time.utcoffset() is None:
            raise ValueError(f"event time must be timezone-aware, got {self.time!r}")
        if not self.child_id or not self.event_id:
            raise ValueError("child_id and event_id must not be empty")
        object.__setattr__(self, "kind", WatchEventKind(self.kind))
        object.__setattr__(self, "time", self.time.astimezone(UTC))

    @classmethod
    def create(
        cls,
        kind: WatchEventKind,
        child_id: str,
        time: datetime,
        *,
        station_id: str | None = None,
        school_id: str | None = None,
    ) -> WatchEvent:
        """An event whose ``event_id`` is derived with ``make_event_id``.

        Raises:
            ValueError: a naive ``time``.
        """
        event_id = make_event_id(kind, child_id, time, station_id)
        return cls(kind, child_id, time, station_id, school_id, event_id)


def make_event_id(
    kind: WatchEventKind, child_id: str, time: datetime, station_id: str | None
) -> str:
    """``"{child}:{kind}:{station or '-'}:{UTC time, ISO 8601, microseconds}"``.

    Raises:
        ValueError: a naive ``time``.
    """
    if time.utcoffset() is None:
        raise ValueError(f"event time must be timezone-aware, got {time!r}")
    stamp = time.astimezone(UTC).isoformat(timespec="microseconds")
    return f"{child_id}:{WatchEventKind(kind).value}:{station_id or '-'}:{stamp}"
