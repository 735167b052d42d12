"""Ground-truth driving episodes and how alerts score against them.

The GPS simulator writes an ``EpisodeLabel`` per scripted episode (JSON lines); the demo
and the tests match the hub's alerts against them. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

EPISODE_ALERT_KIND = {
    "harsh_braking": "harsh_braking",
    "harsh_acceleration": "harsh_acceleration",
    "speeding_zone": "speeding",
    "speeding_road": "speeding",
}


@dataclass(frozen=True)
class EpisodeLabel:
    """What the simulated driver really did, and when (UTC, from the simulator's clock)."""

    device_id: str
    kind: str  # a key of EPISODE_ALERT_KIND
    start: datetime
    end: datetime
    peak_value: float  # m/s^2 for harsh events, km/h for speeding
    zone_id: str | None = None

    @property
    def alert_kind(self) -> str:
        return EPISODE_ALERT_KIND[self.kind]
