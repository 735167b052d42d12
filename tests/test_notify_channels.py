"""Delivery channels against real local servers: LINE push API, SMTP (aiosmtpd), webhook."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from app.services import free_port
from citytrack.config.watch import NotifyConfig
from hub.notify.channels import (
    DeliveryStatus,
    EmailChannel,
    LineChannel,
    OutgoingMessage,
    WebhookChannel,
    default_channels,
    sign_webhook,
    verify_webhook,
    webhook_payload,
)
from tests.notify_servers import LINE_TOKEN, WEBHOOK_SECRET, LineApi, SmtpSink, WebhookReceiver

SATO_LINE = "U" + "a" * 32
TEXT_JA = "Hanaさんが浪速区役所前を07:42に通過しました。"


def message(to: str = SATO_LINE, channel: str = "line", **kw: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "notice_id": 7,
        "channel": channel,
        "to": to,
        "subject": "見守り通知: Hanaさん",
        "text": TEXT_JA,
        "retry_key": str(uuid.uuid4()),
        "event_id": "c-hana:passed:st-ward-office:2026-04-13T22:42:05.000000+00:00",
        "kind": "passed",
        "guardian_id": "g-sato",
        "child_id": "c-hana",
        "station_id": "st-ward-office",
        "school_id": "naniwa-es",
        "event_time": datetime(2026, 4, 13, 22, 42, 5, tzinfo=UTC),
    }
    fields.update(kw)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


# --- LINE ---------------------------------------------------------------------------------


@pytest.fixture
def line_api() -> Iterator[LineApi]:
    with LineApi(LINE_TOKEN) as api:
        yield api


@pytest.fixture
def line(line_api: LineApi) -> Iterator[LineChannel]:
    channel = LineChannel(LINE_TOKEN, api_base=line_api.url, timeout_s=5)
    yield channel
    channel.close()


def test_line_push_is_the_documented_request(line_api: LineApi, line: LineChannel) -> None:
    msg = message()
    result = line.send(msg)
    assert result.status == DeliveryStatus.DELIVERED and result.http_status == 200
    assert line_api.violations == []
    (req,) = line_api.requests
    assert req.headers["X-Line-Retry-Key"] == msg.retry_key
    assert req.json() == {"to": SATO_LINE, "messages": [{"type": "text", "text": TEXT_JA}]}
    assert result.detail == line_api.accepted[msg.retry_key]


def test_line_retries_reuse_the_retry_key(line_api: LineApi, line: LineChannel) -> None:
    line_api.plan = [500, 429]
    msg = message()
    results = [line.send(msg) for _ in range(3)]
    assert [r.status for r in results] == ["retry", "retry", "delivered"]
    assert [r.http_status for r in results] == [500, 429, 200]
    assert {r.headers["X-Line-Retry-Key"] for r in line_api.requests} == {msg.retry_key}
    assert line_api.delivered == [(SATO_LINE, TEXT_JA)]


def test_line_409_after_an_accepted_request_is_success(
    line_api: LineApi, line: LineChannel
) -> None:
    line_api.plan = ["accept-then-500"]
    msg = message()
    first, second = line.send(msg), line.send(msg)
    assert (first.status, second.status, second.http_status) == ("retry", "delivered", 409)
    assert line_api.delivered == [(SATO_LINE, TEXT_JA)]  # once


def test_line_400_is_permanent_with_the_api_message(line_api: LineApi, line: LineChannel) -> None:
    line_api.plan = [400]
    result = line.send(message())
    assert result.status == DeliveryStatus.FAILED and result.http_status == 400
    assert "planned 400" in result.detail


def test_line_bad_token_is_permanent(line_api: LineApi) -> None:
    channel = LineChannel("wrong", api_base=line_api.url)
    try:
        result = channel.send(message())
    finally:
        channel.close()
    assert result.status == DeliveryStatus.FAILED and "Authentication failed" in result.detail


def test_line_unreachable_is_retryable() -> None:
    channel = LineChannel(LINE_TOKEN, api_base=f"http://127.0.0.1:{free_port()}", timeout_s=2)
    try:
        result = channel.send(message())
    finally:
        channel.close()
    assert result.status == DeliveryStatus.RETRY and "ConnectError" in result.detail


# --- e-mail -------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def test_japanese_mail_arrives_intact(smtp: SmtpSink) -> None:
    channel = EmailChannel("127.0.0.1", smtp.port, "mimamori@city.example")
    msg = message(to="ito@example.jp", channel="email")
    result = channel.send(msg)
    assert result.status == DeliveryStatus.DELIVERED
    (mail,) = smtp.messages
    assert mail["Subject"] == "見守り通知: Hanaさん"
    assert mail.get_content().strip() == TEXT_JA
    assert mail.get_content_charset() == "utf-8"
    assert (mail["From"], mail["To"]) == ("mimamori@city.example", "ito@example.jp")
    assert mail["Message-ID"] == f"<{msg.retry_key}@city.example>" == result.detail


def test_a_retried_mail_keeps_its_message_id(smtp: SmtpSink) -> None:
    channel = EmailChannel("127.0.0.1", smtp.port, "mimamori@city.example")
    msg = message(to="ito@example.jp", channel="email")
    channel.send(msg)
    channel.send(msg)
    assert len({m["Message-ID"] for m in smtp.messages}) == 1 and len(smtp.messages) == 2


@pytest.mark.parametrize(
    ("reply", "status"),
    [("550 5.1.1 no such user", "failed"), ("450 4.2.1 mailbox busy", "retry")],
)
def test_refused_recipient(smtp: SmtpSink, reply: str, status: str) -> None:
    smtp.handler.refuse["gone@example.jp"] = reply
    channel = EmailChannel("127.0.0.1", smtp.port, "mimamori@city.example")
    result = channel.send(message(to="gone@example.jp", channel="email"))
    assert result.status == status and reply.split()[0] in result.detail
    assert smtp.messages == []


def test_smtp_unreachable_is_retryable() -> None:
    channel = EmailChannel("127.0.0.1", free_port(), "mimamori@city.example", timeout_s=2)
    result = channel.send(message(to="ito@example.jp", channel="email"))
    assert result.status == DeliveryStatus.RETRY


# --- webhook ------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(WEBHOOK_SECRET) as r:
        yield r


@pytest.fixture
def webhook() -> Iterator[WebhookChannel]:
    channel = WebhookChannel(WEBHOOK_SECRET, timeout_s=5)
    yield channel
    channel.close()


def test_webhook_is_signed_and_verified(receiver: WebhookReceiver, webhook: WebhookChannel) -> None:
    msg = message(to=receiver.url + "/mimamori", channel="webhook")
    assert webhook.send(msg).status == DeliveryStatus.DELIVERED
    (req,) = receiver.verified
    assert req.path == "/mimamori" and req.headers["X-Citytrack-Delivery"] == msg.retry_key
    assert req.headers["X-Citytrack-Signature"].startswith("sha256=")
    assert req.json() == {**webhook_payload(msg), "time": "2026-04-13T22:42:05+00:00"}
    assert req.json()["text"] == TEXT_JA and req.json()["kind"] == "passed"


def test_tampered_stale_or_foreign_webhooks_fail_verification(
    receiver: WebhookReceiver, webhook: WebhookChannel
) -> None:
    webhook.send(message(to=receiver.url, channel="webhook"))
    (req,) = receiver.verified
    ts, sig = req.headers["X-Citytrack-Timestamp"], req.headers["X-Citytrack-Signature"]
    assert verify_webhook(WEBHOOK_SECRET, ts, req.body, sig)
    assert verify_webhook(WEBHOOK_SECRET, ts, req.body.decode(), sig)  # str body: same bytes
    tampered = json.dumps({**req.json(), "child_id": "c-mio"}, ensure_ascii=False).encode()
    assert not verify_webhook(WEBHOOK_SECRET, ts, tampered, sig)
    assert not verify_webhook(WEBHOOK_SECRET, int(ts) + 1, req.body, sig)
    assert not verify_webhook("another secret", ts, req.body, sig)
    assert not verify_webhook(WEBHOOK_SECRET, ts, req.body, sig, now=int(ts) + 301)
    assert verify_webhook(WEBHOOK_SECRET, ts, req.body, sig, now=int(ts) + 299)
    assert not verify_webhook(WEBHOOK_SECRET, "yesterday", req.body, sig)


def test_signature_is_hmac_of_timestamp_dot_body() -> None:
    # Independent check: openssl dgst -sha256 -hmac k <<< "1700000000.{}" (no newline).
    expected = "sha256=" + __import__("hmac").new(b"k", b"1700000000.{}", "sha256").hexdigest()
    assert sign_webhook("k", 1700000000, b"{}") == expected


def test_webhook_receiver_answers_decide_retry_or_failure(receiver: WebhookReceiver) -> None:
    forged = WebhookChannel("not the secret")
    good = WebhookChannel(WEBHOOK_SECRET, clock=time.time)
    try:
        assert forged.send(message(to=receiver.url, channel="webhook")).status == "failed"
        receiver.plan = [503, 410]
        assert good.send(message(to=receiver.url, channel="webhook")).status == "retry"
        assert good.send(message(to=receiver.url, channel="webhook")).status == "failed"
    finally:
        forged.close()
        good.close()


def test_default_channels_follow_the_environment() -> None:
    cfg = NotifyConfig()
    bare = default_channels(cfg, environ={})
    full = default_channels(cfg, environ={cfg.line_token_env: "tok", cfg.webhook_secret_env: "sec"})
    try:
        assert set(bare) == {"email"} and set(full) == {"email", "line", "webhook"}
    finally:
        for channel in (*bare.values(), *full.values()):
            channel.close()
