"""The edge accelerometer path of the detection benchmark (used by ``bench/detection.py``).

Every truck of the fleet also carries an accelerometer (``firmware_sim.imu``) at
``IMU_HZ``, mounted at a random yaw, pitch and roll with a random bias. Its samples go
through the vehicle agent's ``ImuHarshDetector``, fed the speeds of the fixes the agent
decoded (the receiver's, impairments included), and each event becomes the alert the hub
would raise for it alone (``analytics.reconcile.edge_alert``). Then the hub's
reconciliation merges the GNSS alerts and the edge events of each truck, in the order they
end, and each labelled harsh episode counts the alerts left on it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from analytics.episodes import EpisodeLabel
from analytics.imu_harsh import ImuHarshDetector, ImuHarshEvent, ImuSample
from analytics.reconcile import Finding, edge_alert, reconcile, sources_of
from citytrack.config import VehicleClass
from citytrack.wire import Alert, DrivingEvent, Fix

IMU_HZ = 50.0
HARSH = ("harsh_braking", "harsh_acceleration", "harsh_cornering")
MATCH_SLACK_S = 5.0  # as analytics.episodes.match_episodes


@dataclass
class ImuLog:
    """A truck's accelerometer samples: POSIX times (s) and n x 3 readings (m/s^2)."""

    t_s: list[np.ndarray] = field(default_factory=list)
    accel_mps2: list[np.ndarray] = field(default_factory=list)

    def add(self, t_s: np.ndarray, accel_mps2: np.ndarray) -> None:
        self.t_s.append(t_s)
        self.accel_mps2.append(accel_mps2)


@dataclass
class ImuRun:
    """What the edge detector made of a truck's shift."""

    alerts: list[Alert]
    samples: int
    calibrated_s: float | None  # after the first sample, s; None: never


def detect(log: ImuLog, fixes: Sequence[Fix], vclass: VehicleClass, device_id: str) -> ImuRun:
    """Run the edge detector over the samples, fed each fix's speed at its time."""
    detector = ImuHarshDetector(vclass)
    events: list[ImuHarshEvent] = []
    t = np.concatenate(log.t_s)
    accel = np.concatenate(log.accel_mps2)
    k, calibrated_at = 0, None
    for ts, (ax, ay, az) in zip(t.tolist(), accel.tolist(), strict=True):
        while k < len(fixes) and fixes[k].fix_time.timestamp() <= ts:
            detector.observe_speed(fixes[k].fix_time.timestamp(), fixes[k].speed_mps)
            k += 1
        events += detector.feed(ImuSample(ts, ax, ay, az))
        if calibrated_at is None and detector.calibrated:
            calibrated_at = ts - float(t[0])
    events += detector.flush()
    return ImuRun(_alerts(events, fixes, device_id), int(t.size), calibrated_at)


def _alerts(events: Sequence[ImuHarshEvent], fixes: Sequence[Fix], device_id: str) -> list[Alert]:
    """Each event as the agent sends it (with the latest fix) and the hub raises it."""
    times = [f.fix_time.timestamp() for f in fixes]
    out = []
    for seq, e in enumerate(events, start=1):
        i = bisect_right(times, e.end_t_s) - 1
        fix = fixes[i] if i >= 0 else None
        message = DrivingEvent(
            device_id=device_id,
            seq=seq,
            event_kind=e.kind,
            start_time=e.start,
            end_time=e.end,
            peak_mps2=e.peak_mps2,
            threshold_mps2=e.threshold_mps2,
            direction=e.direction,
        )
        out.append(
            edge_alert(message, None, fix.lat_deg if fix else 0.0, fix.lon_deg if fix else 0.0)
        )
    return out


def reconciled(gps_alerts: Sequence[Alert], imu_alerts: Sequence[Alert]) -> list[Alert]:
    """The alerts the hub keeps: harsh GNSS alerts and edge events merged, in end order."""
    findings = [Finding(a, "gps") for a in gps_alerts if a.kind in HARSH]
    findings += [Finding(a, "imu") for a in imu_alerts]
    findings.sort(key=lambda f: f.alert.end_time)
    return reconcile([], findings).created


def per_episode(labels: Sequence[EpisodeLabel], alerts: Sequence[Alert]) -> Counter[str]:
    """Per harsh label: how many alerts of its kind lie on it (``"<kind>/<n>"``: labels
    with n alerts, "2+" for more), and ``"<kind>/both"``: labels with an alert that
    both sides found."""
    out: Counter[str] = Counter()
    for lb in labels:
        if lb.alert_kind not in HARSH:
            continue
        on = [
            a
            for a in alerts
            if a.kind == lb.alert_kind
            and (a.start_time - lb.end).total_seconds() <= MATCH_SLACK_S
            and (lb.start - a.end_time).total_seconds() <= MATCH_SLACK_S
        ]
        out[f"{lb.alert_kind}/{min(len(on), 2)}{'+' if len(on) >= 2 else ''}"] += 1
        out[f"{lb.alert_kind}/both"] += any(sources_of(a) == ["gps", "imu"] for a in on)
    return out
