"""The edge accelerometer path of the detection benchmark (used by ``bench/detection.py``).

Every truck of the fleet also carries an accelerometer (``firmware_sim.accelerometer``) at
``IMU_HZ``, mounted at a random yaw, pitch and roll with a random bias that drifts with
temperature, on a cab drawn per truck (pitch and roll under acceleration), over a road
drawn per route (grade, crossfall, humps and bridge joints) with potholes and vibration
that grows with speed. Its samples go through the vehicle agent's ``ImuHarshDetector``,
fed the speeds and courses of the fixes the agent decoded (the receiver's, impairments
included), and each event becomes the alert the hub would raise for it alone
(``analytics.driving.reconcile.edge_alert``). Then the hub's reconciliation merges the GNSS alerts
and the edge events of each truck, in the order they end, and each labelled harsh episode
counts the alerts left on it.

The fleet's drivers are either calm (at most 1.5 m/s^2) or harsh (0.6 m/s^2 or more over
the threshold), which leaves room for a sensor's errors. ``sweep`` closes that gap: single
manoeuvres at ``SWEEP_SHARES`` of the class threshold (firm but legal below 1, harsh
above), each after a few stop-and-go cycles with calm turns (``WARM_UP``), on a random
road, cab and mounting at a random place on the road, with 1 Hz receiver speeds and
courses; it counts the manoeuvres that raised an event of their kind.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from analytics.device.imu_harsh import ImuHarshDetector, ImuHarshEvent, ImuSample
from analytics.driving.reconcile import Finding, edge_alert, reconcile, sources_of
from citytrack.alerts import Alert
from citytrack.config import VehicleClass
from citytrack.wire import DrivingEvent, Fix
from firmware_sim.accelerometer import Body, GradeProfile, ImuModel, Mounting, Road
from firmware_sim.labels import EpisodeLabel

IMU_HZ = 50.0
HARSH = ("harsh_braking", "harsh_acceleration", "harsh_cornering")
MATCH_SLACK_S = 5.0  # as evaluation.episodes.match_episodes
SWEEP_SHARES = (0.7, 0.8, 0.9, 1.1, 1.2, 1.3)
SWEEP_TRIALS = 20  # per class, kind and share (the benchmark size)
SWEEP_ROAD_M = 5000.0
Segment = tuple[float, float, float]  # duration s, acceleration m/s^2, yaw rate deg/s
CALM_TURN_DPS = 8.0  # at 9 m/s: 1.26 m/s^2, a calm turn
WARM_UP: list[Segment] = [
    *(
        seg
        for sign in (1.0, -1.0, 1.0)
        for seg in [
            (2.0, 0.0, 0.0),
            (9.0, 1.0, 0.0),
            (6.0, 0.0, sign * CALM_TURN_DPS),
            (7.0, -1.3, 0.0),
        ]
    ),
    (2.0, 0.0, 0.0),
    (9.0, 1.0, 0.0),
    (6.0, 0.0, 0.0),
]  # stop-and-go with a calm turn at each cruise (left, right, left); ends at 9 m/s


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
            fix = fixes[k]
            detector.observe_speed(fix.fix_time.timestamp(), fix.speed_mps, fix.course_deg)
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


def _motion(segments: Sequence[Segment], rate_hz: float) -> tuple[np.ndarray, ...]:
    """(t s, speed m/s, course deg, distance m) of ``segments`` from rest, every sample."""
    a = np.concatenate([np.full(round(d * rate_hz), acc) for d, acc, _ in segments])
    yaw = np.concatenate([np.full(round(d * rate_hz), y) for d, _, y in segments])
    dt = 1.0 / rate_hz
    v = np.empty(a.size + 1)
    v[0] = 0.0
    for i, acc in enumerate(a):  # the speed never goes below 0
        v[i + 1] = max(v[i] + acc * dt, 0.0)
    course = np.concatenate([[0.0], np.cumsum(yaw * dt)]) % 360.0
    dist = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * dt)])
    return np.arange(v.size) * dt, v, course, dist


def manoeuvre(kind: str, value_mps2: float) -> list[Segment]:
    """Cruise at 9 m/s, then ``kind`` at ``value_mps2`` (2.5 s; a turn 3 s), then cruise."""
    if kind == "harsh_braking":
        return [(6.0, 0.0, 0.0), (2.5, -value_mps2, 0.0), (6.0, 0.0, 0.0)]
    if kind == "harsh_acceleration":
        return [(6.0, 0.0, 0.0), (2.5, value_mps2, 0.0), (6.0, 0.0, 0.0)]
    return [(6.0, 0.0, 0.0), (3.0, 0.0, float(np.degrees(value_mps2 / 9.0))), (6.0, 0.0, 0.0)]


def sweep(job: tuple[VehicleClass, str, int, int]) -> Counter[str]:
    """``trials`` manoeuvres of one kind at each share of the threshold, for one vehicle
    class: ``"<share>"`` counts those that raised an event of that kind, ``"<share>/other"``
    the events of other kinds. ``job``: (class, kind, seed, trials)."""
    vclass, kind, seed, trials = job
    threshold = {
        "harsh_braking": vclass.harsh_braking_mps2,
        "harsh_acceleration": vclass.harsh_acceleration_mps2,
        "harsh_cornering": vclass.harsh_cornering_mps2,
    }[kind]
    out: Counter[str] = Counter()
    for k, share in enumerate(SWEEP_SHARES):
        for trial in range(trials):
            rng = np.random.default_rng([seed, k, trial])
            events = _trial(vclass, manoeuvre(kind, share * threshold), rng)
            out[f"{share:g}"] += any(e.kind == kind for e in events)
            out[f"{share:g}/other"] += sum(e.kind != kind for e in events)
    return out


def _trial(
    vclass: VehicleClass, segments: Sequence[Segment], rng: np.random.Generator
) -> list[ImuHarshEvent]:
    """``WARM_UP`` and ``segments`` on a random road, cab and mounting: the events."""
    t, v, course, dist = _motion([*WARM_UP, *segments], IMU_HZ)
    road = GradeProfile.draw(Road(), rng, SWEEP_ROAD_M)
    model = ImuModel(IMU_HZ, Mounting.random(rng), rng, body=Body.random(rng), road=road)
    accel = model.sense(t, v, course, dist + rng.uniform(0.0, SWEEP_ROAD_M))
    every = round(IMU_HZ)  # a 1 Hz receiver
    speeds = np.clip(v[::every] + rng.normal(0.0, 0.05, v[::every].size), 0.0, None)
    course_err = np.degrees(rng.normal(0.0, 0.05, speeds.size) / np.maximum(v[::every], 0.3))
    courses = [
        None if s < 0.3 else float((c + e) % 360.0)
        for s, c, e in zip(
            speeds.tolist(), course[::every].tolist(), course_err.tolist(), strict=True
        )
    ]
    detector, events, k = ImuHarshDetector(vclass), list[ImuHarshEvent](), 0
    for ts, (ax, ay, az) in zip(t.tolist(), accel.tolist(), strict=True):
        while k < speeds.size and t[k * every] <= ts:
            detector.observe_speed(float(t[k * every]), float(speeds[k]), courses[k])
            k += 1
        events += detector.feed(ImuSample(ts, ax, ay, az))
    return events + detector.flush()
