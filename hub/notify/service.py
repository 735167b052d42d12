"""Guardian notifications: events in, notices stored, a worker thread delivers them.

Size: decide, render and queue for events and broadcasts, which share the policy state,
the caller-side connection and the delivery worker.

    notify(events)      per event, in time order; per guardian of THAT child only:
                          policy.decide -> templates.render_event (guardian's language)
                          -> one row per channel in ``notifications`` (dropped ones too)
    stage(events, conn) the same in the caller's transaction (the hub's batch, so that
      adopt(staged)       events and their notices commit together); ``adopt`` once
                          it has committed
    broadcast(...)      every guardian of a school's or a ward's children, once each,
                          urgent (no policy)
    DeliveryWorker      a thread: claim due rows -> channel.send -> delivered | retry
                          with exponential backoff | failed (``hub.notify.delivery``)

Rows are the queue: a notice still ``queued`` when the hub stops is delivered after the
next ``start()``, with the same retry key. Delivery is at least once; LINE's retry key,
the e-mail Message-ID and the webhook's ``X-Citytrack-Delivery`` let the far end drop a
repeat. ``handed_at`` is when a notice was first handed to its channel, so event ->
hand-off latency is ``handed_at - event_time``.

Errors: ``hub.storage.db.StoreUnavailableError`` / ``StoreRejectedError`` from ``notify``,
``broadcast`` and the queries; ``ValueError`` for a bad broadcast scope. The worker
never dies of a delivery or database error: it logs, backs off and goes on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

import psycopg

from analytics.watch.events import WatchEvent
from citytrack.config.watch import Child, Guardian, WatchConfig
from citytrack.errors import InvalidInputError
from hub.notify.channels import Channel, default_channels
from hub.notify.delivery import DeliveryWorker, utc_now
from hub.notify.policy import Action, Decision, GuardianState, PolicyRules, decide
from hub.notify.templates import Rendered, render_broadcast, render_event, scope_name
from hub.storage.db import Connection, translate_errors
from hub.storage.notifications import NewNotice, Notice, NotificationRepository

log = logging.getLogger(__name__)

EMERGENCY_KIND = "emergency"
_STATUS = {Action.SEND: "queued", Action.DEFER: "deferred", Action.DROP: "dropped"}


@dataclass(frozen=True)
class Staged:
    """Notices inserted in a transaction not yet committed: the policy state and the counts
    they bring (``NotificationService.stage``)."""

    states: dict[str, GuardianState] | None
    tally: Counter[str]


@dataclass(frozen=True)
class BroadcastResult:
    """A broadcast: its id (for ``delivery_counts``), guardians reached, rows queued."""

    broadcast_id: str
    guardians: int
    queued: int


class NotificationService:
    """Notifies guardians of their own children's events (see the module docstring).

    Args:
        cfg: the ``[watch]`` configuration (children, guardians, schools, stations,
            ``notify`` settings).
        db_url: PostgreSQL URL; the ``notifications`` table must exist
            (``hub.storage.schema.upgrade``).
        channels: channel per kind (``line``, ``email``, ``webhook``); default
            ``default_channels(cfg.notify)``, which the service then closes on ``stop``.
        clock: current time, aware.
        timezone: the city's IANA zone (``CityConfig.timezone``): quiet hours, HH:MM.
        batch_size: notices claimed per worker round.
        poll_interval_s: worker's idle wait between scans for due notices, s.
        lease_s: a claimed notice is due again after this long if its attempt is never
            recorded (the process died mid-send), s.
    """

    def __init__(
        self,
        cfg: WatchConfig,
        db_url: str,
        *,
        channels: Mapping[str, Channel] | None = None,
        clock: Callable[[], datetime] = utc_now,
        timezone: str | tzinfo = "Asia/Tokyo",
        batch_size: int = 50,
        poll_interval_s: float = 0.5,
        lease_s: float = 60.0,
    ) -> None:
        self._cfg, self._db_url, self._clock = cfg, db_url, clock
        self._tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self._rules = PolicyRules.from_config(cfg.notify, self._tz)
        self._own_channels, self._channels_closed = channels is None, False
        self._channels = dict(default_channels(cfg.notify) if channels is None else channels)
        self._children = {c.id: c for c in cfg.children}
        self._guardians = {g.id: g for g in cfg.guardians}
        self._states: dict[str, GuardianState] = {}
        self._lock = threading.Lock()  # policy state and the caller-side connection
        self._conn: Connection | None = None
        self._counters: Counter[str] = Counter()
        self._counters_lock = threading.Lock()
        self._worker = DeliveryWorker(
            db_url,
            self._channels,
            max_attempts=cfg.notify.max_attempts,
            retry_base_s=cfg.notify.retry_base_s,
            clock=clock,
            count=self._count,
            batch_size=batch_size,
            poll_interval_s=poll_interval_s,
            lease_s=lease_s,
        )

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery worker (no-op when running); due notices go out at once."""
        if self._own_channels and self._channels_closed:
            self._channels.clear()  # the worker holds this dict
            self._channels.update(default_channels(self._cfg.notify))
            self._channels_closed = False
        self._worker.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the worker after the notice in hand; undelivered notices stay queued."""
        self._worker.stop(timeout_s)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        if self._own_channels and not self._channels_closed:
            for channel in self._channels.values():
                channel.close()
            self._channels_closed = True

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no notice is ``queued`` (deferred ones do not count).

        Returns False after ``timeout_s`` (s) with notices still queued, e.g. when the
        worker was not started or a retry is due later. Raises ``StoreError`` if the
        database fails.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                pending = NotificationRepository(self._connection()).pending()
            if pending == 0 and not self._worker.busy:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    @property
    def counters(self) -> dict[str, int]:
        """Counts since construction: ``events``; decisions ``queued`` / ``deferred`` /
        ``dropped`` and why (``sent_now``, ``quiet_hours``, ``dedup_window``,
        ``once_per_day``, ``rate_limited``, ``stale``, ``duplicate_event``); ``already_stored``,
        ``unknown_child``, ``stored`` (rows), ``broadcasts``; from the worker
        ``delivered``, ``retried``, ``failed``, ``worker_errors``."""
        with self._counters_lock:
            return dict(self._counters)

    def _count(self, *names: str) -> None:
        with self._counters_lock:
            self._counters.update(names)

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def _connection(self) -> Connection:
        """The caller-side connection (autocommit), reopened after a failure."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            with translate_errors("connect"):
                self._conn = psycopg.connect(self._db_url, autocommit=True)
        return self._conn

    # --- events ---------------------------------------------------------------------------

    def notify(self, events: Sequence[WatchEvent]) -> None:
        """Decide, render and store the notices for ``events`` in a transaction of the
        service's own; the worker delivers them (``stage`` + ``adopt``).

        Raises:
            StoreUnavailableError, StoreRejectedError: the database failed; nothing was
                stored and the same events may be passed again.
        """
        if not events:
            return
        with self._lock:
            conn = self._connection()
        with translate_errors("insert notifications"), conn.transaction():
            staged = self.stage(events, conn)
        self.adopt(staged)

    def stage(self, events: Sequence[WatchEvent], conn: Connection) -> Staged:
        """Decide, render and insert the notices for ``events`` in the caller's transaction
        on ``conn`` (the hub's batch: the notice rows are the delivery queue, committed
        with the events they are about). Call ``adopt`` with the result once that
        transaction has committed; drop it if it did not.

        Events are decided in time order. An (event, guardian) pair already stored is
        skipped, so re-processing events adds nothing. The policy state advances only
        when ``adopt`` is called.

        Raises:
            StoreUnavailableError, StoreRejectedError: the database failed.
        """
        tally = Counter({"events": len(events)})
        if not events:
            return Staged(None, tally)
        now = self._now()
        with self._lock:
            repo = NotificationRepository(conn)
            done = repo.notified(sorted({e.event_id for e in events}))
            states = dict(self._states)
            rows: list[NewNotice] = []
            for event in sorted(events, key=lambda e: e.time):
                rows.extend(self._notices_for(event, done, states, now, tally))
            stored = repo.insert(rows, now)
        tally["stored"] += len(stored)
        return Staged(states, tally)

    def adopt(self, staged: Staged) -> None:
        """The staged notices were committed: advance the policy state, count, deliver."""
        with self._lock:
            if staged.states is not None:
                self._states = staged.states
        self._count(*staged.tally.elements())
        self._worker.wake()

    def _notices_for(
        self,
        event: WatchEvent,
        done: set[tuple[str, str]],
        states: dict[str, GuardianState],
        now: datetime,
        tally: Counter[str],
    ) -> list[NewNotice]:
        """Decide and render ``event`` for each of its child's guardians (updates
        ``states`` and ``tally`` in place)."""
        child = self._children.get(event.child_id)
        if child is None:
            log.warning("event %s names unknown child %s", event.event_id, event.child_id)
            tally["unknown_child"] += 1
            return []
        rows: list[NewNotice] = []
        for guardian_id in dict.fromkeys(child.guardian_ids):  # only this child's guardians
            if (event.event_id, guardian_id) in done:
                tally["already_stored"] += 1
                continue
            guardian = self._guardians[guardian_id]
            state = states.get(guardian_id) or GuardianState(guardian_id)
            states[guardian_id], decision = decide(state, event, guardian, now, self._rules)
            tally[_STATUS[decision.action]] += 1
            tally[decision.reason or "sent_now"] += 1
            rendered = render_event(event, child, self._cfg, guardian.language, self._tz)
            rows.extend(self._event_rows(event, child, guardian, decision, rendered))
        return rows

    def _event_rows(
        self,
        event: WatchEvent,
        child: Child,
        guardian: Guardian,
        decision: Decision,
        rendered: Rendered,
    ) -> list[NewNotice]:
        return [
            NewNotice(
                event_id=event.event_id,
                guardian_id=guardian.id,
                child_id=child.id,
                channel=kind,
                recipient=to,
                kind=event.kind.value,
                station_id=event.station_id,
                school_id=event.school_id or child.school_id,
                event_time=event.time,
                subject=rendered.subject,
                text=rendered.text,
                status=_STATUS[decision.action],
                reason=decision.reason,
                due_at=decision.due_at,
                retry_key=str(uuid.uuid4()),
            )
            for kind, to in self._addresses(guardian).items()
        ]

    def _addresses(self, guardian: Guardian) -> dict[str, str]:
        """One address per channel kind (the first configured); warns about the rest."""
        out: dict[str, str] = {}
        for channel in guardian.channels:
            if channel.kind in out:
                log.warning("guardian %s: second %s channel ignored", guardian.id, channel.kind)
                continue
            out[channel.kind] = channel.to
        if not out:
            log.warning("guardian %s has no channel: notices are not stored", guardian.id)
        return out

    # --- broadcasts -----------------------------------------------------------------------

    def broadcast(
        self, scope: Literal["school", "ward"], scope_id: str, text_ja: str, text_en: str
    ) -> BroadcastResult:
        """Queue an emergency notice to every guardian of a school's or ward's children.

        Each guardian is notified once per channel, in their language, at once (quiet
        hours and rate limits do not apply). A ward's children are those of the schools
        whose ``School.ward`` is ``scope_id``.

        Raises:
            InvalidInputError: an unknown scope, school or ward, or an empty text.
            StoreUnavailableError, StoreRejectedError: the database failed.
        """
        if not text_ja.strip() or not text_en.strip():
            raise InvalidInputError("broadcast texts must not be empty")
        guardians = self._scope_guardians(scope, scope_id)
        now, broadcast_id = self._now(), f"broadcast:{uuid.uuid4().hex}"
        texts = {"ja": text_ja, "en": text_en}
        rows = []
        for guardian in guardians:
            name = scope_name(self._cfg, scope, scope_id, guardian.language)
            rendered = render_broadcast(name, texts[guardian.language], guardian.language)
            school_id = scope_id if scope == "school" else None
            rows += self._broadcast_rows(broadcast_id, guardian, school_id, rendered, now)
        with self._lock:
            conn = self._connection()
            with translate_errors("insert broadcast"), conn.transaction():
                stored = NotificationRepository(conn).insert(rows, now)
        self._count("broadcasts", *(["stored"] * len(stored)))
        self._worker.wake()
        return BroadcastResult(broadcast_id, len(guardians), len(stored))

    def _broadcast_rows(
        self,
        broadcast_id: str,
        guardian: Guardian,
        school_id: str | None,
        rendered: Rendered,
        now: datetime,
    ) -> list[NewNotice]:
        return [
            NewNotice(
                event_id=broadcast_id,
                guardian_id=guardian.id,
                child_id=None,
                channel=kind,
                recipient=to,
                kind=EMERGENCY_KIND,
                station_id=None,
                school_id=school_id,
                event_time=now,
                subject=rendered.subject,
                text=rendered.text,
                status="queued",
                reason="",
                due_at=now,
                retry_key=str(uuid.uuid4()),
            )
            for kind, to in self._addresses(guardian).items()
        ]

    def _scope_guardians(self, scope: str, scope_id: str) -> list[Guardian]:
        if scope == "school":
            schools = {s.id for s in self._cfg.schools if s.id == scope_id}
        elif scope == "ward":
            schools = {s.id for s in self._cfg.schools if s.ward == scope_id}
        else:
            raise InvalidInputError(f"broadcast scope must be 'school' or 'ward', not {scope!r}")
        if not schools:
            raise InvalidInputError(f"no school for {scope} {scope_id!r}")
        ids = [g for c in self._cfg.children if c.school_id in schools for g in c.guardian_ids]
        return [self._guardians[g] for g in dict.fromkeys(ids)]

    # --- queries --------------------------------------------------------------------------

    def delivery_counts(self, broadcast_id: str) -> dict[str, int]:
        """Rows of one broadcast (or any event id) per status, zeros included."""
        with self._lock:
            return NotificationRepository(self._connection()).counts(broadcast_id)

    def notices(
        self, *, event_id: str | None = None, guardian_id: str | None = None
    ) -> list[Notice]:
        """Stored notices in id order, filtered by event and/or guardian."""
        with self._lock:
            repo = NotificationRepository(self._connection())
            return repo.query(event_id=event_id, guardian_id=guardian_id)

    def handoff_latencies_s(self, since: datetime) -> list[float]:
        """Event -> first hand-off seconds for notices created since ``since`` (aware)."""
        with self._lock:
            return NotificationRepository(self._connection()).handoff_latencies_s(since)
