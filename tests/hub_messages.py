"""Device messages as the hub takes them in, for the pipeline tests: fixes of a 1 Hz stream
standing at one place, and any message wrapped as it arrives from the broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from citytrack import wire
from hub.pipeline.batch import Inbound

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def fix(seq: int, speed_mps: float = 8.0, device: str = "truck-01") -> wire.Fix:
    """Fix ``seq`` of ``device``, ``seq`` seconds after T0, at Nagahori-dori."""
    t = T0 + timedelta(seconds=seq)
    return wire.Fix(
        device_id=device,
        seq=seq,
        fix_time=t,
        recv_time=t,
        lat_deg=34.6700,
        lon_deg=135.4960,
        speed_mps=speed_mps,
        quality=1,
        sats_used=9,
        hdop=0.8,
    )


def inbound(
    msg: wire.Fix | wire.DeviceStatus | wire.DrivingEvent, topic: str | None = None
) -> Inbound:
    """``msg`` as received now on its device's topic (or on ``topic``)."""
    topic = topic or wire.topic_for(wire.Role.VEHICLE, msg.device_id, wire.Kind(msg.kind))
    return Inbound(topic, wire.encode(msg), datetime.now(UTC))
