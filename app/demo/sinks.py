"""The demo's notification channels: the stand-ins of ``app.demo.standins`` on loopback,
and the watch configuration pointed at them. Everything that arrives is recorded with its
arrival time.
"""

from __future__ import annotations

import os

from app.demo.standins import Inbox, LineApi, Received, SmtpSink, WebhookReceiver
from citytrack.config.watch import WatchConfig

LINE_TOKEN = "demo-line-channel-token"
WEBHOOK_SECRET = "demo-webhook-secret"


class NotificationSinks:
    """The three stand-ins (``app.demo.standins``) on loopback, sharing one inbox."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.line = LineApi(LINE_TOKEN, self.inbox)
        self.webhooks = WebhookReceiver(WEBHOOK_SECRET, self.inbox)
        self.smtp = SmtpSink(self.inbox)
        self.smtp_port = self.smtp.port

    @property
    def line_api_base(self) -> str:
        return self.line.url

    def webhook_url(self, name: str) -> str:
        return f"{self.webhooks.url}/hook/{name}"

    def start(self) -> NotificationSinks:
        self.line.start()
        self.webhooks.start()
        self.smtp.start()
        return self

    def stop(self) -> None:
        self.line.stop()
        self.webhooks.stop()
        self.smtp.stop()

    def received(self) -> list[Received]:
        """Every notice accepted so far, in arrival order."""
        return self.inbox.snapshot()


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
