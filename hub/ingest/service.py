"""The hub's I/O shell: MQTT in, one worker thread through the pipeline, PostgreSQL out.

Size: the hub's one I/O shell (MQTT callbacks, the worker loop, its retries, readiness,
watermarks, the one-hub lock); each part reads and writes the same connection state.

The hub keeps a persistent MQTT session (fixed client id, clean_session=False) so the
broker queues QoS 1 messages while it is down, and acknowledges each message only after
the batch holding it is committed (paho ``manual_ack``). One worker thread processes
batches in arrival order, so each device's messages are handled in order.

A batch that fails for any reason but a lost database (the database rejects a value, or a
message sets off a defect) is retried one message at a time; the message that still fails
is dead-lettered with the reason, and the worker goes on: no message can stop ingestion. A
lost database is retried with a backoff capped at ``MAX_DB_BACKOFF_S``; the messages stay
unacknowledged. Each device has its own queue in the inbox (``hub.ingest.inbox``), so one
device's flood does not hold up the others.

After each commit the hub publishes, per device whose messages the batch held, a retained
``Watermark``: the highest seq it has taken in. Devices delete outbox rows only when a
watermark covers them (end to end: a broker that crashes after PUBACK loses nothing), and
a new outbox numbers its messages after it. On every connect all watermarks are published
again, in case the broker lost its retained messages.

Readiness (``readiness()``, served at ``/readyz``): the broker connection, the database, the
worker thread, the inbox depth and the age of the newest message.

Every ``hub.maintenance_interval_s`` a maintenance thread applies retention, then the
rollups (``hub.storage.rollups``: trips and stops of every truck, ``driver_daily`` for yesterday
and today); a failure there is logged and counted and never stops ingestion.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg

from citytrack import wire
from citytrack.config import CitytrackConfig
from citytrack.errors import FinalError
from citytrack.health import Check, Readiness
from citytrack.logs import ThrottledLog
from citytrack.metrics import MetricsRegistry
from citytrack.mqtt import BrokerAddress, BrokerLink, make_client
from citytrack.retry import Backoff
from hub.ingest.inbox import FairInbox
from hub.ingest.watch_feature import WatchFeature
from hub.notify.channels import Channel
from hub.pipeline.batch import Batch, Inbound
from hub.pipeline.decode import admissions
from hub.pipeline.runner import Pipeline, build_pipeline
from hub.storage import schema
from hub.storage.db import StoreRejectedError, StoreUnavailableError, translate_errors
from hub.storage.drivers import RosterRepository
from hub.storage.fleet import DeadLetterRepository, DeviceRepository, watermarks
from hub.storage.retention import PruneResult, configured_retention, prune
from hub.storage.rollups import RollupJob, RollupResult
from hub.storage.watch import WatchRegistry

log = logging.getLogger(__name__)

# a lost or refused database connection: retry the batch later, keep it unacknowledged
UNAVAILABLE = (psycopg.OperationalError, StoreUnavailableError)

HUB_LOCK_KEY = 0x63697479_68756221  # pg advisory lock: one hub per database ("cityhub!")
MAX_DB_BACKOFF_S = 2.0  # a database back from a crash is used again within this
CONNECT_TIMEOUT_S = 5  # a black-holed database server fails this fast
LOG_INTERVAL_S = 10.0

SUBSCRIPTIONS = [
    wire.subscription(wire.Role.VEHICLE),
    wire.subscription(wire.Role.STATION),
]


class HubAlreadyRunningError(FinalError):
    """Another hub holds this database."""


class HubService:
    """Ingests device messages into PostgreSQL and runs the detectors."""

    def __init__(
        self,
        cfg: CitytrackConfig,
        address: BrokerAddress,
        db_url: str,
        *,
        watch_clock: Callable[[], datetime] = wire.utcnow,
        channels: Mapping[str, Channel] | None = None,
    ) -> None:
        """``watch_clock`` is the child watch's "now" (deadlines, quiet hours): the wall
        clock, or a simulation's compressed clock in the demo."""
        self.cfg = cfg
        self.address = address
        self.db_url = db_url
        self.watch: WatchFeature | None = None
        if cfg.watch.stations:
            self.watch = WatchFeature(cfg, db_url, watch_clock, channels)
        self.pipeline: Pipeline = build_pipeline(
            cfg.city,
            cfg.detectors,
            stations=[s.id for s in cfg.watch.stations],
            extra_handlers=self.watch.handlers if self.watch else (),
            admit=admissions(cfg, station_clock=watch_clock),
        )
        self.counters = self.pipeline.counters
        self._inbox = FairInbox()
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        self._lock_conn: psycopg.Connection | None = None  # holds the one-hub lock
        self.client = make_client(cfg.hub.client_id, address, clean_session=False, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.link = BrokerLink(address, log, client_id=cfg.hub.client_id)
        self.link.attach(self.client)
        self._db_error = ""  # why the database failed last ("" while it answers)
        self._newest: float | None = None  # monotonic time of the newest message
        self._marks: dict[str, int] = {}  # per device, the watermark published
        self._throttle = ThrottledLog(log, LOG_INTERVAL_S)
        self._subscribed = threading.Event()
        self._disconnected = threading.Event()
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.retention = configured_retention(cfg)
        # trips of every truck and driver_daily, after each retention run
        self.rollups = RollupJob.for_city(cfg.city, cfg.detectors.quality)
        # what GET /metrics exports (hub.api.app): read when scraped
        self.metrics = MetricsRegistry(service="hub")
        self.metrics.track("pipeline", lambda: self.counters)
        self.metrics.track("watch", lambda: self.watch.counters if self.watch else None)
        self.metrics.track("rollups", lambda: self.rollups.counts)

    def add_listener(self, listener: Callable[[Batch], None]) -> None:
        """Call ``listener(batch)`` after each committed batch (live views)."""
        self.pipeline.after_commit.append(listener)

    def prepare_database(self) -> list[str]:
        """Apply migrations and load the registry; returns the migration steps applied."""
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            applied = schema.upgrade(conn, retention=self.retention)
            with conn.transaction():
                DeviceRepository(conn).sync_registry(self.cfg.city)
                RosterRepository(conn).sync(self.cfg.city.roster)
                if self.watch is not None:
                    WatchRegistry(conn).sync(self.cfg.watch)
        return applied

    def claim_database(self) -> None:
        """Take the database for this hub (a PostgreSQL advisory lock held on a connection
        of its own for the hub's life), before anything is changed.

        Raises:
            HubAlreadyRunningError: another hub holds it.
            StoreUnavailableError: the database cannot be reached.
        """
        if self._lock_conn is not None:
            return
        with translate_errors("connect"):
            conn = psycopg.connect(self.db_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (HUB_LOCK_KEY,)).fetchone()
        if not (row and row[0]):
            holder = conn.execute(
                "SELECT a.client_addr, a.backend_start FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"
            ).fetchone()
            conn.close()
            since = f" since {holder[1]:%Y-%m-%d %H:%M:%S %Z}" if holder and holder[1] else ""
            raise HubAlreadyRunningError(
                f"another hub is running on this database{since}: stop it first, or give "
                "this one its own database (--db)"
            )
        self._lock_conn = conn

    def release_database(self) -> None:
        if self._lock_conn is not None:
            self._lock_conn.close()  # the session's advisory lock goes with it
            self._lock_conn = None

    def start(self) -> None:
        """Claim the database, migrate it, rebuild state, then connect to the broker.

        Raises:
            HubAlreadyRunningError: another hub runs on the same database (nothing was
                changed).
        """
        self.claim_database()
        self.prepare_database()
        conn = self._connection()
        self.pipeline.rebuild(conn)
        self._marks = watermarks(conn)
        self.add_listener(self._publish_alerts)
        self.add_listener(self._publish_watermarks)
        if self.watch is not None:
            self.watch.start(conn)
        self._thread = threading.Thread(target=self._work, name="hub-ingest", daemon=True)
        self._thread.start()
        threading.Thread(target=self._maintain, name="hub-retention", daemon=True).start()
        self.client.connect_async(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()

    def wait_subscribed(self, timeout_s: float) -> bool:
        """Block until the broker has acknowledged the hub's subscriptions."""
        return self._subscribed.wait(timeout_s)

    def readiness(self) -> Readiness:
        """What ``/readyz`` reports: ready when the broker connection is up, the database
        answered the last batch and the worker runs."""
        worker = self._thread is not None and self._thread.is_alive()
        checks = {
            "broker": self.link.check(),
            "database": Check(ok=not self._db_error, detail=self._db_error),
            "worker": Check(ok=worker, detail="" if worker else "the ingest worker is not running"),
        }
        age = None if self._newest is None else time.monotonic() - self._newest
        return Readiness.of("hub", checks, len(self._inbox), age)

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every received message is processed, or timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self._inbox) == 0 and not self._busy.is_set():
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Finish (commit and acknowledge) the batch in hand, then disconnect. Messages
        not yet processed stay unacknowledged and the broker redelivers them."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._disconnected.clear()
        if self.client.disconnect() == mqtt.MQTT_ERR_SUCCESS:
            # let the DISCONNECT reach the broker before the network loop ends: until it
            # does, the broker takes this session as connected and sends it what arrives
            self._disconnected.wait(5)
        self.client.loop_stop()
        if self.watch is not None:
            self.watch.stop()
        if self._conn is not None:
            self._conn.close()
        self.release_database()

    def apply_retention(self) -> PruneResult:
        """Delete what the configured retention no longer keeps (``hub.storage.retention``)."""
        with psycopg.connect(self.db_url, autocommit=True) as conn, conn.transaction():
            result = prune(conn, self.retention)
        log.info("retention: deleted %s", result)
        return result

    def _maintain(self) -> None:
        while not self._stop.wait(self.cfg.hub.maintenance_interval_s):
            try:
                self.apply_retention()
            except Exception:  # supervisor loop: log, try again next period
                log.exception("retention run failed")
            self.refresh_rollups()

    def refresh_rollups(self, now: datetime | None = None) -> RollupResult | None:
        """Build every truck's trips, then refresh ``driver_daily`` for yesterday and today
        (``hub.storage.rollups``) at ``now`` (default: the clock). Never raises: a failed run is
        logged, counted in ``self.rollups.counts.failures`` and returns None."""
        try:
            with psycopg.connect(self.db_url, autocommit=True) as conn:
                result = self.rollups.run(conn, now or wire.utcnow())
        except Exception:  # supervisor loop: log, count, try again next period
            self.rollups.counts.failures += 1
            log.exception("rollup run failed")
            return None
        log.info("rollups: %s", result.summary())
        return result

    # paho callbacks (network thread)

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.link.refused(reason)
            return
        client.subscribe([(topic, 1) for topic in SUBSCRIPTIONS])
        self.link.up()
        for device_id, seq in list(self._marks.items()):  # a broker may have lost them
            self._publish_watermark(device_id, seq)
        if not flags.session_present and (self.link.failures or self._marks):
            log.warning(
                "the broker kept no session for the hub (client id %r): what devices sent "
                "while the hub was away comes only when they send it again (they keep it "
                "until the hub confirms it); a broker should persist sessions "
                "(see `citytrack broker config`)",
                self.cfg.hub.client_id,
            )

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._disconnected.set()
        if not self._stop.is_set():
            self.link.down(reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._busy.set()
        self._newest = time.monotonic()
        self._inbox.put(Inbound(msg.topic, bytes(msg.payload), wire.utcnow(), msg.mid, msg.qos))

    # worker thread

    def _next_batch(self) -> list[Inbound]:
        batch = self._inbox.take(self.cfg.hub.batch_max, self.cfg.hub.batch_wait_s, 0.2)
        if not batch:
            self._busy.clear()
        return batch

    def _work(self) -> None:
        """The worker: nothing that happens in it may end it (a dead worker would leave the
        process up and ingesting nothing); what fails is logged, counted and survived."""
        while not self._stop.is_set():
            try:
                self._work_once()
            except Exception:  # supervisor loop: a defect here must not stop ingestion
                self.counters.worker_errors += 1
                log.exception("ingest worker failed; going on")
                self._stop.wait(1.0)

    def _work_once(self) -> None:
        if self.watch is not None:
            self._guarded(self.watch.tick, self._connection)
        batch = self._next_batch()
        if batch and self._commit_with_retry(batch):
            for msg in batch:
                if msg.qos > 0:
                    self.client.ack(msg.mid, msg.qos)
            if len(self._inbox) == 0:
                self._busy.clear()

    def _commit_with_retry(self, batch: list[Inbound]) -> bool:
        """Process the batch, retrying while the database is unreachable. False if the
        hub is stopping before it could commit (the batch stays unacknowledged)."""
        backoff = Backoff(0.2, MAX_DB_BACKOFF_S)
        while True:
            try:
                self.ingest(batch)
                if self._db_error:
                    log.info("database available again")
                self._db_error = ""
                return True
            except UNAVAILABLE as exc:
                self._db_error = f"database unavailable: {str(exc).strip() or type(exc).__name__}"
                if self._stop.is_set():
                    return False
                delay = backoff.next_delay()
                self._throttle.error("database", "%s; retrying", self._db_error)
                self._stop.wait(delay)
                self._reconnect()

    def _guarded(
        self,
        step: Callable[[Callable[[], psycopg.Connection]], None],
        conn: Callable[[], psycopg.Connection],
    ) -> None:
        """Run a periodic step; a failure is logged and retried on the next round."""
        try:
            step(conn)
        except UNAVAILABLE as exc:
            log.warning("periodic step postponed: %s", exc)
            self._reconnect()
        except Exception:  # supervisor loop: never let a timer kill ingestion
            log.exception("periodic step failed")

    def _connection(self) -> psycopg.Connection:
        """The worker's connection, reconnecting if it was lost (raises OperationalError)."""
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self.db_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            # a batch is acknowledged (broker, device watermark) once it commits: the commit
            # must be on disk, whatever the server's default
            conn.execute("SET synchronous_commit = on")
            self._conn = conn
        return self._conn

    def ingest(self, batch: list[Inbound]) -> None:
        """Process and commit ``batch``; a message that cannot be processed is isolated and
        dead-lettered with the reason, and the rest are processed.

        Raises:
            psycopg.OperationalError, StoreUnavailableError: the database is unreachable
                (nothing of the batch is acknowledged; retry it).
        """
        try:
            self.pipeline.process(self._connection(), batch)
        except UNAVAILABLE:
            raise
        except Exception as exc:  # rejected by the database, or a defect a message set off
            if len(batch) == 1:
                if not isinstance(exc, psycopg.Error | StoreRejectedError):
                    # a defect: its traceback, once per kind per interval, for whoever fixes it
                    self._throttle.log(
                        logging.ERROR,
                        f"defect {type(exc).__name__}",
                        "a message set off %s",
                        type(exc).__name__,
                        exc_info=exc,
                    )
                self._dead_letter(batch[0], _why(exc))
                return
            for msg in batch:  # find the poison message
                self.ingest([msg])

    def _dead_letter(self, msg: Inbound, reason: str) -> None:
        self._throttle.warning(msg.topic, "dead letter on %s: %s", msg.topic, reason)
        conn = self._connection()
        with conn.transaction():
            DeadLetterRepository(conn).insert(msg.topic, msg.payload, reason, msg.received_at)
        self.counters.dead_letters += 1
        self.counters.received += 1

    def _reconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None  # the next attempt connects afresh

    def _publish_watermarks(self, batch: Batch) -> None:
        """After a commit: each device whose messages it held learns how far the hub has
        them (retained, so a device reconnecting or replaced reads it)."""
        for device_id, seq in batch.taken.items():
            if seq > self._marks.get(device_id, 0):
                self._marks[device_id] = seq
                self._publish_watermark(device_id, seq)

    def _publish_watermark(self, device_id: str, seq: int) -> None:
        mark = wire.Watermark(device_id=device_id, seq=seq, time=wire.utcnow())
        self.client.publish(wire.watermark_topic(device_id), wire.encode(mark), qos=1, retain=True)

    def _publish_alerts(self, batch: Batch) -> None:
        for alert in batch.stored_alerts:
            payload = alert.model_dump_json(exclude_none=True).encode()
            self.client.publish(wire.alert_topic(alert.device_id), payload, qos=1)


def _why(exc: Exception) -> str:
    """A dead letter's reason for a message that failed in processing."""
    if isinstance(exc, psycopg.Error | StoreRejectedError):
        return f"rejected by the database: {exc}"
    return f"could not be processed ({type(exc).__name__}: {exc})"
