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
        return f"{self.webhooks.url}/hook/{name}"  # as ``route_to`` addresses a guardian

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
    return route_to(watch, sinks.line_api_base, sinks.smtp_port, sinks.webhooks.url)


def route_to(
    watch: WatchConfig, line_api_base: str, smtp_port: int, webhook_base: str
) -> WatchConfig:
    """``route_to_sinks`` by address, for a process other than the sinks' own (the sinks
    expect ``LINE_TOKEN`` and ``WEBHOOK_SECRET``)."""
    os.environ[watch.notify.line_token_env] = LINE_TOKEN
    os.environ[watch.notify.webhook_secret_env] = WEBHOOK_SECRET
    notify = watch.notify.model_copy(
        update={"line_api_base": line_api_base, "smtp_host": "127.0.0.1", "smtp_port": smtp_port}
    )
    guardians = [
        g.model_copy(
            update={
                "channels": [
                    c.model_copy(update={"to": f"{webhook_base}/hook/{g.id}"})
                    if c.kind == "webhook"
                    else c
                    for c in g.channels
                ]
            }
        )
        for g in watch.guardians
    ]
    return watch.model_copy(update={"notify": notify, "guardians": guardians})
