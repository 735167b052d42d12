"""Step 7 (child watch): resolve each passage's tag (EID keys stay at the hub) and store it,
idempotent on (station, seq)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import psycopg

from analytics.watch.tags import TagDirectory
from hub.pipeline.batch import Batch, WatchCounters
from hub.storage.watch import PassageRepository


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
        seen: set[tuple[str, int]] = set()
        for passage, tag in pairs:
            key = (passage.device_id, passage.seq)
            if key in new and key not in seen:
                seen.add(key)
                batch.resolved_passages.append((passage, tag))
                self.counters.passages_unresolved += tag is None
        self.counters.passages_stored += len(batch.resolved_passages)
        self.counters.passage_duplicates += len(pairs) - len(batch.resolved_passages)
