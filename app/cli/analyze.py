"""``citytrack analyze``: what the hub's detectors make of a raw NMEA drive log.

Reads the log with the vehicle agent's reader (:class:`edge_agent.nmea.NmeaFixDecoder`, as
``citytrack nmea decode`` does), feeds the fixes in order to the hub's
:class:`analytics.driving.detectors.VehicleDetectors` for one vehicle class, and prints on ``out``:

- one JSON line per event, as it ends: ``{"record": "event", "kind", "severity", "start",
  "end", "duration_s", "lat_deg", "lon_deg", ...}`` plus the event's details, whose names
  carry their units: the peak (``peak_mps2`` for harsh events, ``max_speed_kmh`` for
  speeding) and the limit where there is one (``threshold_mps2``, ``limit_kmh``);
- then one summary line: ``{"record": "summary", "vehicle_class", "fixes",
  "fixes_accepted", "first_fix", "last_fix", "distance_m", "driving_time_s", "events",
  "events_per_100km", "events_per_hour", "decoder"}``.

Distance and driving time come from accepted fixes: in time order, within the HDOP and
satellite limits of ``[detectors.quality]``, and not implying a move faster than its
``max_implied_speed_mps`` from the last accepted fix. Between two consecutive accepted
fixes at most ``MAX_BRIDGE_S`` apart, the interval counts as driving when the truck moved
(the receiver's speed at either end is ``MOVING_MPS`` or more, so a parked receiver's
jitter adds nothing), and its distance is the receiver's speed integrated over it
(trapezoid): Doppler speed is good to about 0.1 m/s while positions wander by metres and
jump by tens, so speed makes the better odometer. Where a fix has no speed (GGA only),
the straight line between the fixes, and its implied speed, stand in. ``events_per_100km``
and ``events_per_hour`` (per hour of driving) are null when there was no distance or no
driving.

An unknown vehicle class is refused before anything is read or printed (one line on stderr
and exit code 2); stderr otherwise stays silent. Times are ISO 8601 UTC.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, TextIO

import typer

from analytics.driving.findings import DetectedEvent
from app.cli.common import ConfigOpt, UsageError, input_stream
from citytrack.config import CitytrackConfig, QualityConfig, load_config
from citytrack.geo import distance_between_m
from citytrack.wire import EventKind, Fix

if TYPE_CHECKING:
    from edge_agent.nmea import Epoch

READ_CHUNK = 4096
DEVICE_ID = "analyze"
MOVING_MPS = 1.0  # slower at both ends of an interval: standing (jitter), not driving
MAX_BRIDGE_S = 60.0  # a longer silence (receiver off) is neither driving nor distance


@dataclass
class DriveTotals:
    """Running distance (m) and driving time (s) over the accepted fixes of one log."""

    quality: QualityConfig
    fixes: int = 0
    accepted: int = 0
    distance_m: float = 0.0
    driving_s: float = 0.0
    first: datetime | None = None
    last_fix: Fix | None = None

    def add(self, fix: Fix) -> None:
        """Count ``fix``; if it is accepted, add the interval from the last accepted one."""
        self.fixes += 1
        self.first = self.first or fix.fix_time
        prev = self.last_fix
        q = self.quality
        if (fix.hdop is not None and fix.hdop > q.max_hdop) or (
            fix.sats_used is not None and fix.sats_used < q.min_sats
        ):
            return
        if prev is not None:
            dt = (fix.fix_time - prev.fix_time).total_seconds()
            if dt <= 0:
                return
            line_m = distance_between_m(prev, fix)
            if line_m / dt > q.max_implied_speed_mps:
                return
            v0, v1 = prev.speed_mps, fix.speed_mps
            if v0 is None or v1 is None:  # no Doppler speed: the positions must do
                v0 = v1 = line_m / dt
            if dt <= MAX_BRIDGE_S and max(v0, v1) >= MOVING_MPS:
                self.distance_m += (v0 + v1) / 2 * dt
                self.driving_s += dt
        self.accepted += 1
        self.last_fix = fix


def _number(value: object) -> object:
    return round(value, 3) if isinstance(value, float) else value


def event_record(event: DetectedEvent) -> dict[str, Any]:
    """The JSON object printed for one event."""
    record: dict[str, Any] = {
        "record": "event",
        "kind": event.kind,
        "severity": event.severity,
        "start": event.start.astimezone(UTC).isoformat(),
        "end": event.end.astimezone(UTC).isoformat(),
        "duration_s": round(event.duration_s, 3),
        "lat_deg": round(event.lat_deg, 7),
        "lon_deg": round(event.lon_deg, 7),
    }
    details = event.details.model_dump(mode="json")
    record.update({k: _number(v) for k, v in details.items() if k not in record})
    return record


def summary_record(
    totals: DriveTotals, events: Counter[str], vehicle_class: str, decoder: dict[str, int]
) -> dict[str, Any]:
    """The JSON object printed after the events."""
    kinds = sorted(set(EventKind) | set(events))
    km, hours = totals.distance_m / 1000.0, totals.driving_s / 3600.0
    last = totals.last_fix.fix_time if totals.last_fix is not None else None
    return {
        "record": "summary",
        "vehicle_class": vehicle_class,
        "fixes": totals.fixes,
        "fixes_accepted": totals.accepted,
        "first_fix": totals.first.isoformat() if totals.first else None,
        "last_fix": last.isoformat() if last else None,
        "distance_m": round(totals.distance_m, 1),
        "driving_time_s": round(totals.driving_s, 1),
        "events": {k: events[k] for k in kinds},
        "events_per_100km": {k: round(100 * events[k] / km, 3) if km else None for k in kinds},
        "events_per_hour": {k: round(events[k] / hours, 3) if hours else None for k in kinds},
        "decoder": decoder,
    }


def analyze(
    file: Annotated[str, typer.Argument(help="raw NMEA log, or - for standard input")],
    vehicle_class: Annotated[str, typer.Option(help="thresholds to use")] = "heavy",
    config: ConfigOpt = None,
) -> None:
    """Run the hub's detectors over a raw NMEA log: one JSON event per line, then a summary."""
    cfg = load_config(config)
    with input_stream(file) as stream:
        analyze_log(stream, sys.stdout, cfg=cfg, vehicle_class=vehicle_class)


