"""Speeding: the receiver's speed over the limit at the fix position, one event per episode.

Pure: no clock (time is the fix's GNSS time), no I/O; the caller looks the limit up
(``ZoneIndex.limit_at``) and passes it in. Modelled on traccar's
``OverspeedProcessor.updateState``.

A fix is *over* when ``speed_mps * 3.6 > limit_kmh + tolerance_kmh``. Consecutive over fixes
form an episode; it ends at the first fix at or under the then-current limit plus
tolerance, or when no fix with a speed has come for more than ``GAP_S``. The episode's
duration is the span of its over fixes (first to last); an episode shorter than
``SpeedingConfig.min_duration_s`` is dropped, a longer one becomes one ``DetectedEvent``
when it ends. If the limit changes during an episode (the vehicle leaves a school zone),
the episode goes on while the speed stays over the new limit, and reports the strictest
limit (and its zone) that it exceeded, its maximum speed and where that was.

Fixes without speed are skipped (they neither extend nor end an episode); fixes whose
time is not after the last accepted fix (duplicates, out of order) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from analytics.driving.findings import DetectedEvent, Severity
from analytics.driving.zones import Limit
from citytrack.alerts import SpeedingDetails
from citytrack.config import SpeedingConfig
from citytrack.wire import EventKind, Fix

MPS_TO_KMH = 3.6
GAP_S = 5.0
"""Longest interval without a speed that an episode bridges, s."""
SPEED_EPS_KMH = 1e-6
"""Slack on the over-limit comparison, so m/s -> km/h rounding never makes a speed over, km/h."""
DURATION_EPS_S = 1e-3
"""Slack on the min_duration_s comparison, s."""
HIGH_EXCESS_KMH = 20.0
"""Excess over the local limit from which an episode is high severity, km/h."""
MEDIUM_EXCESS_KMH = 10.0
"""Excess over the local limit from which an episode is medium severity, km/h."""


@dataclass(frozen=True)
class SpeedingEpisode:
    """An open run of over-limit fixes. Times are UTC, speeds km/h."""

    start: datetime
    end: datetime  # time of the latest over fix
    max_speed_kmh: float
    max_lat_deg: float
    max_lon_deg: float
    max_excess_kmh: float  # largest (speed - local limit) seen, km/h
    strictest: Limit  # the lowest limit the vehicle was over


@dataclass(frozen=True)
class SpeedingState:
    """Per-device state: last accepted fix, last fix with a speed, and the open episode."""

    last_time: datetime | None = None
    last_speed_time: datetime | None = None
    episode: SpeedingEpisode | None = None


def severity_for(excess_kmh: float) -> Severity:
    """Severity from the largest excess of speed over the local limit, km/h."""
    if excess_kmh >= HIGH_EXCESS_KMH:
        return "high"
    return "medium" if excess_kmh >= MEDIUM_EXCESS_KMH else "low"


def _close(episode: SpeedingEpisode | None, cfg: SpeedingConfig) -> list[DetectedEvent]:
    """The event for a finished episode, or nothing if it was too short (or absent)."""
    if episode is None:
        return []
    duration_s = (episode.end - episode.start).total_seconds()
    if duration_s < cfg.min_duration_s - DURATION_EPS_S:
        return []
    return [
        DetectedEvent(
            kind=EventKind.SPEEDING,
            severity=severity_for(episode.max_excess_kmh),
            start=episode.start,
            end=episode.end,
            lat_deg=episode.max_lat_deg,
            lon_deg=episode.max_lon_deg,
            details=SpeedingDetails(
                max_speed_kmh=episode.max_speed_kmh,
                limit_kmh=episode.strictest.limit_kmh,
                tolerance_kmh=cfg.tolerance_kmh,
                zone_id=episode.strictest.zone_id,
                zone_kind=episode.strictest.zone_kind,
                duration_s=duration_s,
            ),
        )
    ]


def _grow(
    episode: SpeedingEpisode | None, fix: Fix, speed_kmh: float, limit: Limit
) -> SpeedingEpisode:
    """Open an episode at this fix, or extend the open one."""
    excess = speed_kmh - limit.limit_kmh
    if episode is None:
        return SpeedingEpisode(
            fix.fix_time, fix.fix_time, speed_kmh, fix.lat_deg, fix.lon_deg, excess, limit
        )
    faster = speed_kmh > episode.max_speed_kmh
    return SpeedingEpisode(
        start=episode.start,
        end=fix.fix_time,
        max_speed_kmh=speed_kmh if faster else episode.max_speed_kmh,
        max_lat_deg=fix.lat_deg if faster else episode.max_lat_deg,
        max_lon_deg=fix.lon_deg if faster else episode.max_lon_deg,
        max_excess_kmh=max(excess, episode.max_excess_kmh),
        strictest=limit if limit.limit_kmh < episode.strictest.limit_kmh else episode.strictest,
    )


def step(
    state: SpeedingState, fix: Fix, limit: Limit, cfg: SpeedingConfig
) -> tuple[SpeedingState, list[DetectedEvent]]:
    """Feed one fix and the limit at its position; return the new state and ended events.

    Uses ``fix.fix_time``, ``fix.speed_mps`` (m/s) and the position; ``limit`` in km/h.
    """
    if state.last_time is not None and fix.fix_time <= state.last_time:
        return state, []
    if fix.speed_mps is None:
        return replace(state, last_time=fix.fix_time), []
    episode, events = state.episode, []
    last = state.last_speed_time
    if episode is not None and last is not None and (fix.fix_time - last).total_seconds() > GAP_S:
        events, episode = _close(episode, cfg), None
    speed_kmh = fix.speed_mps * MPS_TO_KMH
    if speed_kmh > limit.limit_kmh + cfg.tolerance_kmh + SPEED_EPS_KMH:
        episode = _grow(episode, fix, speed_kmh, limit)
    elif episode is not None:
        events, episode = [*events, *_close(episode, cfg)], None
    return SpeedingState(fix.fix_time, fix.fix_time, episode), events


def flush(state: SpeedingState, cfg: SpeedingConfig) -> tuple[SpeedingState, list[DetectedEvent]]:
    """End of data: close the open episode (if long enough, it becomes an event)."""
    return replace(state, episode=None), _close(state.episode, cfg)
