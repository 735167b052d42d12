"""Broker addresses and paho-mqtt 2.x clients, as devices and the hub use them.

``mqtt://[user[:password]@]host[:port]`` (1883) or ``mqtts://...`` (8883, TLS with the
system CA store). Credentials may also come from ``CITYTRACK_MQTT_USERNAME`` /
``CITYTRACK_MQTT_PASSWORD`` so they stay out of process listings.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from citytrack.errors import InvalidInputError
from citytrack.health import Check
from citytrack.logs import ThrottledLog


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse a broker URL.

        Raises:
            InvalidInputError: not an mqtt:// or mqtts:// URL with a host.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise InvalidInputError(f"broker URL must look like mqtt://host:1883, got {url!r}")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def with_credentials(self, username: str | None, password: str | None) -> BrokerAddress:
        return BrokerAddress(self.host, self.port, self.tls, username, password)


def make_client(
    client_id: str,
    address: BrokerAddress,
    *,
    clean_session: bool = True,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho client (MQTT 3.1.1, callback API v2) configured for ``address``; not connected."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    username = address.username or os.environ.get("CITYTRACK_MQTT_USERNAME")
    password = address.password or os.environ.get("CITYTRACK_MQTT_PASSWORD")
    if username:
        client.username_pw_set(username, password)
    if address.tls:
        client.tls_set()
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client


LINK_LOG_INTERVAL_S = 30.0
SHORT_SESSION_S = 10.0


class BrokerLink:
    """A client's view of its broker connection: up or down and why, for readiness and logs.

    Every failure is logged with its reason, at most once per ``interval_s`` per kind (a
    broker down for an hour writes a line every half minute, not one per reconnect try),
    and the state is what ``check()`` reports. The owner calls ``up``/``refused`` from its
    ``on_connect`` and ``down`` from its ``on_disconnect``; ``attach`` adds paho's
    ``on_connect_fail`` (a broker that cannot be reached at all)."""

    def __init__(
        self,
        address: BrokerAddress,
        logger: logging.Logger,
        *,
        interval_s: float = LINK_LOG_INTERVAL_S,
        backlog: Callable[[], int] | None = None,
        client_id: str = "",
    ) -> None:
        """``backlog``: how many messages wait to be sent (said with each failure);
        ``client_id``: named when connections keep ending soon after they start."""
        self.address = address
        self.client_id = client_id
        self.backlog = backlog
        self.log = logger
        self.connected = False
        self.error = "not connected yet"
        self.failures = 0
        self._throttle = ThrottledLog(logger, interval_s)
        self._lock = threading.Lock()
        self.up_since: float | None = None

    def attach(self, client: mqtt.Client) -> None:
        client.on_connect_fail = self._connect_failed

    def check(self) -> Check:
        return Check(ok=self.connected, detail="" if self.connected else self.error)

    def up(self) -> None:
        with self._lock:
            self.connected, self.error = True, ""
            self.up_since = time.monotonic()
        self.log.info("connected to the broker at %s:%d", self.address.host, self.address.port)

    def refused(self, reason: object) -> None:
        self._fail("refused", f"the broker at {self._where()} refused the connection: {reason}")

    def down(self, reason: object) -> None:
        lasted = None if self.up_since is None else time.monotonic() - self.up_since
        hint = ""
        if lasted is not None and lasted < SHORT_SESSION_S:
            # a broker hands a client id's session to the newest connection: two clients
            # with one id throw each other off every few seconds
            hint = (
                f"; the connection lasted {lasted:.1f} s: is another client using client id "
                f"{self.client_id or '(this one)'}?"
            )
        self._fail("down", f"lost the broker at {self._where()}: {reason}{hint}; reconnecting")

    def _connect_failed(self, _client: mqtt.Client, _userdata: Any) -> None:
        # paho does not say why: a TCP connect does (instant when refused, 2 s at most)
        self._fail(
            "unreachable", f"cannot reach the broker at {self._where()}: {_probe(self.address)}"
        )

    def _fail(self, kind: str, detail: str) -> None:
        if self.backlog is not None:
            detail += f" ({self.backlog()} messages wait in the outbox)"
        with self._lock:
            self.connected = False
            self.up_since = None
            self.failures += 1
            self.error = detail
        self._throttle.error(kind, "%s", detail)

    def _where(self) -> str:
        return f"{self.address.host}:{self.address.port}"


def _probe(address: BrokerAddress) -> str:
    """Why a TCP connection to the broker fails (or that TCP works and MQTT did not)."""
    try:
        with socket.create_connection((address.host, address.port), timeout=2):
            return "TCP connects, but the MQTT handshake failed (TLS or protocol mismatch?)"
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
