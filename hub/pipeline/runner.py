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

State kept between batches (each vehicle's detectors, the child-watch engine) is
transactional (``batch.Stateful``): what a batch advances becomes current when the batch
commits, and is undone with it, so a retried batch gives the alerts and events a
fault-free run gives.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import psycopg

from citytrack import wire
from citytrack.config import CityConfig, DetectorsConfig
from citytrack.counters import Counters
from hub.pipeline.batch import Batch, Handler, HubCounters, Inbound, Rebuilds, Stateful
from hub.pipeline.dead_letters import DeadLetterHandler
from hub.pipeline.decode import Admission, DecodeHandler
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
        self._stateful = [h for h in self.handlers if isinstance(h, Stateful)]

    def process(self, conn: psycopg.Connection, inbound: Sequence[Inbound]) -> Batch:
        """Process and commit one batch.

        Raises:
            psycopg.Error: a critical handler failed; the transaction was rolled back.
        """
        batch = Batch(inbound)
        for stateful in self._stateful:
            stateful.begin()
        counted = [(c, copy.copy(c)) for c in self._counters()]
        try:
            with conn.transaction():
                for handler in self.handlers:
                    self._run(handler, batch, conn)
        except BaseException:
            for stateful in self._stateful:
                stateful.rollback()
            for live, before in counted:  # count only what was committed
                vars(live).update(vars(before))
            raise
        for stateful in self._stateful:
            stateful.commit()
        self.counters.received += len(inbound)
        for listener in self.after_commit:
            try:
                listener(batch)
            except Exception:  # a broken listener must not stop ingestion
                log.exception("after-commit listener failed")
        return batch

    def _counters(self) -> list[Counters]:
        """The pipeline's counters and every handler's own, once each."""
        found: dict[int, Counters] = {id(self.counters): self.counters}
        for handler in self.handlers:
            counters = getattr(handler, "counters", None)
            if isinstance(counters, Counters):
                found[id(counters)] = counters
        return list(found.values())

    def rebuild(self, conn: psycopg.Connection) -> None:
        """At start: each handler that keeps state rebuilds it from the database."""
        for handler in self.handlers:
            if isinstance(handler, Rebuilds):
                handler.rebuild(conn)

    def _run(self, handler: Handler, batch: Batch, conn: psycopg.Connection) -> None:
        if handler.critical:
            handler.handle(batch, conn)
            return
        sizes = batch.sizes()
        try:
            with conn.transaction():  # savepoint: a failed detector leaves no partial writes
                handler.handle(batch, conn)
        except Exception:
            self.counters.handler_errors += 1
            log.exception("%s failed; batch goes on", type(handler).__name__)
            batch.trim(sizes)  # nor partial findings
            if isinstance(handler, Stateful):  # and its state is as it was
                handler.rollback()
                handler.begin()


def build_pipeline(
    city: CityConfig,
    detectors: DetectorsConfig,
    clock: Callable[[], datetime] = wire.utcnow,
    *,
    stations: Sequence[str] = (),
    extra_handlers: Sequence[Handler] = (),
    admit: Mapping[wire.Role, Admission] | None = None,
) -> Pipeline:
    """The standard hub pipeline for a city; ``extra_handlers`` (child watch) go last;
    ``admit``: the time window of each role's messages (``decode.admissions``)."""
    counters = HubCounters()
    known = {t.device_id for t in city.trucks} | set(stations)
    handlers: list[Handler] = [
        DecodeHandler(known, counters, admit),
        DeadLetterHandler(counters),
        StoreFixesHandler(counters, clock),
        StatusHandler(counters),
        DetectHandler(city, detectors),
        ReconcileAlertsHandler(city, counters, clock),
        *extra_handlers,
    ]
    return Pipeline(handlers, counters)
