"""One alert per driving episode, whether the hub's GNSS detectors or the vehicle's own
accelerometer saw it, and in whichever order their findings arrive.

Pure: no I/O, no clock. The hub's shell (``hub.pipeline.reconcile_alerts``) looks the
known alerts up in the database, calls ``reconcile`` and writes what it says.

Rule. A finding (a GNSS alert from ``analytics.driving.detectors``, source "gps", or an edge event
as ``edge_alert`` makes it, source "imu") and a known alert (stored, or created earlier in
the same batch) are the same episode when they share device and kind and their
[start_time, end_time] intervals overlap or lie at most ``SLACK_S`` seconds apart. The slack
covers how differently the two time one episode: the GNSS window starts up to a second
before the change of speed, the accelerometer's filter and speed gate move its ends by a
fraction of a second; 3 s still keeps two harsh stops at one crossing apart (each takes a
stop and a pause of several seconds). The second finding merges into the first: the alert
keeps its row, times and position, and its details gain ``sources`` (``["gps", "imu"]``)
and the other source's peak and times. A merge is not a new alert; only new alerts are
published. An alert that already holds a finding of the incoming one's source is no partner
(two GNSS alerts never merge into one). Among partners the one overlapping most wins, then
the earliest. A finding with no partner becomes an alert of its own.

Duplicates. A finding a known alert already holds (a GNSS alert with the same start time,
an edge event with the same ``seq``) is the same message again (QoS 1 redelivery, a replayed
outbox): it changes nothing and is counted.

Details (``citytrack.AlertDetails`` and its per-kind models). ``sources``: sorted; a GNSS
alert without it is ``("gps",)``. An edge event contributes ``imu_peak_mps2``,
``imu_start_time``, ``imu_end_time`` and ``imu_seq``; a GNSS alert merged into an alert the
IMU raised contributes ``gps_peak_mps2``, ``gps_start_time``, ``gps_end_time``. An alert
raised by the IMU alone has ``peak_mps2``, ``threshold_mps2``, ``duration_s``, ``speed_mps``
when the event carried one and, for cornering, ``direction``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from analytics.driving.harsh import severity_for
from citytrack.alerts import (
    Alert,
    CorneringDetails,
    DetectionSource,
    HarshDetails,
    ManoeuvreDetails,
)
from citytrack.wire import DrivingEvent, EventKind

SLACK_S = 3.0
"""Largest gap between the intervals of two findings of one episode, s."""

Source = DetectionSource


@dataclass(frozen=True)
class Finding:
    """A detector's alert and which side found it."""

    alert: Alert
    source: Source


@dataclass(frozen=True)
class Reconciled:
    """What to write: ``created`` new alerts (in order; publish these), ``updated`` known
    alerts by their index in ``known`` (merged details), and the counts."""

    created: list[Alert] = field(default_factory=list)
    updated: dict[int, Alert] = field(default_factory=dict)
    merged: int = 0
    duplicates: int = 0


def edge_alert(event: DrivingEvent, driver_id: str | None, lat_deg: float, lon_deg: float) -> Alert:
    """The alert an edge event raises on its own, located at (``lat_deg``, ``lon_deg``).

    Raises:
        pydantic.ValidationError: a device id that breaks the contract.
    """
    return Alert(
        device_id=event.device_id,
        driver_id=driver_id,
        kind=event.event_kind,
        severity=severity_for(event.peak_mps2, event.threshold_mps2),
        start_time=event.start_time,
        end_time=event.end_time,
        lat_deg=lat_deg,
        lon_deg=lon_deg,
        details=_edge_details(event),
    )


def _edge_details(event: DrivingEvent) -> HarshDetails | CorneringDetails:
    measured = ManoeuvreDetails(
        sources=(event.source,),
        peak_mps2=event.peak_mps2,
        threshold_mps2=event.threshold_mps2,
        duration_s=(event.end_time - event.start_time).total_seconds(),
        speed_mps=event.speed_mps,
        imu_peak_mps2=event.peak_mps2,
        imu_start_time=event.start_time,
        imu_end_time=event.end_time,
        imu_seq=event.seq,
    )
    if event.event_kind == EventKind.HARSH_CORNERING:
        return CorneringDetails(**measured.model_dump(), direction=event.direction)
    return HarshDetails(**measured.model_dump())


