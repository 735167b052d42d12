"""The delivery worker: a thread that sends due notices and records every attempt.

Each round claims up to ``batch_size`` due rows (``NotificationRepository.claim_due``,
leased for ``lease_s``), hands each to its channel and records the outcome:

    delivered             status delivered, delivered_at
    retry, attempts left  status queued, due after retry_base_s * 2^(attempts-1) (<= 1 h)
    retry, no attempts    status failed, "(gave up after N attempts)"
    failed                status failed with the channel's reason

``handed_at`` keeps the first hand-off to the channel. A notice whose channel kind is not
configured fails with that reason. Database errors (and anything unexpected) are logged
and the loop backs off with jitter and goes on; the rows stay in the table.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import psycopg

from citytrack.retry import Backoff
from hub.notify.channels import Channel, DeliveryResult, DeliveryStatus, OutgoingMessage
from hub.storage.db import Connection
from hub.storage.notifications import Notice, NotificationRepository

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 3600.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def retry_delay_s(attempts: int, base_s: float) -> float:
    """Wait after the ``attempts``-th failed attempt: base, 2 base, 4 base ... <= 1 h, s."""
    return float(min(base_s * 2 ** (attempts - 1), MAX_RETRY_DELAY_S))


def outgoing(notice: Notice) -> OutgoingMessage:
    """What a channel gets for a stored notice."""
    return OutgoingMessage(
        notice_id=notice.id,
        channel=notice.channel,
        to=notice.recipient,
        subject=notice.subject,
        text=notice.text,
        retry_key=notice.retry_key,
        event_id=notice.event_id,
        kind=notice.kind,
        guardian_id=notice.guardian_id,
        child_id=notice.child_id,
        station_id=notice.station_id,
        school_id=notice.school_id,
        event_time=notice.event_time,
    )


class DeliveryWorker:
    """Sends due notices from the ``notifications`` table (see the module docstring).

    Args:
        db_url: PostgreSQL URL; the worker holds its own connection.
        channels: channel per kind.
        max_attempts: attempts before a retryable failure becomes final.
        retry_base_s: delay after the first failed attempt, doubling, s.
        clock: current time, aware.
        count: called with counter names (``delivered``, ``retried``, ``failed``,
            ``worker_errors``).
        batch_size: notices claimed per round.
        poll_interval_s: idle wait between scans, s (``wake()`` cuts it short).
        lease_s: how long a claimed notice is reserved, s.
    """

    def __init__(
        self,
        db_url: str,
        channels: Mapping[str, Channel],
        *,
        max_attempts: int,
        retry_base_s: float,
        clock: Callable[[], datetime] = utc_now,
        count: Callable[..., None] = lambda *names: None,
        batch_size: int = 50,
        poll_interval_s: float = 0.5,
        lease_s: float = 60.0,
    ) -> None:
        self._db_url, self._channels, self._clock, self._count = db_url, channels, clock, count
        self._max_attempts, self._retry_base_s = max_attempts, retry_base_s
        self._batch_size, self._poll_s, self._lease_s = batch_size, poll_interval_s, lease_s
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self.busy = False  # inside a round (claimed notices in hand)

    def start(self) -> None:
        """Start the thread (no-op when running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="notify-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the notice in hand; claimed notices not yet tried are given back."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wake(self) -> None:
        """New notices were stored: scan now instead of at the next poll."""
        self._wake.set()

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def _run(self) -> None:
        conn: Connection | None = None
        backoff = Backoff()
        while not self._stopping.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = psycopg.connect(self._db_url, autocommit=True)
                worked = self.deliver_due(NotificationRepository(conn))
                backoff.reset()
            except Exception as exc:  # supervisor: log, back off with jitter, go on
                delay = backoff.next_delay()
                log.warning("notification delivery: %s; retrying in %.1f s", exc, delay)
                self._count("worker_errors")
                self._stopping.wait(delay)
                continue
            if not worked:
                self._wake.wait(self._poll_s)
                self._wake.clear()
        if conn is not None:
            conn.close()

    def deliver_due(self, repo: NotificationRepository) -> bool:
        """Claim and deliver one batch; True when there was anything to do.

        Raises:
            StoreUnavailableError, StoreRejectedError: the database failed.
        """
        self.busy = True
        try:
            notices = repo.claim_due(self._now(), self._batch_size, self._lease_s)
            for i, notice in enumerate(notices):
                if self._stopping.is_set():
                    repo.release([n.id for n in notices[i:]], self._now())
                    break
                self._deliver(repo, notice)
            return bool(notices)
        finally:
            self.busy = False

    def _deliver(self, repo: NotificationRepository, notice: Notice) -> None:
        channel = self._channels.get(notice.channel)
        handed_at = self._now()
        if channel is None:
            result = DeliveryResult(DeliveryStatus.FAILED, f"no {notice.channel} channel")
        else:
            try:
                result = channel.send(outgoing(notice))
            except Exception as exc:  # a channel bug must not lose the notice: retry it
                log.exception("channel %s raised on notice %s", notice.channel, notice.id)
                result = DeliveryResult(DeliveryStatus.RETRY, f"{type(exc).__name__}: {exc}")
        self._record(repo, notice, result, handed_at)

    def _record(
        self,
        repo: NotificationRepository,
        notice: Notice,
        result: DeliveryResult,
        handed_at: datetime,
    ) -> None:
        attempts, now = notice.attempts + 1, self._now()
        if result.status == DeliveryStatus.DELIVERED:
            repo.record_attempt(
                notice.id, status="delivered", handed_at=handed_at, delivered_at=now
            )
            self._count("delivered")
            return
        if result.status == DeliveryStatus.RETRY and attempts < self._max_attempts:
            due = now + timedelta(seconds=retry_delay_s(attempts, self._retry_base_s))
            repo.record_attempt(
                notice.id, status="queued", handed_at=handed_at, error=result.detail, next_due=due
            )
            self._count("retried")
            return
        error = result.detail
        if result.status == DeliveryStatus.RETRY:
            error = f"{error} (gave up after {attempts} attempts)"
        repo.record_attempt(notice.id, status="failed", handed_at=handed_at, error=error)
        log.warning("notice %s to %s failed: %s", notice.id, notice.guardian_id, error)
        self._count("failed")
