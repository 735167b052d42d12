"""Step 2: store dead letters with topic, payload and reason.

Logged through a ``ThrottledLog`` keyed by topic: a device that floods the hub with bad
messages writes one line per ``LOG_INTERVAL_S`` saying how many more there were, not one
line each. Every one is stored and counted (``dead_letters``)."""

from __future__ import annotations

import logging

import psycopg

from citytrack.logs import ThrottledLog
from hub.pipeline.batch import Batch, HubCounters
from hub.storage.fleet import DeadLetterRepository

log = logging.getLogger(__name__)
LOG_INTERVAL_S = 10.0


class DeadLetterHandler:
    critical = True

    def __init__(self, counters: HubCounters, throttle: ThrottledLog | None = None) -> None:
        self.counters = counters
        self.throttle = throttle or ThrottledLog(log, LOG_INTERVAL_S)

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        if not batch.dead:
            return
        for msg, reason in batch.dead:
            self.throttle.warning(msg.topic, "dead letter on %s: %s", msg.topic, reason)
        DeadLetterRepository(conn).insert_many(
            [(msg.topic, msg.payload, reason, msg.received_at) for msg, reason in batch.dead]
        )
        self.counters.dead_letters += len(batch.dead)
