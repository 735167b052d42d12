"""Delivery channels: LINE push, e-mail over SMTP, signed webhook (thin shells).

Each channel has ``send(message) -> DeliveryResult`` and ``close()``. ``send`` never
raises for a delivery problem: it answers ``delivered``, ``retry`` (worth trying again:
timeouts, refused connections, HTTP 429 and 5xx, SMTP 4xx) or ``failed`` (trying again
cannot help: other HTTP 4xx, SMTP 5xx), with the reason in ``detail``. Retrying is the
caller's job; every attempt of one notice carries the same ``retry_key`` so the far end
can recognise a repeat.

- ``LineChannel``: ``POST {api_base}/v2/bot/message/push`` with ``Authorization: Bearer``,
  ``X-Line-Retry-Key`` (a UUID) and ``{"to": user_id, "messages": [{"type": "text",
  "text": ...}]}``. LINE accepts a retry key once; a repeat answers 409 with
  ``X-Line-Accepted-Request-Id``, which means the first attempt was delivered
  (https://developers.line.biz/en/docs/messaging-api/retrying-api-request/).
- ``EmailChannel``: one SMTP session per message (``smtplib``), UTF-8 subject and body,
  ``Message-ID: <{retry_key}@{sender domain}>`` so a retried mail is recognisable.
- ``WebhookChannel``: ``POST`` of the event as JSON, signed Stripe-style.

Verifying a webhook (receiver side)::

    timestamp = request.headers["X-Citytrack-Timestamp"]   # unix seconds
    signature = request.headers["X-Citytrack-Signature"]   # "sha256=<hex>"
    body = request.raw_body                                # the exact bytes received
    ok = verify_webhook(secret, timestamp, body, signature, tolerance_s=300)

The signature is ``HMAC-SHA256(secret, f"{timestamp}.{body}")`` over the raw bytes, so
the receiver must verify before parsing the JSON. A timestamp more than ``tolerance_s``
from the receiver's clock is refused (replays); ``X-Citytrack-Delivery`` (the retry
key) is the same on every attempt of one notice, for the receiver to drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from enum import StrEnum
from typing import Any, Protocol

import httpx

from citytrack.config.watch import NotifyConfig
from hub.notify.templates import LINE_TEXT_MAX

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # transient: try again later with the same retry key
    FAILED = "failed"  # permanent: do not try again


@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery attempt achieved; ``detail`` is the error text or a provider id."""

    status: DeliveryStatus
    detail: str = ""
    http_status: int | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    """One notice ready for one channel, with the event it is about.

    ``retry_key`` is a UUID fixed when the notice was stored: identical on every attempt.
    ``event_time`` is when the event happened (aware, UTC).
    """

    notice_id: int
    channel: str
    to: str
    subject: str
    text: str
    retry_key: str
    event_id: str
    kind: str
    guardian_id: str
    child_id: str | None
    station_id: str | None
    school_id: str | None
    event_time: datetime


class Channel(Protocol):
    """A way to reach guardians."""

    def send(self, message: OutgoingMessage) -> DeliveryResult: ...

    def close(self) -> None: ...


def _http_result(response: httpx.Response, detail: str) -> DeliveryResult:
    code = response.status_code
    if 200 <= code < 300:
        return DeliveryResult(DeliveryStatus.DELIVERED, detail, code)
    retryable = code in (408, 429) or code >= 500
    status = DeliveryStatus.RETRY if retryable else DeliveryStatus.FAILED
    return DeliveryResult(status, f"HTTP {code}: {detail}", code)


def _error_text(response: httpx.Response) -> str:
    """LINE-style ``{"message": ..., "details": [{"message", "property"}]}`` or raw text."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if not isinstance(body, dict) or "message" not in body:
        return response.text[:500]
    parts = [str(body["message"])]
    for item in body.get("details") or []:
        if isinstance(item, dict):
            parts.append(f"{item.get('property', '')}: {item.get('message', '')}")
    return "; ".join(parts)


class LineChannel:
    """LINE Messaging API push messages (text, up to 5000 characters)."""

    def __init__(
        self,
        token: str,
        *,
        api_base: str = "https://api.line.me",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not token:
            raise ValueError("LINE channel access token is empty")
        self._client = httpx.Client(
            base_url=api_base.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Push ``message.text`` to the LINE user ``message.to``."""
        body = {
            "to": message.to,
            "messages": [{"type": "text", "text": message.text[:LINE_TEXT_MAX]}],
        }
        headers = {"Content-Type": "application/json", "X-Line-Retry-Key": message.retry_key}
        try:
            response = self._client.post(
                "/v2/bot/message/push",
                content=json.dumps(body, ensure_ascii=False).encode(),
                headers=headers,
            )
        except httpx.TransportError as exc:
            return DeliveryResult(DeliveryStatus.RETRY, f"{type(exc).__name__}: {exc}")
        accepted = response.headers.get("X-Line-Accepted-Request-Id")
        if response.status_code == 409 and accepted:
            return DeliveryResult(DeliveryStatus.DELIVERED, f"already accepted: {accepted}", 409)
        if response.is_success:
            return _http_result(response, response.headers.get("X-Line-Request-Id", ""))
        return _http_result(response, _error_text(response))

    def close(self) -> None:
        self._client.close()


