"""What every device agent is: an identity, a durable outbox drained by a QoS 1 publisher,
a retained status carrying its counters, a stop signal, and its metrics.

``VehicleAgent`` (``edge_agent.agent``) and ``StationAgent`` (``edge_agent.station``) derive
from ``DeviceAgent`` and add their sources, decoders and detectors. A subclass gives its own
counts in ``own_counters()``; ``counters()`` adds the publisher's (``published``,
``connects``) and the ``outbox_depth`` gauge, and is what the status carries and what
``metrics`` exports (``citytrack_agent_*``, labelled with the device id and role).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from citytrack import wire
from citytrack.metrics import MetricsRegistry
from citytrack.mqtt import BrokerAddress
from edge_agent.outbox import Outbox
from edge_agent.publisher import OutboxPublisher

GAUGES = frozenset({"outbox_depth", "imu_calibrated"})


class DeviceAgent:
    """The shared part of an agent; subclasses start their readers in ``start()``.

    Raises:
        citytrack.wire.ContractError: ``device_id`` is not a valid device id.
    """

    def __init__(
        self,
        device_id: str,
        role: wire.Role,
        outbox: Outbox,
        address: BrokerAddress,
        *,
        max_inflight: int = 200,
        status_interval_s: float = 10.0,
        clock: Callable[[], datetime] = wire.utcnow,
        confirm_by: Literal["hub", "broker"] = "hub",
    ) -> None:
        """``confirm_by``: who confirms a message before the outbox deletes it: the hub
        (its retained watermark, end to end: the default) or the broker (PUBACK: only
        where no hub listens, as in a bench of the link alone)."""
        if not re.fullmatch(wire.DEVICE_ID_PATTERN, device_id):
            raise wire.ContractError(f"not a valid device id: {device_id!r}")
        self.device_id = device_id
        self.role = role
        self.outbox = outbox
        self.clock = clock
        self._stop = threading.Event()
        self.publisher = OutboxPublisher(
            outbox,
            address,
            client_id=f"citytrack-{device_id}",
            status_topic=self.topic(wire.Kind.STATUS),
            make_status=self._status_payload,
            max_inflight=max_inflight,
            status_interval_s=status_interval_s,
            watermark_topic=wire.watermark_topic(device_id) if confirm_by == "hub" else None,
        )
        self.metrics = MetricsRegistry(device_id=device_id, role=role.value)
        self.metrics.track("agent", self.counters, gauges=GAUGES)

    def topic(self, kind: wire.Kind) -> str:
        """The topic this device publishes ``kind`` messages on."""
        return wire.topic_for(self.role, self.device_id, kind)

    def own_counters(self) -> dict[str, int]:
        """The subclass's counts (monotonic, but for ``GAUGES``)."""
        return {}

    def counters(self) -> dict[str, int]:
        """The agent's counters and the outbox depth gauge, as published in the status."""
        return {
            **self.own_counters(),
            "published": self.publisher.published,
            "confirmed": self.publisher.confirmed,
            "outbox_depth": self.outbox.depth(),
            "connects": self.publisher.connects,
        }

    def _status_payload(self, online: bool) -> bytes:
        status = wire.DeviceStatus(
            device_id=self.device_id, online=online, time=self.clock(), counters=self.counters()
        )
        return wire.encode(status)