def analyze_log(stream: BinaryIO, out: TextIO, *, cfg: CitytrackConfig, vehicle_class: str) -> None:
    """Analyze a raw NMEA log (see the module docstring), printing on ``out``.

    Raises:
        UsageError: ``vehicle_class`` is not configured (nothing is read); the message
            lists those that are.
        SourceReadError: the stream could not be read.
    """
    from analytics.driving.detectors import VehicleDetectors
    from analytics.driving.zones import ZoneIndex
    from edge_agent.nmea import NmeaFixDecoder
    from edge_agent.sources import ReplaySource

    vclass = cfg.city.vehicle_classes.get(vehicle_class)
    if vclass is None:
        known = ", ".join(sorted(cfg.city.vehicle_classes))
        raise UsageError(f"unknown vehicle class {vehicle_class!r} ({known})")
    zones = ZoneIndex(cfg.city.speed_zones, cfg.city.default_road_limit_kmh)
    detectors = VehicleDetectors(vclass, cfg.detectors.speeding, zones)
    totals = DriveTotals(cfg.detectors.quality)
    decoder = NmeaFixDecoder()
    source = ReplaySource(stream, chunk=READ_CHUNK)
    events: Counter[str] = Counter()

    def feed(epochs: list[Epoch]) -> None:
        for epoch in epochs:
            fix = epoch.to_fix(DEVICE_ID, totals.fixes + 1, epoch.fix_time)
            totals.add(fix)
            _print_events(detectors.step(fix), out, events)

    while data := source.read(timeout_s=0.0):
        feed(decoder.feed(data))
    feed(decoder.flush())
    _print_events(detectors.flush(), out, events)
    summary = summary_record(totals, events, vehicle_class, decoder.counters.as_dict())
    out.write(json.dumps(summary) + "\n")


def _print_events(found: list[DetectedEvent], out: TextIO, events: Counter[str]) -> None:
    for event in found:
        events[event.kind] += 1
        out.write(json.dumps(event_record(event)) + "\n")
