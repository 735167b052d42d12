"""Step 3: store fixes (binary COPY), idempotent on (device_id, seq); duplicates are counted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import psycopg

from hub.pipeline.batch import Batch, HubCounters
from hub.storage.fleet import FixRepository


class StoreFixesHandler:
    critical = True

    def __init__(self, counters: HubCounters, clock: Callable[[], datetime]) -> None:
        self.counters = counters
        self.clock = clock

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        if not batch.fixes:
            return
        new = set(FixRepository(conn).insert_batch(batch.fixes, self.clock()))
        seen: set[tuple[str, int]] = set()
        for fix in batch.fixes:
            key = (fix.device_id, fix.seq)
            if key in new and key not in seen:
                batch.new_fixes.append(fix)
                seen.add(key)
        self.counters.fixes_stored += len(batch.new_fixes)
        self.counters.duplicates_dropped += len(batch.fixes) - len(batch.new_fixes)
