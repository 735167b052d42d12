"""The child-watch feature of the hub, assembled: pipeline handlers, the event engine's
timers, and guardian notifications.

The hub includes it only when the configuration has stations; its handlers join the end
of the pipeline: store passages, derive events, then ``NoticesHandler`` creates the
guardians' notices in the same transaction, so an event is never committed without its
notices (the notice rows are the delivery queue; the NotificationService's worker
delivers them). Its ``tick`` (called by the hub's worker between batches) produces the
timer events ("not at school by 08:15", "left the area") from ``watch_clock``, again with
their notices in one transaction. At start, events of the last ``SWEEP`` that have no
notice (stored by an older hub, or before a crash between the two) are notified.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from analytics.watch.events import WatchEvent
from analytics.watch.tags import TagDirectory
from citytrack.config import CitytrackConfig
from hub.notify.channels import Channel
from hub.notify.service import NotificationService, Staged
from hub.pipeline.batch import Batch, Handler, WatchCounters
from hub.pipeline.store_passages import StorePassagesHandler
from hub.pipeline.watch_events import WatchEventsHandler
from hub.storage.watch import PassageRepository, WatchEventRepository

log = logging.getLogger(__name__)

HISTORY = timedelta(days=21)  # passages replayed at start: "usually at school" needs history
SWEEP = timedelta(hours=24)  # events without notices looked for at start
TICK_INTERVAL_S = 1.0


class NoticesHandler:
    """Step 9 (child watch): the guardians' notices of the batch's new events, in the
    batch's transaction; the notification policy advances when the batch commits."""

    critical = True

    def __init__(self, notifier: NotificationService) -> None:
        self.notifier = notifier
        self._staged: Staged | None = None

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        if batch.watch_events:
            self._staged = self.notifier.stage(batch.watch_events, conn)

    # batch.Stateful

    def begin(self) -> None:
        self._staged = None

    def commit(self) -> None:
        if self._staged is not None:
            self.notifier.adopt(self._staged)
        self._staged = None

    def rollback(self) -> None:
        self._staged = None


class WatchFeature:
    def __init__(
        self,
        cfg: CitytrackConfig,
        db_url: str,
        watch_clock: Callable[[], datetime],
        channels: Mapping[str, Channel] | None = None,
    ) -> None:
        self.cfg = cfg.watch
        self.clock = watch_clock
        self.counters = WatchCounters()
        tz = ZoneInfo(cfg.city.timezone)
        self.events = WatchEventsHandler(cfg.watch, tz, self.counters)
        store = StorePassagesHandler(TagDirectory(cfg.watch), self.counters, watch_clock)
        self.notifier = NotificationService(
            cfg.watch, db_url, channels=channels, clock=watch_clock, timezone=cfg.city.timezone
        )
        self.handlers: list[Handler] = [store, self.events, NoticesHandler(self.notifier)]
        self._next_tick = 0.0
        # called with timer events (they come from no batch): live views
        self.timer_listeners: list[Callable[[list[WatchEvent]], None]] = []

    def start(self, conn: psycopg.Connection) -> None:
        """Rebuild the engine from recent passages, notify events left without notices,
        then start delivering notices."""
        recent = PassageRepository(conn).resolved_since(self.clock() - HISTORY)
        used = self.events.engine.replay(recent)
        log.info("child watch: engine rebuilt from %d stored passages", used)
        self.sweep(conn)
        self.notifier.start()

    def sweep(self, conn: psycopg.Connection) -> int:
        """Notify the events of the last ``SWEEP`` that have no notice; returns how many."""
        with conn.transaction():
            orphans = WatchEventRepository(conn).without_notices(self.clock() - SWEEP)
            staged = self.notifier.stage(orphans, conn)
        self.notifier.adopt(staged)
        if orphans:
            log.warning("child watch: %d events had no notices; notified now", len(orphans))
        return len(orphans)

    def stop(self) -> None:
        self.notifier.stop()

    def tick(self, conn: Callable[[], psycopg.Connection]) -> None:
        """Timer events, at most every TICK_INTERVAL_S of wall time."""
        if time.monotonic() < self._next_tick:
            return
        self._next_tick = time.monotonic() + TICK_INTERVAL_S
        c = conn()
        staged: list[Staged] = []
        events = self.events.tick(
            c, self.clock(), lambda new: staged.append(self.notifier.stage(new, c))
        )
        for s in staged:
            self.notifier.adopt(s)
        if events:
            for listener in self.timer_listeners:
                listener(events)
