"""Step 2: store dead letters with topic, payload and reason."""

from __future__ import annotations

import logging

import psycopg

from hub.pipeline.batch import Batch, HubCounters
from hub.storage.fleet import DeadLetterRepository

log = logging.getLogger(__name__)


class DeadLetterHandler:
    critical = True

    def __init__(self, counters: HubCounters) -> None:
        self.counters = counters

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        repo = DeadLetterRepository(conn)
        for msg, reason in batch.dead:
            log.warning("dead letter on %s: %s", msg.topic, reason)
            repo.insert(msg.topic, msg.payload, reason, msg.received_at)
        self.counters.dead_letters += len(batch.dead)
