"""Local stand-ins for the guardians' channels: a LINE push API, a webhook receiver and an
SMTP server, real protocols on loopback so the hub's channels run unchanged. The demo, the
benchmarks and the tests all use these.

``LineApi`` checks each request as the documented endpoint would
(https://developers.line.biz/en/reference/messaging-api/#send-push-message): POST
``/v2/bot/message/push``, ``Authorization: Bearer <token>``, ``Content-Type:
application/json``, ``X-Line-Retry-Key`` a UUID, body ``{"to", "messages": [1..5 text
messages]}``; and it honours retry keys: a key already accepted answers 409 with
``X-Line-Accepted-Request-Id``. ``WebhookReceiver`` verifies the hub's signature.
``SmtpSink`` keeps every message. Each ``plan`` of the HTTP servers lists the next
responses (a status to answer instead of accepting); each accepted notice is also
recorded as a ``Received`` with its arrival time in the ``received`` list it was given.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from app.services import free_port
from hub.notify.channels import verify_webhook


@dataclass(frozen=True)
class Received:
    """One notice that reached a stand-in: channel, recipient, text, when (monotonic s)."""

    channel: str  # "line" | "email" | "webhook"
    to: str
    text: str
    arrived_monotonic: float


class Inbox:
    """Everything the stand-ins accepted, in arrival order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Received] = []

    def add(self, channel: str, to: str, text: str) -> None:
        with self._lock:
            self._items.append(Received(channel, to, text, time.monotonic()))

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self._items)


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

    def __init__(self, handler: type[BaseHTTPRequestHandler], inbox: Inbox | None) -> None:
        self.requests: list[Recorded] = []
        self.plan: list[int | str] = []  # next responses; empty: success
        self.lock = threading.Lock()
        self.inbox = inbox or Inbox()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def next_planned(self) -> int | str | None:
        with self.lock:
            return self.plan.pop(0) if self.plan else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes on a kept-alive connection: without TCP_NODELAY
    # the body waits for the client's delayed ACK (tens of ms per notice on loopback)
    disable_nagle_algorithm = True

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


def _line_violation(rec: Recorded, token: str) -> str:
    """Why the documented API would reject ``rec`` ("" if it would not)."""
    h = {k.lower(): v for k, v in rec.headers.items()}
    if rec.method != "POST" or rec.path != "/v2/bot/message/push":
        return f"wrong endpoint {rec.method} {rec.path}"
    if h.get("authorization") != f"Bearer {token}":
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
        violation = _line_violation(rec, self.owner.token)
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
            to, text = rec.json()["to"], rec.json()["messages"][0]["text"]
            with self.owner.lock:
                self.owner.accepted[key] = request_id
                self.owner.delivered.append((to, text))
            self.owner.inbox.add("line", to, text)
            status = 500 if planned == "accept-then-500" else 200
            self._reply(status, {"sentMessages": [{"id": "1", "quoteToken": "q"}]},
                        {"X-Line-Request-Id": request_id})  # fmt: skip


class LineApi(_Server):
    """The push endpoint. ``plan``: ints answer that status without accepting;
    ``"accept-then-500"`` accepts the message but answers 500."""

    def __init__(self, token: str, inbox: Inbox | None = None) -> None:
        super().__init__(_LineHandler, inbox)
        self.token = token
        self.violations: list[str] = []
        self.accepted: dict[str, str] = {}  # retry key -> request id
        self.delivered: list[tuple[str, str]] = []  # (to, text), once per accepted key

    def __enter__(self) -> LineApi:
        self.start()
        return self


class _WebhookHandler(_Handler):
    def do_POST(self) -> None:
        rec = self._record()
        ok = verify_webhook(
            self.owner.secret,
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
            to = rec.path.rpartition("/")[2]  # /hook/{name}: the name
            self.owner.inbox.add("webhook", to, str(rec.json().get("text", "")))
            self._reply(200, {"ok": True})


class WebhookReceiver(_Server):
    """Verifies every POST with ``verify_webhook``; 401 when it fails."""

    def __init__(self, secret: str, inbox: Inbox | None = None) -> None:
        super().__init__(_WebhookHandler, inbox)
        self.secret = secret
        self.verified: list[Recorded] = []

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self


@dataclass
class _SmtpHandler:
    inbox: Inbox
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
        body = msg.get_body(preferencelist=("plain",))
        text = str(body.get_content()).strip() if body is not None else ""
        for rcpt in envelope.rcpt_tos:
            self.inbox.add("email", rcpt, text)
        return "250 Message accepted for delivery"


class SmtpSink:
    """aiosmtpd on a free loopback port, keeping every message (parsed)."""

    def __init__(self, inbox: Inbox | None = None) -> None:
        self.handler = _SmtpHandler(inbox or Inbox())
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
