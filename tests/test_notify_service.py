# ruff: noqa: RUF001  (Japanese text uses full-width brackets on purpose)
"""NotificationService on a real PostgreSQL with real LINE, SMTP and webhook servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from analytics.watch.events import WatchEvent, WatchEventKind
from citytrack.config.watch import WatchConfig
from hub.notify.channels import Channel, EmailChannel, LineChannel, WebhookChannel
from hub.notify.service import NotificationService
from hub.storage import schema
from hub.storage.notifications import Notice, NotificationRepository
from tests.notify_servers import (
    LINE_TOKEN,
    WEBHOOK_SECRET,
    LineApi,
    SmtpSink,
    WebhookReceiver,
    watch_config,
)
from tests.waiting import wait_until

TOKYO = ZoneInfo("Asia/Tokyo")
K = WatchEventKind
SATO_LINE = "U" + "a" * 32


@dataclass
class Servers:
    line: LineApi
    smtp: SmtpSink
    webhook: WebhookReceiver
    channels: dict[str, Channel]


@pytest.fixture
def db(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.upgrade(conn, timescale=False)
    return pg_url


@pytest.fixture
def servers() -> Iterator[Servers]:
    with (
        LineApi(LINE_TOKEN) as line,
        SmtpSink() as smtp,
        WebhookReceiver(WEBHOOK_SECRET) as webhook,
    ):
        channels: dict[str, Channel] = {
            "line": LineChannel(LINE_TOKEN, api_base=line.url, timeout_s=5),
            "email": EmailChannel("127.0.0.1", smtp.port, "mimamori@city.example"),
            "webhook": WebhookChannel(WEBHOOK_SECRET, timeout_s=5),
        }
        yield Servers(line, smtp, webhook, channels)
        for channel in channels.values():
            channel.close()


@pytest.fixture
def make(db: str, servers: Servers) -> Iterator[Callable[..., NotificationService]]:
    """Builds services on the test database (stopped afterwards)."""
    made: list[NotificationService] = []

    def build(cfg: WatchConfig | None = None, **kw: Any) -> NotificationService:
        cfg = cfg or watch_config(servers.webhook.url + "/hook", retry_base_s=0.05)
        kw.setdefault("poll_interval_s", 0.05)
        service = NotificationService(cfg, db, channels=servers.channels, **kw)
        made.append(service)
        return service

    yield build
    for service in made:
        service.stop()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def jst(hhmm: str, day: int = 14) -> datetime:
    return datetime.fromisoformat(f"2026-04-{day:02d}T{hhmm}:00").replace(tzinfo=TOKYO)


def ev(kind: WatchEventKind, child: str, when: datetime, station: str | None = "st-ward-office"):
    return WatchEvent.create(kind, child, when, station_id=station)


def rows(db: str, *, event_id: str | None = None, guardian_id: str | None = None) -> list[Notice]:
    with psycopg.connect(db, autocommit=True) as conn:
        return NotificationRepository(conn).query(event_id=event_id, guardian_id=guardian_id)


def test_each_guardian_gets_their_childs_notice_on_their_channel(
    make: Callable[..., NotificationService], servers: Servers, db: str
) -> None:
    service = make()
    now = datetime.now(UTC)
    service.start()
    service.notify(
        [
            ev(K.PASSED, "c-hana", now - timedelta(seconds=3)),
            ev(K.ARRIVED_SCHOOL, "c-yuto", now - timedelta(seconds=2), "gate-naniwa"),
            ev(K.LEFT_AREA, "c-kenta", now - timedelta(seconds=1), "st-crossing"),
        ]
    )
    assert service.wait_idle(10)
    hhmm = lambda s: (now - timedelta(seconds=s)).astimezone(TOKYO).strftime("%H:%M")  # noqa: E731
    assert servers.line.delivered == [
        (SATO_LINE, f"Hanaさんが浪速区役所前を{hhmm(3)}に通過しました。")
    ]
    (mail,) = servers.smtp.messages
    assert mail["To"] == "ito@example.jp"
    assert mail.get_content().strip() == f"Yuto arrived at Naniwa Elementary School at {hhmm(2)}."
    (hook,) = servers.webhook.verified
    assert hook.json()["child_id"] == "c-kenta" and hook.json()["kind"] == "left_area"
    assert (
        hook.json()["text"] == f"Kentaさんが千日前交差点から見守りエリアを出ました（{hhmm(1)}）。"
    )
    stored = rows(db)
    assert [r.status for r in stored] == ["delivered"] * 3
    for r in stored:
        assert r.handed_at is not None and r.delivered_at is not None
        assert r.event_time < r.handed_at <= r.delivered_at
    latencies = service.handoff_latencies_s(now - timedelta(minutes=1))
    assert len(latencies) == 3 and all(0 < s < 10 for s in latencies)
    assert service.counters["delivered"] == 3 and service.counters["events"] == 3


def test_events_of_a_child_reach_only_that_childs_guardians(
    make: Callable[..., NotificationService], db: str
) -> None:
    service = make()
    cfg = watch_config()
    base = jst("07:00")
    events = [
        ev(K.PASSED, child.id, base + timedelta(minutes=10 * i))
        for i, child in enumerate(cfg.children)
    ]
    service.notify(events)
    guardians_of = {c.id: set(c.guardian_ids) for c in cfg.children}
    stored = rows(db)
    assert {(r.child_id, r.guardian_id) for r in stored} == {
        (c, g) for c, gs in guardians_of.items() for g in gs
    }
    assert {r.recipient for r in rows(db, guardian_id="g-sato")} == {SATO_LINE}
    sora = rows(db, event_id=events[-1].event_id)  # two guardians: one notice each
    assert sorted((r.guardian_id, r.channel) for r in sora) == [
        ("g-ito", "email"),
        ("g-tanaka", "webhook"),
    ]
    assert [r.text for r in sora if r.guardian_id == "g-ito"] == [
        "Sora passed the Naniwa ward office gate at 07:40."
    ]


def test_reprocessing_the_same_events_inserts_nothing(
    make: Callable[..., NotificationService], db: str
) -> None:
    events = [ev(K.PASSED, "c-hana", jst("07:42")), ev(K.PASSED, "c-sora", jst("07:43"))]
    first = make()
    first.notify(events)
    assert len(rows(db)) == 3
    first.notify(events)
    restarted = make()  # fresh policy state: the table's unique key still holds
    restarted.notify(events)
    restarted.notify(list(reversed(events)))
    assert len(rows(db)) == 3
    assert restarted.counters["already_stored"] == 6 and "stored" not in restarted.counters


def test_neighbouring_stations_give_one_notice(
    make: Callable[..., NotificationService], db: str
) -> None:
    service = make()
    service.notify(
        [
            ev(K.PASSED, "c-hana", jst("07:42") + timedelta(seconds=3), "st-ward-office"),
            ev(K.PASSED, "c-hana", jst("07:42") + timedelta(seconds=9), "st-crossing"),
        ]
    )
    assert [(r.station_id, r.status, r.reason) for r in rows(db)] == [
        ("st-ward-office", "queued", ""),
        ("st-crossing", "dropped", "dedup_window"),
    ]


def test_rate_limit_drops_and_counts_but_not_arrived_goes(
    make: Callable[..., NotificationService], servers: Servers, db: str
) -> None:
    cfg = watch_config(servers.webhook.url, max_per_child_per_hour=2)
    service = make(cfg)
    walk = [ev(K.PASSED, "c-hana", jst(f"07:{m:02d}"), f"st-{m}") for m in (0, 10, 20, 30)]
    service.notify([*walk, ev(K.NOT_ARRIVED, "c-hana", jst("08:15"), None)])
    statuses = [(r.kind, r.status, r.reason) for r in rows(db)]
    assert statuses == [
        ("passed", "queued", ""),
        ("passed", "queued", ""),
        ("passed", "dropped", "rate_limited"),
        ("passed", "dropped", "rate_limited"),
        ("not_arrived", "queued", ""),
    ]
    assert service.counters["rate_limited"] == 2 and service.counters["dropped"] == 2


def test_quiet_hours_defer_until_their_end_and_urgent_goes_now(
    make: Callable[..., NotificationService], servers: Servers, db: str
) -> None:
    cfg = watch_config(servers.webhook.url, quiet_start="21:00", quiet_end="06:30")
    now = Clock(jst("22:30"))
    service = make(cfg, clock=now)
    service.start()
    left = ev(K.LEFT_AREA, "c-hana", jst("22:29"), "st-crossing")
    missing = ev(K.NOT_ARRIVED, "c-mio", jst("22:29"), None)  # e.g. cram school
    service.notify([left, missing])
    assert service.wait_idle(10)
    assert [t for _, t in servers.line.delivered] == [
        "Mioさんは22:29の時点でNaniwa Elementary Schoolに到着していません。"
    ]
    (deferred,) = rows(db, event_id=left.event_id)
    assert (deferred.status, deferred.due_at) == ("deferred", jst("06:30", day=15))
    now.now = jst("06:31", day=15)
    wait_until(
        lambda: rows(db, event_id=left.event_id)[0].status == "delivered",
        10,
        "the deferred notice delivered after quiet hours",
        every_s=0.02,  # each look is a database query
    )
    assert len(servers.line.delivered) == 2


def test_line_retry_reuses_the_key_until_delivered(
    make: Callable[..., NotificationService], servers: Servers, db: str
) -> None:
    servers.line.plan = [500, 429]
    service = make()
    service.start()
    service.notify([ev(K.PASSED, "c-hana", datetime.now(UTC))])
    assert service.wait_idle(10)
    (notice,) = rows(db)
    assert (notice.status, notice.attempts) == ("delivered", 3)
    assert {r.headers["X-Line-Retry-Key"] for r in servers.line.requests} == {notice.retry_key}
    assert len(servers.line.requests) == 3 and len(servers.line.delivered) == 1
    assert service.counters["retried"] == 2


def test_line_400_is_recorded_as_failed_with_its_message(
    make: Callable[..., NotificationService], servers: Servers, db: str
) -> None:
    servers.line.plan = [400]
    service = make()
    service.start()
    service.notify([ev(K.PASSED, "c-hana", datetime.now(UTC))])
    assert service.wait_idle(10)
    (notice,) = rows(db)
    assert (notice.status, notice.attempts) == ("failed", 1)
    assert notice.last_error == "HTTP 400: planned 400"
    assert len(servers.line.requests) == 1


def test_retries_stop_after_max_attempts(
    make: Callable[..., NotificationService], servers: Servers, db: str
) -> None:
    servers.webhook.plan = [503] * 10
    cfg = watch_config(servers.webhook.url, retry_base_s=0.02, max_attempts=3)
    service = make(cfg)
    service.start()
    service.notify([ev(K.PASSED, "c-kenta", datetime.now(UTC))])
    assert service.wait_idle(10)
    (notice,) = rows(db)
    assert (notice.status, notice.attempts) == ("failed", 3)
    assert notice.last_error is not None and "gave up after 3 attempts" in notice.last_error
    assert len(servers.webhook.requests) == 3


def test_notices_left_at_shutdown_go_out_on_the_next_start(
    make: Callable[..., NotificationService], servers: Servers, db: str
) -> None:
    first = make(lease_s=0.2)
    first.notify([ev(K.PASSED, "c-hana", jst("07:42")), ev(K.PASSED, "c-yuto", jst("07:43"))])
    with psycopg.connect(db, autocommit=True) as conn:  # a hub that died mid-send
        (claimed,) = NotificationRepository(conn).claim_due(datetime.now(UTC), 1, lease_s=0.2)
    first.stop()
    second = make()
    second.start()
    wait_until(
        lambda: [r.status for r in rows(db)] == ["delivered", "delivered"],
        10,
        "both notices left by the first service delivered by the second",
        every_s=0.02,  # each look is a database query
    )
    (line_req,) = servers.line.requests
    assert claimed.channel == "line" and line_req.headers["X-Line-Retry-Key"] == claimed.retry_key
    assert len(servers.smtp.messages) == 1


def test_broadcast_by_ward_and_by_school(
    make: Callable[..., NotificationService], servers: Servers, db: str
) -> None:
    cfg = watch_config(servers.webhook.url, quiet_start="21:00", quiet_end="06:30")
    service = make(cfg, clock=Clock(jst("23:00")))  # quiet hours do not hold emergencies
    service.start()
    naniwa = service.broadcast("ward", "Naniwa", "避難所を開設しました。", "Shelters are open.")
    chuo = service.broadcast("school", "chuo-es", "休校します。", "School is closed today.")
    assert (naniwa.guardians, naniwa.queued) == (2, 2)  # Sato (Hana and Mio) once, Ito
    assert (chuo.guardians, chuo.queued) == (2, 2)  # Tanaka, Ito (Sora)
    assert service.wait_idle(10)
    for result in (naniwa, chuo):
        assert service.delivery_counts(result.broadcast_id) == {
            "queued": 0, "delivered": 2, "failed": 0, "dropped": 0, "deferred": 0,
        }  # fmt: skip
    assert servers.line.delivered == [(SATO_LINE, "【緊急・Naniwa区】避難所を開設しました。")]
    assert sorted(m.get_content().strip() for m in servers.smtp.messages) == [
        "[Emergency: Chuo Elementary School] School is closed today.",
        "[Emergency: Naniwa Ward] Shelters are open.",
    ]
    assert [h.json()["text"] for h in servers.webhook.verified] == [
        "【緊急・Chuo Elementary School】休校します。"
    ]
    with pytest.raises(ValueError, match="Kita"):
        service.broadcast("ward", "Kita", "テスト", "test")


def test_broadcast_failures_are_counted(
    make: Callable[..., NotificationService], servers: Servers
) -> None:
    servers.line.plan = [403]
    service = make()
    service.start()
    result = service.broadcast("school", "naniwa-es", "テスト", "test")
    assert service.wait_idle(10)
    assert service.delivery_counts(result.broadcast_id)["failed"] == 1
    assert service.delivery_counts(result.broadcast_id)["delivered"] == 1
