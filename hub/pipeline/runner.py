"""The hub's ordered handler list: one place to read what happens to a message.

One handler per module of this package, named for its step

    Inbound MQTT messages (a batch, in arrival order)
      1. DecodeHandler        contract check; unknown devices; bad input -> dead letters
      2. DeadLetterHandler    store dead letters with topic, payload and reason
      3. StoreFixesHandler    binary COPY, idempotent on (device_id, seq); counts duplicates
      4. StatusHandler        latest device status and counters
      5. DetectHandler        per device, in seq order: harsh braking/acceleration, speeding
      6. ReconcileAlertsHandler  edge events idempotent on (device_id, seq); they and the
                              GNSS alerts make one alert per episode
                              (hub/pipeline/reconcile_alerts.py);
                              alerts idempotent on (device_id, kind, start_time)
      7. StorePassagesHandler child watch: tag resolved, idempotent on (station, seq)
      8. WatchEventsHandler   child watch: passed, arrived/left school, entered/left area
    -- commit, then the broker is acknowledged (QoS 1) --
      after-commit listeners  live views, alert publishing

All handlers run in one transaction per batch. A storage failure aborts the batch, which
is not acknowledged and is retried; a detector failure is logged and counted, and the
batch goes on. A disabled feature is simply absent from the list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import psycopg

from citytrack import wire
from citytrack.config import CityConfig, DetectorsConfig
from hub.pipeline.batch import Batch, Handler, HubCounters, Inbound
from hub.pipeline.dead_letters import DeadLetterHandler
from hub.pipeline.decode import DecodeHandler
from hub.pipeline.detect import DetectHandler
from hub.pipeline.reconcile_alerts import ReconcileAlertsHandler
from hub.pipeline.status import StatusHandler
from hub.pipeline.store_fixes import StoreFixesHandler

log = logging.getLogger(__name__)


AfterCommit = Callable[[Batch], None]


class Pipeline:
    """Runs the handler list over a batch in one transaction."""

    def __init__(self, handlers: Sequence[Handler], counters: HubCounters) -> None:
        self.handlers = list(handlers)
        self.counters = counters
        self.after_commit: list[AfterCommit] = []

    def process(self, conn: psycopg.Connection, inbound: Sequence[Inbound]) -> Batch:
        """Process and commit one batch.

        Raises:
            psycopg.Error: a critical handler failed; the transaction was rolled back.
        """
        batch = Batch(inbound)
        with conn.transaction():
            for handler in self.handlers:
                self._run(handler, batch, conn)
        self.counters.received += len(inbound)
        for listener in self.after_commit:
            try:
                listener(batch)
            except Exception:  # a broken listener must not stop ingestion
                log.exception("after-commit listener failed")
        return batch

    def _run(self, handler: Handler, batch: Batch, conn: psycopg.Connection) -> None:
        if handler.critical:
            handler.handle(batch, conn)
            return
        try:
            with conn.transaction():  # savepoint: a failed detector leaves no partial writes
                handler.handle(batch, conn)
        except Exception:
            self.counters.handler_errors += 1
            log.exception("%s failed; batch goes on", type(handler).__name__)


def build_pipeline(
    city: CityConfig,
    detectors: DetectorsConfig,
    clock: Callable[[], datetime] = wire.utcnow,
    *,
    stations: Sequence[str] = (),
    extra_handlers: Sequence[Handler] = (),
) -> Pipeline:
    """The standard hub pipeline for a city; ``extra_handlers`` (child watch) go last."""
    counters = HubCounters()
    known = {t.device_id for t in city.trucks} | set(stations)
    handlers: list[Handler] = [
        DecodeHandler(known, counters),
        DeadLetterHandler(counters),
        StoreFixesHandler(counters, clock),
        StatusHandler(counters),
        DetectHandler(city, detectors),
        ReconcileAlertsHandler(city, counters, clock),
        *extra_handlers,
    ]
    return Pipeline(handlers, counters)