def sources_of(alert: Alert) -> list[str]:
    """Which sides found the alert (``details.sources``; GNSS alone when absent)."""
    sources = alert.details.sources
    return ["gps"] if sources is None else list(sources)


def overlap_s(a: Alert, b: Alert) -> float:
    """How long the two intervals overlap, s (negative: the gap between them)."""
    return (min(a.end_time, b.end_time) - max(a.start_time, b.start_time)).total_seconds()


def same_episode(a: Alert, b: Alert, slack_s: float = SLACK_S) -> bool:
    """Same device and kind, intervals overlapping or at most ``slack_s`` seconds apart."""
    slack = timedelta(seconds=slack_s)
    return (
        a.device_id == b.device_id
        and a.kind == b.kind
        and a.start_time <= b.end_time + slack
        and b.start_time <= a.end_time + slack
    )


def holds(alert: Alert, finding: Finding) -> bool:
    """Whether ``alert`` already holds ``finding`` (the same message seen again)."""
    if alert.device_id != finding.alert.device_id or alert.kind != finding.alert.kind:
        return False
    if finding.source == "imu":
        seq = finding.alert.details.imu_seq
        return seq is not None and alert.details.imu_seq == seq
    if "gps" not in sources_of(alert):
        return False
    merged_start = alert.details.gps_start_time
    started = alert.start_time if merged_start is None else merged_start
    return started == finding.alert.start_time


def merged(target: Alert, finding: Finding) -> Alert:
    """``target`` with ``finding`` merged into its details (see the module docstring)."""
    found = finding.alert
    extra: dict[str, Any]
    if finding.source == "imu":
        extra = {
            "imu_peak_mps2": found.details.imu_peak_mps2,
            "imu_start_time": found.details.imu_start_time,
            "imu_end_time": found.details.imu_end_time,
            "imu_seq": found.details.imu_seq,
        }
    else:
        peak = found.details.peak_mps2 if isinstance(found.details, ManoeuvreDetails) else None
        extra = {
            "gps_peak_mps2": peak,
            "gps_start_time": found.start_time,
            "gps_end_time": found.end_time,
        }
    extra = {k: v for k, v in extra.items() if v is not None}
    extra["sources"] = tuple(sorted({*sources_of(target), finding.source}))
    return target.model_copy(update={"details": target.details.model_copy(update=extra)})


def _partner(alerts: Sequence[Alert], finding: Finding, slack_s: float) -> int | None:
    """Index of the alert ``finding`` merges into, or None."""
    best: tuple[float, datetime, int] | None = None
    for i, alert in enumerate(alerts):
        if finding.source in sources_of(alert) or not same_episode(alert, finding.alert, slack_s):
            continue
        rank = (-overlap_s(alert, finding.alert), alert.start_time, i)
        if best is None or rank < best:
            best = rank
    return None if best is None else best[2]


def reconcile(
    known: Sequence[Alert], findings: Sequence[Finding], slack_s: float = SLACK_S
) -> Reconciled:
    """Merge ``findings``, in the order given (their arrival order), into ``known`` alerts
    and into one another; see the module docstring for the rule."""
    alerts = list(known)
    touched: set[int] = set()
    merges = duplicates = 0
    for finding in findings:
        if any(holds(a, finding) for a in alerts):
            duplicates += 1
            continue
        i = _partner(alerts, finding, slack_s)
        if i is None:
            alerts.append(finding.alert)
            continue
        alerts[i] = merged(alerts[i], finding)
        touched.add(i)
        merges += 1
    n = len(known)
    return Reconciled(
        created=alerts[n:],
        updated={i: alerts[i] for i in sorted(touched) if i < n},
        merged=merges,
        duplicates=duplicates,
    )
