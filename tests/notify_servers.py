"""Real local servers for the notification tests: a LINE push API, an SMTP sink, a webhook
receiver; and a small child-watch configuration.

``LineApi`` checks each request as the documented endpoint would
(https://developers.line.biz/en/reference/messaging-api/#send-push-message): POST
``/v2/bot/message/push``, ``Authorization: Bearer <token>``, ``Content-Type:
application/json``, ``X-Line-Retry-Key`` a UUID, body ``{"to", "messages": [1..5 text
messages]}``; and it honours retry keys: a key already accepted answers 409 with
``X-Line-Accepted-Request-Id``.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from app.services import free_port
from citytrack.config.watch import (
    Channel,
    Child,
    Guardian,
    NotifyConfig,
    School,
    Station,
    WatchConfig,
)
from hub.notify.channels import verify_webhook

LINE_TOKEN = "test-channel-token"
WEBHOOK_SECRET = "whsec-test-secret"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Server:
    """A ThreadingHTTPServer on loopback in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.requests: list[Recorded] = []
        self.plan: list[int | str] = []  # next responses; empty: success
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def next_planned(self) -> int | str | None:
        with self.lock:
            return self.plan.pop(0) if self.plan else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    def _record(self) -> Recorded:
        length = int(self.headers.get("Content-Length", "0"))
        rec = Recorded(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
        with self.owner.lock:
            self.owner.requests.append(rec)
        return rec

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def _line_violation(rec: Recorded) -> str:
    """Why the documented API would reject ``rec`` ("" if it would not)."""
    h = {k.lower(): v for k, v in rec.headers.items()}
    if rec.method != "POST" or rec.path != "/v2/bot/message/push":
        return f"wrong endpoint {rec.method} {rec.path}"
    if h.get("authorization") != f"Bearer {LINE_TOKEN}":
        return "Authentication failed"
    if h.get("content-type", "").split(";")[0].strip() != "application/json":
        return f"bad content type {h.get('content-type')!r}"
    try:
        key = h["x-line-retry-key"]
        if str(uuid.UUID(key)) != key.lower():
            return f"retry key {key!r} is not a hexadecimal UUID"
    except (KeyError, ValueError):
        return "missing or malformed X-Line-Retry-Key"
    try:
        body = rec.json()
    except ValueError:
        return "body is not JSON"
    if set(body) != {"to", "messages"} or not isinstance(body["messages"], list):
        return f"body keys {sorted(body)}"
    if not 1 <= len(body["messages"]) <= 5:
        return "messages must hold 1 to 5 messages"
    for m in body["messages"]:
        if set(m) != {"type", "text"} or m["type"] != "text" or not 0 < len(m["text"]) <= 5000:
            return f"bad message object {m!r}"
    return ""


class _LineHandler(_Handler):
    def do_POST(self) -> None:
        rec = self._record()
        violation = _line_violation(rec)
        if violation:
            self.owner.violations.append(violation)
            self._reply(400, {"message": violation})
            return
        key = rec.headers.get("X-Line-Retry-Key", "")
        planned = self.owner.next_planned()
        with self.owner.lock:
            accepted = self.owner.accepted.get(key)
        if accepted is not None:
            self._reply(409, {"message": "The retry key is already accepted"},
                        {"X-Line-Accepted-Request-Id": accepted})  # fmt: skip
        elif isinstance(planned, int):
            self._reply(planned, {"message": f"planned {planned}", "details": []})
        else:
            request_id = uuid.uuid4().hex
            with self.owner.lock:
                self.owner.accepted[key] = request_id
                self.owner.delivered.append((rec.json()["to"], rec.json()["messages"][0]["text"]))
            status = 500 if planned == "accept-then-500" else 200
            self._reply(status, {"sentMessages": [{"id": "1", "quoteToken": "q"}]},
                        {"X-Line-Request-Id": request_id})  # fmt: skip


class LineApi(_Server):
    """The push endpoint. ``plan``: ints answer that status without accepting;
    ``"accept-then-500"`` accepts the message but answers 500."""

    def __init__(self) -> None:
        super().__init__(_LineHandler)
        self.violations: list[str] = []
        self.accepted: dict[str, str] = {}  # retry key -> request id
        self.delivered: list[tuple[str, str]] = []  # (to, text), once per accepted key

    def __enter__(self) -> LineApi:
        super().__enter__()
        return self


class _WebhookHandler(_Handler):
    def do_POST(self) -> None:
        rec = self._record()
        ok = verify_webhook(
            WEBHOOK_SECRET,
            rec.headers.get("X-Citytrack-Timestamp", ""),
            rec.body,
            rec.headers.get("X-Citytrack-Signature", ""),
        )
        planned = self.owner.next_planned()
        if not ok:
            self._reply(401, {"error": "bad signature"})
        elif isinstance(planned, int):
            self._reply(planned, {"error": f"planned {planned}"})
        else:
            with self.owner.lock:
                self.owner.verified.append(rec)
            self._reply(200, {"ok": True})


class WebhookReceiver(_Server):
    """Verifies every POST with ``verify_webhook``; 401 when it fails."""

    def __init__(self) -> None:
        super().__init__(_WebhookHandler)
        self.verified: list[Recorded] = []

    def __enter__(self) -> WebhookReceiver:
        super().__enter__()
        return self


@dataclass
class _SmtpHandler:
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # rcpt -> SMTP reply

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted for delivery"


class SmtpSink:
    """aiosmtpd on a free loopback port, keeping every message (parsed)."""

    def __init__(self) -> None:
        self.handler = _SmtpHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def watch_config(webhook_url: str = "http://127.0.0.1:9/hook", **notify: Any) -> WatchConfig:
    """Two schools in two wards. Naniwa: Hana and Mio (siblings; Sato, LINE, Japanese),
    Yuto (Ito, e-mail, English). Chuo: Kenta (Tanaka, webhook, Japanese), Sora (both Ito
    and Tanaka). Quiet hours off unless given."""
    notify = {"quiet_start": time(0, 0), "quiet_end": time(0, 0), **notify}
    return WatchConfig(
        schools=[
            School(id="naniwa-es", name="Naniwa Elementary School", ward="Naniwa",
                   lat_deg=34.6622, lon_deg=135.4985),
            School(id="chuo-es", name="Chuo Elementary School", ward="Chuo",
                   lat_deg=34.6803, lon_deg=135.5094),
        ],
        stations=[
            Station(id="st-ward-office", name="Naniwa ward office gate", name_ja="浪速区役所前",
                    kind="roadside", ward="Naniwa", lat_deg=34.6594, lon_deg=135.4968),
            Station(id="st-crossing", name="Sennichimae crossing", name_ja="千日前交差点",
                    kind="roadside", ward="Naniwa", lat_deg=34.6595, lon_deg=135.4969),
            Station(id="gate-naniwa", name="Naniwa Elementary School gate",
                    name_ja="難波小学校の正門", kind="school_gate", school_id="naniwa-es",
                    ward="Naniwa", lat_deg=34.6620, lon_deg=135.4985),
        ],
        children=[
            Child(id="c-hana", name="Hana", school_id="naniwa-es", guardian_ids=["g-sato"]),
            Child(id="c-mio", name="Mio", school_id="naniwa-es", guardian_ids=["g-sato"]),
            Child(id="c-yuto", name="Yuto", school_id="naniwa-es", guardian_ids=["g-ito"]),
            Child(id="c-kenta", name="Kenta", school_id="chuo-es", guardian_ids=["g-tanaka"]),
            Child(id="c-sora", name="Sora", school_id="chuo-es",
                  guardian_ids=["g-ito", "g-tanaka"]),
        ],
        guardians=[
            Guardian(id="g-sato", name="Sato", language="ja",
                     channels=[Channel(kind="line", to="U" + "a" * 32)]),
            Guardian(id="g-ito", name="Ito", language="en",
                     channels=[Channel(kind="email", to="ito@example.jp")]),
            Guardian(id="g-tanaka", name="Tanaka", language="ja",
                     channels=[Channel(kind="webhook", to=webhook_url)]),
        ],
        notify=NotifyConfig(**notify),
    )  # fmt: skip
