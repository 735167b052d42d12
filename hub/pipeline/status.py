"""Step 4: each device's latest status and counters."""

from __future__ import annotations

import psycopg

from hub.pipeline.batch import Batch, HubCounters
from hub.storage.fleet import DeviceRepository


class StatusHandler:
    critical = True

    def __init__(self, counters: HubCounters) -> None:
        self.counters = counters

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        repo = DeviceRepository(conn)
        for status in batch.statuses:
            repo.upsert_status(status)
        self.counters.statuses += len(batch.statuses)
