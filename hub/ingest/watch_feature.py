"""The child-watch feature of the hub, assembled: pipeline handlers, the event engine's
timers, and guardian notifications.

The hub includes it only when the configuration has stations; its handlers join the end
of the pipeline, its ``after_commit`` hands new events to the NotificationService, and
its ``tick`` (called by the hub's worker between batches) produces the timer events
("not at school by 08:15", "left the area") from ``watch_clock``.
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
from hub.notify.service import NotificationService
from hub.pipeline.batch import Batch, Handler, WatchCounters
from hub.pipeline.store_passages import StorePassagesHandler
from hub.pipeline.watch_events import WatchEventsHandler
from hub.storage.watch import PassageRepository

log = logging.getLogger(__name__)

HISTORY = timedelta(days=21)  # passages replayed at start: "usually at school" needs history
TICK_INTERVAL_S = 1.0


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
        self.handlers: list[Handler] = [store, self.events]
        self.notifier = NotificationService(
            cfg.watch, db_url, channels=channels, clock=watch_clock, timezone=cfg.city.timezone
        )
        self._next_tick = 0.0
        # called with timer events (they come from no batch): live views
        self.timer_listeners: list[Callable[[list[WatchEvent]], None]] = []

    def start(self, conn: psycopg.Connection) -> None:
        """Rebuild the engine from recent passages, then start delivering notices."""
        recent = PassageRepository(conn).resolved_since(self.clock() - HISTORY)
        used = self.events.engine.replay(recent)
        log.info("child watch: engine rebuilt from %d stored passages", used)
        self.notifier.start()

    def stop(self) -> None:
        self.notifier.stop()

    def after_commit(self, batch: Batch) -> None:
        events = batch.watch_events
        if events:
            self.notifier.notify(events)

    def tick(self, conn: Callable[[], psycopg.Connection]) -> None:
        """Timer events, at most every TICK_INTERVAL_S of wall time."""
        if time.monotonic() < self._next_tick:
            return
        self._next_tick = time.monotonic() + TICK_INTERVAL_S
        events = self.events.tick(conn(), self.clock())
        if events:
            self.notifier.notify(events)
            for listener in self.timer_listeners:
                listener(events)
