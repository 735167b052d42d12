"""Child-watch steps of the hub pipeline: passages in, guardian events out.

    ... 6 ReconcileAlertsHandler
      7. StorePassagesHandler  resolve the tag (EID keys stay here), idempotent on (station, seq)
      8. WatchEventsHandler    per child: passed, arrived/left school, entered/left the area
    -- commit --
      after-commit             NotificationService.notify(new events)

Timer events ("not seen at school by 08:15", "left the area" after silence) come from
``WatchEventsHandler.tick(conn, now)``, which the hub's worker calls between batches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg

from analytics.watch.engine import WatchEventEngine
from analytics.watch.events import WatchEvent
from analytics.watch.tags import TagDirectory
from citytrack import wire
from citytrack.config.watch import Tag, WatchConfig
from hub.pipeline.core import Batch
from hub.storage.watch import PassageRepository, WatchEventRepository

log = logging.getLogger(__name__)

# Passages of one child at one station closer than this are one visit: a tag whose
# Eddystone-EID rotates mid-visit looks like two tags to the station (docs/child-watch.md).
SAME_VISIT_S = 30.0


@dataclass
class WatchCounters:
    passages_stored: int = 0
    passage_duplicates: int = 0
    passages_unresolved: int = 0
    passages_merged: int = 0
    watch_events: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class WatchBatch:
    """What the watch handlers add to a batch."""

    resolved: list[tuple[wire.Passage, Tag | None]] = field(default_factory=list)
    events: list[WatchEvent] = field(default_factory=list)


def watch_part(batch: Batch) -> WatchBatch:
    part = batch.extensions.get("watch")
    if part is None:
        part = batch.extensions["watch"] = WatchBatch()
    assert isinstance(part, WatchBatch)
    return part


class StorePassagesHandler:
    critical = True

    def __init__(
        self, tags: TagDirectory, counters: WatchCounters, clock: Callable[[], datetime]
    ) -> None:
        self.tags = tags
        self.counters = counters
        self.clock = clock

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        if not batch.passages:
            return
        pairs = [
            (p, self.tags.resolve(p.beacon_kind, p.beacon_id, p.closest_time))
            for p in batch.passages
        ]
        new = set(PassageRepository(conn).insert(pairs, self.clock()))
        part = watch_part(batch)
        seen: set[tuple[str, int]] = set()
        for passage, tag in pairs:
            key = (passage.device_id, passage.seq)
            if key in new and key not in seen:
                seen.add(key)
                part.resolved.append((passage, tag))
                self.counters.passages_unresolved += tag is None
        self.counters.passages_stored += len(part.resolved)
        self.counters.passage_duplicates += len(pairs) - len(part.resolved)


class WatchEventsHandler:
    """Feeds new resolved passages to the event engine, stores the events it derives."""

    critical = True

    def __init__(self, watch: WatchConfig, tz: ZoneInfo, counters: WatchCounters) -> None:
        self.watch = watch
        self.engine = WatchEventEngine(watch, tz)
        self.counters = counters
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], datetime] = {}  # (child, station) -> closest_time

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        part = watch_part(batch)
        events: list[WatchEvent] = []
        with self._lock:
            for passage, tag in sorted(part.resolved, key=lambda pt: pt[0].closest_time):
                station = self.watch.station(passage.device_id)
                if tag is None or station is None or self._same_visit(tag.child_id, passage):
                    continue
                events.extend(self.engine.on_passage(tag.child_id, station, passage.closest_time))
        part.events.extend(self._store(conn, events))

    def _same_visit(self, child_id: str, passage: wire.Passage) -> bool:
        """A second passage of a child at a station within SAME_VISIT_S of the last one is the
        same visit (an EID rotating mid-visit makes the station report two)."""
        key = (child_id, passage.device_id)
        last = self._last.get(key)
        self._last[key] = passage.closest_time
        if last is not None and abs((passage.closest_time - last).total_seconds()) < SAME_VISIT_S:
            self.counters.passages_merged += 1
            return True
        return False

    def tick(self, conn: psycopg.Connection, now: datetime) -> list[WatchEvent]:
        """Timer events due at ``now``, stored; returns the new ones."""
        with self._lock:
            events = self.engine.due(now)
        if not events:
            return []
        with conn.transaction():
            return self._store(conn, events)

    def _store(self, conn: psycopg.Connection, events: list[WatchEvent]) -> list[WatchEvent]:
        if not events:
            return []
        new = WatchEventRepository(conn).insert(events)
        self.counters.watch_events += len(new)
        return list(new)
