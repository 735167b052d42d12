"""Broker addresses and paho-mqtt 2.x clients, as devices and the hub use them.

``mqtt://[user[:password]@]host[:port]`` (1883) or ``mqtts://...`` (8883, TLS with the
system CA store). Credentials may also come from ``CITYTRACK_MQTT_USERNAME`` /
``CITYTRACK_MQTT_PASSWORD`` so they stay out of process listings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from citytrack.errors import InvalidInputError


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