class EmailChannel:
    """Plain-text e-mail through one SMTP server (no authentication, no TLS)."""

    def __init__(
        self, host: str, port: int, sender: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._host, self._port, self._sender, self._timeout_s = host, port, sender, timeout_s
        self._domain = sender.rpartition("@")[2] or "citytrack.invalid"

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The e-mail for ``message`` (UTF-8; Message-ID from the retry key)."""
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = f"<{message.retry_key}@{self._domain}>"
        mail["X-Citytrack-Event"] = message.event_id
        mail.set_content(message.text, charset="utf-8")
        return mail

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Hand the e-mail to the SMTP server; its 4xx replies are retryable, 5xx final."""
        mail = self.build(message)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            status = DeliveryStatus.FAILED if all(c >= 500 for c in codes) else DeliveryStatus.RETRY
            return DeliveryResult(status, f"recipient refused: {exc.recipients}")
        except smtplib.SMTPResponseException as exc:
            status = DeliveryStatus.FAILED if exc.smtp_code >= 500 else DeliveryStatus.RETRY
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            return DeliveryResult(status, f"SMTP {exc.smtp_code}: {text}")
        except (smtplib.SMTPException, OSError) as exc:
            return DeliveryResult(DeliveryStatus.RETRY, f"{type(exc).__name__}: {exc}")
        return DeliveryResult(DeliveryStatus.DELIVERED, mail["Message-ID"])

    def close(self) -> None:
        """Nothing to release: one SMTP session per message."""


def sign_webhook(secret: str, timestamp: str | int, body: bytes) -> str:
    """``"sha256=" + hex(HMAC-SHA256(secret, f"{timestamp}.".encode() + body))``."""
    signed = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_webhook(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    signature: str,
    tolerance_s: float = 300,
    *,
    now: float | None = None,
) -> bool:
    """Whether a webhook request is authentic and fresh.

    Args:
        secret: the shared secret.
        timestamp: the ``X-Citytrack-Timestamp`` header, unix seconds.
        body: the raw request body (a ``str`` is taken as its UTF-8 bytes).
        signature: the ``X-Citytrack-Signature`` header, ``sha256=<hex>``.
        tolerance_s: largest accepted distance between timestamp and ``now``, s.
        now: the receiver's clock, unix seconds (default ``time.time()``).

    Returns:
        False for a bad signature, a malformed or stale timestamp; never raises.
    """
    try:
        sent = int(str(timestamp))
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance_s:
        return False
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign_webhook(secret, sent, raw), signature)


def webhook_payload(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON object a webhook receives: the event's fields plus ``text``."""
    return {
        "notice_id": message.notice_id,
        "event_id": message.event_id,
        "kind": message.kind,
        "child_id": message.child_id,
        "station_id": message.station_id,
        "school_id": message.school_id,
        "time": message.event_time.isoformat(),
        "guardian_id": message.guardian_id,
        "text": message.text,
    }


class WebhookChannel:
    """Signed JSON POSTs to the guardian's URL (``message.to``); redirects not followed."""

    def __init__(
        self,
        secret: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("webhook secret is empty")
        self._secret, self._clock = secret, clock
        self._client = httpx.Client(timeout=timeout_s)

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        """POST the payload; 2xx delivered, 408/429/5xx retryable, anything else final."""
        body = json.dumps(webhook_payload(message), ensure_ascii=False, sort_keys=True).encode()
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Citytrack-Timestamp": timestamp,
            "X-Citytrack-Signature": sign_webhook(self._secret, timestamp, body),
            "X-Citytrack-Delivery": message.retry_key,
        }
        try:
            response = self._client.post(message.to, content=body, headers=headers)
        except httpx.TransportError as exc:
            return DeliveryResult(DeliveryStatus.RETRY, f"{type(exc).__name__}: {exc}")
        return _http_result(response, response.text[:500] if not response.is_success else "")

    def close(self) -> None:
        self._client.close()


def default_channels(
    cfg: NotifyConfig, environ: Mapping[str, str] | None = None
) -> dict[str, Channel]:
    """The channels the configuration allows, keyed by ``Channel.kind`` in the config.

    E-mail is always there; LINE only when ``cfg.line_token_env`` is set in ``environ``,
    webhooks only when ``cfg.webhook_secret_env`` is (a notice for a missing channel
    fails with that reason).
    """
    env = os.environ if environ is None else environ
    channels: dict[str, Channel] = {
        "email": EmailChannel(cfg.smtp_host, cfg.smtp_port, cfg.smtp_from)
    }
    if env.get(cfg.line_token_env):
        channels["line"] = LineChannel(env[cfg.line_token_env], api_base=cfg.line_api_base)
    else:
        log.info("no LINE token in $%s: LINE notices will fail", cfg.line_token_env)
    if env.get(cfg.webhook_secret_env):
        channels["webhook"] = WebhookChannel(env[cfg.webhook_secret_env])
    else:
        log.info("no webhook secret in $%s: webhook notices will fail", cfg.webhook_secret_env)
    return channels
