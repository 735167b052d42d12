"""Synthetic accelerometer drives for the edge detector tests.

A drive is ``gnss_tracks.motion`` segments ``(duration_s, accel_mps2, yaw_dps)``: the true
motion is sampled at the IMU rate and read through
``firmware_sim.accelerometer.ImuModel`` (mounting,
bias and its drift, the road's grade and crossfall, the cab's pitch and roll, vibration,
potholes and humps, white noise: the model's defaults unless given), and at the
receiver's rate as speeds with white noise and courses with the matching noise (blank
under 0.3 m/s, like real receivers).
``run`` feeds both to a detector as a vehicle unit would see them: each speed a little
after the samples of its time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from analytics.device.imu_harsh import ImuHarshDetector, ImuHarshEvent, ImuSample
from firmware_sim.accelerometer import Body, GradeProfile, ImuModel, ImuNoise, Mounting, Road
from tests.gnss_tracks import T0, Segment, motion

mountings = st.builds(
    Mounting,
    yaw_deg=st.floats(0.0, 360.0),
    pitch_deg=st.floats(-5.0, 5.0),
    roll_deg=st.floats(-5.0, 5.0),
    bias_mps2=st.tuples(*[st.floats(-0.3, 0.3)] * 3),
)
"""Any mounting a fitter may leave: any yaw, pitch and roll of a few degrees, a bias of up
to 0.3 m/s^2 per axis."""
CALIBRATE: list[Segment] = [(2.0, 0.0, 0.0), (9.0, 1.0, 0.0), (6.0, 0.0, 0.0)]
"""Stand, pull away calmly to 9 m/s, cruise: enough change of speed to learn the axes."""
WORK: list[Segment] = [
    *[(2.0, 0.0, 0.0), (9.0, 1.0, 0.0), (6.0, 0.0, 0.0), (7.0, -1.3, 0.0)] * 3,
    *CALIBRATE,
]
"""Three calm stop-and-go cycles then ``CALIBRATE``: enough to trust the fitted gain too."""
TURNS: list[Segment] = [
    *(
        segment
        for yaw_dps in (-8.0, 8.0, -8.0)
        for segment in [(2.0, 0.0, 0.0), (9.0, 1.0, 0.0), (6.0, 0.0, yaw_dps), (7.0, -1.3, 0.0)]
    ),
    *CALIBRATE,
]
"""``WORK`` with a calm turn (1.3 m/s^2 at 9 m/s, left, right, left) at each cruise: enough
to trust the lateral gain as well."""


@dataclass(frozen=True)
class Drive:
    imu_t_s: np.ndarray  # POSIX s
    accel_mps2: np.ndarray  # n x 3, sensor axes
    gps_t_s: np.ndarray  # POSIX s
    gps_speed_mps: np.ndarray
    gps_course_deg: list[float | None]


def drive(
    segments: Sequence[Segment],
    *,
    mounting: Mounting,
    seed: int,
    imu_hz: float = 50.0,
    gps_hz: float = 1.0,
    course0: float = 0.0,
    speed_sigma: float = 0.05,
    noise: ImuNoise | None = None,
    body: Body | None = None,
    road: Road | GradeProfile | None = None,
    v0: float = 0.0,
) -> Drive:
    """The sensor's samples and the receiver's speeds for a drive starting at ``v0`` m/s."""
    rng = np.random.default_rng(seed)
    truth = motion(segments, v0=v0, course0=course0, rate_hz=imu_hz)
    model = ImuModel(imu_hz, mounting, rng, noise, body=body, road=road)
    accel = model.sense(truth.t_s, truth.speed_mps, truth.course_deg)
    gps = motion(segments, v0=v0, course0=course0, rate_hz=gps_hz)
    speeds = np.clip(gps.speed_mps + rng.normal(0.0, speed_sigma, gps.t_s.size), 0.0, None)
    course_err = np.degrees(
        rng.normal(0.0, speed_sigma, gps.t_s.size) / np.maximum(gps.speed_mps, 0.3)
    )
    courses = [
        None if v < 0.3 else float((c + e) % 360.0)
        for v, c, e in zip(
            speeds.tolist(), gps.course_deg.tolist(), course_err.tolist(), strict=True
        )
    ]
    t0 = T0.timestamp()
    return Drive(truth.t_s + t0, accel, gps.t_s + t0, speeds, courses)


def run(
    detector: ImuHarshDetector, d: Drive, *, lag_s: float = 0.2, courses: bool = True
) -> list[ImuHarshEvent]:
    """Feed the drive in arrival order (each speed ``lag_s`` after its time, with its
    course unless ``courses`` is false); flush."""
    events: list[ImuHarshEvent] = []
    k = 0
    for t, (ax, ay, az) in zip(d.imu_t_s.tolist(), d.accel_mps2.tolist(), strict=True):
        while k < d.gps_t_s.size and d.gps_t_s[k] + lag_s <= t:
            course = d.gps_course_deg[k] if courses else None
            detector.observe_speed(float(d.gps_t_s[k]), float(d.gps_speed_mps[k]), course)
            k += 1
        events += detector.feed(ImuSample(t, ax, ay, az))
    return events + detector.flush()
