"""Step 8 (child watch): per child, what guardians are told about: passed, arrived at and
left school, entered and left the area, not arrived.

Timer events ("not seen at school by 08:15", "left the area" after silence) come from
``WatchEventsHandler.tick(conn, now)``, which the hub's worker calls between batches."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg

from analytics.watch.engine import WatchEventEngine
from analytics.watch.events import WatchEvent
from citytrack import wire
from citytrack.config.watch import WatchConfig
from hub.pipeline.batch import Batch, WatchCounters
from hub.storage.watch import WatchEventRepository

# Passages of one child at one station closer than this are one visit: a tag whose
# Eddystone-EID rotates mid-visit looks like two tags to the station (docs/child-watch.md).
SAME_VISIT_S = 30.0


class WatchEventsHandler:
    """Feeds new resolved passages to the event engine, stores the events it derives."""

    critical = True

    def __init__(self, watch: WatchConfig, tz: ZoneInfo, counters: WatchCounters) -> None:
        self.watch = watch
        self.engine = WatchEventEngine(watch, tz)
        self.counters = counters
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], datetime] = {}  # (child, station) -> closest_time
        self._last_before: dict[tuple[str, str], datetime | None] = {}  # in a batch

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        events: list[WatchEvent] = []
        with self._lock:
            for passage, tag in sorted(batch.resolved_passages, key=lambda pt: pt[0].closest_time):
                station = self.watch.station(passage.device_id)
                if tag is None or station is None or self._same_visit(tag.child_id, passage):
                    continue
                events.extend(self.engine.on_passage(tag.child_id, station, passage.closest_time))
        batch.watch_events.extend(self._store(conn, events))

    def _same_visit(self, child_id: str, passage: wire.Passage) -> bool:
        """A second passage of a child at a station within SAME_VISIT_S of the last one is the
        same visit (an EID rotating mid-visit makes the station report two)."""
        key = (child_id, passage.device_id)
        last = self._last.get(key)
        self._last_before.setdefault(key, last)
        self._last[key] = passage.closest_time
        if last is not None and abs((passage.closest_time - last).total_seconds()) < SAME_VISIT_S:
            self.counters.passages_merged += 1
            return True
        return False

    # batch.Stateful: the engine and the same-visit memory advance with the batch's commit

    def begin(self) -> None:
        with self._lock:
            self.engine.begin()
            self._last_before = {}

    def commit(self) -> None:
        with self._lock:
            self.engine.commit()
            self._last_before = {}

    def rollback(self) -> None:
        with self._lock:
            self.engine.rollback()
            for key, last in self._last_before.items():
                if last is None:
                    self._last.pop(key, None)
                else:
                    self._last[key] = last
            self._last_before = {}

    def tick(
        self,
        conn: psycopg.Connection,
        now: datetime,
        within: Callable[[list[WatchEvent]], object] | None = None,
    ) -> list[WatchEvent]:
        """Timer events due at ``now``, stored; returns the new ones. ``within(new)`` runs
        in the same transaction (the notices of those events). If the transaction fails,
        the engine forgets it said them, so the next tick says them again."""
        with self._lock:
            self.engine.begin()
            events = self.engine.due(now)
        try:
            stored = self._commit_events(conn, events, within)
        except BaseException:
            with self._lock:
                self.engine.rollback()
            raise
        with self._lock:
            self.engine.commit()
        return stored

    def _commit_events(
        self,
        conn: psycopg.Connection,
        events: list[WatchEvent],
        within: Callable[[list[WatchEvent]], object] | None,
    ) -> list[WatchEvent]:
        if not events:
            return []
        with conn.transaction():
            stored = self._store(conn, events)
            if within is not None and stored:
                within(stored)
            return stored

    def _store(self, conn: psycopg.Connection, events: list[WatchEvent]) -> list[WatchEvent]:
        if not events:
            return []
        new = WatchEventRepository(conn).insert(events)
        self.counters.watch_events += len(new)
        return list(new)
