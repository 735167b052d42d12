"""Step 1: check each message against the contract; unknown devices and bad input become dead
letters with their reason."""

from __future__ import annotations

import psycopg

from citytrack import wire
from hub.pipeline.batch import Batch, HubCounters


class DecodeHandler:
    critical = True

    def __init__(self, known_devices: set[str], counters: HubCounters) -> None:
        self.known = known_devices
        self.counters = counters

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        for msg in batch.inbound:
            try:
                decoded = wire.decode(msg.topic, msg.payload)
            except wire.ContractError as exc:
                batch.dead.append((msg, exc.reason))
                continue
            if decoded.device_id not in self.known:
                batch.dead.append((msg, f"unknown device {decoded.device_id!r}"))
            elif isinstance(decoded, wire.Fix):
                batch.fixes.append(decoded)
            elif isinstance(decoded, wire.Passage):
                batch.passages.append(decoded)
            elif isinstance(decoded, wire.DrivingEvent):
                batch.edge_events.append(decoded)
            else:
                batch.statuses.append(decoded)
