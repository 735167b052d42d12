"""Ground-truth labels the simulators write: what the simulated driver really did, and when.

The GPS simulator writes one ``EpisodeLabel`` per scripted episode (JSON lines);
``evaluation.episodes`` scores the hub's alerts against them. Pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

EPISODE_ALERT_KIND = {
    "harsh_braking": "harsh_braking",
    "harsh_acceleration": "harsh_acceleration",
    "harsh_cornering": "harsh_cornering",
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

    def to_json(self) -> str:
        """One JSON object on one line; times as ISO 8601 UTC strings."""
        return json.dumps(
            {
                "device_id": self.device_id,
                "kind": self.kind,
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "peak_value": self.peak_value,
                "zone_id": self.zone_id,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> EpisodeLabel:
        """Read a line written by ``to_json``.

        Raises:
            ValueError: not JSON, a missing field, an unknown kind or a time without zone.
        """
        try:
            raw = json.loads(line)
            start = datetime.fromisoformat(raw["start"])
            end = datetime.fromisoformat(raw["end"])
            label = cls(
                str(raw["device_id"]),
                str(raw["kind"]),
                start,
                end,
                float(raw["peak_value"]),
                raw.get("zone_id"),
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not an episode label: {line!r}") from exc
        if label.kind not in EPISODE_ALERT_KIND:
            raise ValueError(f"unknown episode kind {label.kind!r}")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError(f"episode times must carry a time zone: {line!r}")
        return label
