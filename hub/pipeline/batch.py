"""What flows through the hub's pipeline: inbound messages, the batch the handlers fill in,
the handler protocols and the pipeline's counters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Protocol, runtime_checkable

import psycopg

from analytics.watch.events import WatchEvent
from citytrack import wire
from citytrack.config.watch import Tag
from citytrack.counters import Counters


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
    """One batch of inbound messages and what each handler made of it, in handler order."""

    inbound: Sequence[Inbound]
    fixes: list[wire.Fix] = field(default_factory=list)
    statuses: list[wire.DeviceStatus] = field(default_factory=list)
    passages: list[wire.Passage] = field(default_factory=list)  # incl. Sighting
    edge_events: list[wire.DrivingEvent] = field(default_factory=list)
    dead: list[tuple[Inbound, str]] = field(default_factory=list)
    # per device, the highest seq decoded in this batch (stored, a duplicate, or refused
    # for its times): what the hub's watermark confirms once the batch commits
    taken: dict[str, int] = field(default_factory=dict)
    new_fixes: list[wire.Fix] = field(default_factory=list)
    alerts: list[wire.Alert] = field(default_factory=list)
    stored_alerts: list[wire.Alert] = field(default_factory=list)
    # child watch: newly stored passages with the tag they resolved to (None: unknown tag)
    resolved_passages: list[tuple[wire.Passage, Tag | None]] = field(default_factory=list)
    watch_events: list[WatchEvent] = field(default_factory=list)  # newly stored

    def sizes(self) -> dict[str, int]:
        """How long each list is now (to ``trim`` back to after a failed step)."""
        return {
            f.name: len(getattr(self, f.name))
            for f in fields(self)
            if isinstance(getattr(self, f.name), list) and f.name != "inbound"
        }

    def trim(self, sizes: dict[str, int]) -> None:
        """Drop what a failed step added: each list back to its length in ``sizes``."""
        for name, size in sizes.items():
            del getattr(self, name)[size:]


@dataclass
class HubCounters(Counters):
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
    worker_errors: int = 0  # failures in the worker loop itself, survived


@dataclass
class WatchCounters(Counters):
    passages_stored: int = 0
    passage_duplicates: int = 0
    passages_unresolved: int = 0
    passages_merged: int = 0
    watch_events: int = 0


class Handler(Protocol):
    critical: bool  # True: a failure aborts the batch; False: logged, batch goes on

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None: ...


@runtime_checkable
class Stateful(Protocol):
    """A handler that keeps state between batches (detectors, the watch engine).

    What a batch advances becomes current only when the batch commits: the pipeline calls
    ``begin`` before the batch, then ``commit`` after its transaction committed, or
    ``rollback`` when it did not (the batch will be retried and must find the state it
    found the first time)."""

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


@runtime_checkable
class Rebuilds(Protocol):
    """A handler whose state is rebuilt from the database when the hub starts."""

    def rebuild(self, conn: psycopg.Connection) -> int: ...
