"""Step 1: check each message against the contract and the receiver's clock; unknown devices
and bad input become dead letters with their reason.

A message whose times lie outside its role's ``Admission`` window is refused: older than the
store keeps (retention would delete it at once, and a guardian would hear of it weeks
late), or ahead of the hub's clock by more than the allowed skew (a fix dated 2100 would
stay a truck's last position for ever)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from citytrack import wire
from citytrack.config import CitytrackConfig
from hub.pipeline.batch import Batch, HubCounters


@dataclass(frozen=True)
class Admission:
    """The times a role's messages may carry: ``window`` around ``clock()``."""

    window: wire.TimeWindow
    clock: Callable[[], datetime] = wire.utcnow


def admissions(
    cfg: CitytrackConfig, station_clock: Callable[[], datetime] = wire.utcnow
) -> dict[wire.Role, Admission]:
    """Each role's window from the configuration: back as far as its data is kept
    (fixes: ``hub.fixes_retention_days``; passages: ``watch.retention_days``), ahead by
    ``hub.max_clock_skew_s``. Stations are judged by ``station_clock`` (the child watch's)."""
    ahead = timedelta(seconds=cfg.hub.max_clock_skew_s)
    return {
        wire.Role.VEHICLE: Admission(
            wire.TimeWindow(timedelta(days=cfg.hub.fixes_retention_days), ahead)
        ),
        wire.Role.STATION: Admission(
            wire.TimeWindow(timedelta(days=cfg.watch.retention_days), ahead), station_clock
        ),
    }


class DecodeHandler:
    critical = True

    def __init__(
        self,
        known_devices: set[str],
        counters: HubCounters,
        admit: Mapping[wire.Role, Admission] | None = None,
    ) -> None:
        """``admit``: the time window of each role (None: times are not checked)."""
        self.known = known_devices
        self.counters = counters
        self.admit = dict(admit or {})

    def handle(self, batch: Batch, conn: psycopg.Connection) -> None:
        now = {role: a.clock() for role, a in self.admit.items()}
        for msg in batch.inbound:
            try:
                decoded = wire.decode(msg.topic, msg.payload)
                role = wire.parse_topic(msg.topic)[0]
                seq = getattr(decoded, "seq", None)
                if seq is not None and decoded.device_id in self.known:
                    batch.taken[decoded.device_id] = max(seq, batch.taken.get(decoded.device_id, 0))
                if role in self.admit:
                    wire.check_times(decoded, now[role], self.admit[role].window)
            except wire.ContractError as exc:
                batch.dead.append((msg, exc.reason))
                continue
            if decoded.device_id not in self.known:
                batch.dead.append((msg, f"unknown device {decoded.device_id!r}"))
            elif isinstance(decoded, wire.Fix):
                batch.fixes.append(decoded)
            elif isinstance(decoded, wire.Passage):
                batch.passages.append(decoded)
            elif isinstance(decoded, wire.DrivingEvent):
                batch.edge_events.append(decoded)
            else:
                batch.statuses.append(decoded)
