"""Local stand-ins for the guardians' notification channels, for the demo and benchmarks.

Real protocols on loopback, so the hub's channels run unchanged: an HTTP server that
answers the LINE Messaging API push endpoint (``POST /v2/bot/message/push``) and receives
signed webhooks (``POST /hook/{name}``), and an SMTP server (aiosmtpd). Everything that
arrives is recorded with its arrival time.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from app.services import free_port
from citytrack.config.watch import WatchConfig

LINE_TOKEN = "demo-line-channel-token"
WEBHOOK_SECRET = "demo-webhook-secret"


@dataclass(frozen=True)
class Received:
    channel: str  # "line" | "email" | "webhook"
    to: str
    text: str
    arrived_monotonic: float


class _Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Received] = []

    def add(self, channel: str, to: str, text: str) -> None:
        with self._lock:
            self.items.append(Received(channel, to, text, time.monotonic()))

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.items)


def _handler(recorder: _Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:  # quiet
            return

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/v2/bot/message/push":
                if self.headers.get("Authorization") != f"Bearer {LINE_TOKEN}":
                    self._reply(401, {"message": "Authentication failed"})
                    return
                doc = json.loads(body)
                recorder.add("line", doc["to"], doc["messages"][0]["text"])
                self._reply(200, {"sentMessages": [{"id": str(len(recorder.items))}]})
            elif self.path.startswith("/hook/"):
                doc = json.loads(body)
                recorder.add("webhook", self.path.removeprefix("/hook/"), doc.get("text", ""))
                self._reply(200, {})
            else:
                self._reply(404, {"message": "Not found"})

    return Handler


class _SmtpHandler:
    def __init__(self, recorder: _Recorder) -> None:
        self.recorder = recorder

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        for rcpt in envelope.rcpt_tos:
            self.recorder.add("email", rcpt, str(text).strip())
        return "250 OK"


class NotificationSinks:
    """LINE push endpoint + webhook receiver (HTTP) and an SMTP server, on loopback."""

    def __init__(self) -> None:
        self.recorder = _Recorder()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.recorder))
        self.http_port = int(self._http.server_address[1])
        self.smtp_port = free_port()
        self._smtp = Controller(
            _SmtpHandler(self.recorder), hostname="127.0.0.1", port=self.smtp_port
        )
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def line_api_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def webhook_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/hook/{name}"

    def start(self) -> NotificationSinks:
        self._thread.start()
        self._smtp.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._smtp.stop()

    def received(self) -> list[Received]:
        return self.recorder.snapshot()


def route_to_sinks(watch: WatchConfig, sinks: NotificationSinks) -> WatchConfig:
    """The same watch registry with every channel pointed at the local sinks.

    Sets the LINE token and webhook secret environment variables the channels read.
    """
    os.environ[watch.notify.line_token_env] = LINE_TOKEN
    os.environ[watch.notify.webhook_secret_env] = WEBHOOK_SECRET
    notify = watch.notify.model_copy(
        update={
            "line_api_base": sinks.line_api_base,
            "smtp_host": "127.0.0.1",
            "smtp_port": sinks.smtp_port,
        }
    )
    guardians = [
        g.model_copy(
            update={
                "channels": [
                    c.model_copy(update={"to": sinks.webhook_url(g.id)})
                    if c.kind == "webhook"
                    else c
                    for c in g.channels
                ]
            }
        )
        for g in watch.guardians
    ]
    return watch.model_copy(update={"notify": notify, "guardians": guardians})
