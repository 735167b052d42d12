"""The edge accelerometer detector: mounting learnt from the receiver's speed, one event per
harsh episode, nothing from calm driving however the sensor sits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.device.imu_harsh import ImuHarshDetector, ImuSample
from citytrack.config import load_config
from firmware_sim.accelerometer import G_MPS2, Body, ImuNoise, Mounting
from tests.gnss_tracks import T0
from tests.imu_tracks import CALIBRATE, drive, mountings, run

CFG = load_config()
HEAVY = CFG.city.vehicle_classes["heavy"]  # the lowest thresholds: the easiest to fool
CLASSES = sorted(CFG.city.vehicle_classes)
FEW = settings(max_examples=25, deadline=None)

gps_rates = st.sampled_from([1.0, 5.0, 10.0])
imu_rates = st.sampled_from([10.0, 25.0, 50.0, 100.0])


@FEW
@given(
    mounting=mountings,
    class_name=st.sampled_from(CLASSES),
    cruise_s=st.floats(20.0, 60.0),
    course0=st.floats(0.0, 360.0),
    gps_hz=gps_rates,
    imu_hz=imu_rates,
    seed=st.integers(0, 2**31),
)
def test_constant_speed_never_triggers_whatever_the_mounting(
    mounting: Mounting,
    class_name: str,
    cruise_s: float,
    course0: float,
    gps_hz: float,
    imu_hz: float,
    seed: int,
) -> None:
    detector = ImuHarshDetector(CFG.city.vehicle_classes[class_name])
    segments = [*CALIBRATE, (cruise_s, 0.0, 0.0)]
    d = drive(segments, mounting=mounting, seed=seed, imu_hz=imu_hz, gps_hz=gps_hz, course0=course0)
    assert run(detector, d) == []
    assert detector.calibrated  # the silence is the detector's, not a lack of calibration
    cal = detector.calibration
    assert cal is not None
    forward = mounting.matrix() @ [1.0, 0.0, 0.0]
    assert math.degrees(math.acos(min(1.0, float(forward @ cal.forward)))) < 8.0


@FEW
@given(
    mounting=mountings,
    decel=st.floats(4.2, 6.5),
    gps_hz=gps_rates,
    imu_hz=imu_rates,
    seed=st.integers(0, 2**31),
)
def test_a_harsh_stop_is_one_braking_event_with_a_rotated_mount(
    mounting: Mounting, decel: float, gps_hz: float, imu_hz: float, seed: int
) -> None:
    v = 9.0
    stop_s = v / decel
    brake_at = sum(s[0] for s in CALIBRATE) + 10.0
    segments = [*CALIBRATE, (10.0, 0.0, 0.0), (stop_s + 0.5, -decel, 0.0), (6.0, 0.0, 0.0)]
    d = drive(segments, mounting=mounting, seed=seed, imu_hz=imu_hz, gps_hz=gps_hz)
    events = run(ImuHarshDetector(HEAVY), d)
    assert [e.kind for e in events] == ["harsh_braking"], events
    (event,) = events
    t0 = T0.timestamp()
    assert abs(event.start_t_s - (t0 + brake_at)) < 0.4
    assert t0 + brake_at + stop_s - 1.0 < event.end_t_s < t0 + brake_at + stop_s + 0.3
    # The cab's nose dives (0.7 deg per m/s^2 by default: +12 %, more while it overshoots);
    # after a single pull-away the detector trusts little of the gain it fitted for that
    assert decel * 0.95 <= event.peak_mps2 <= decel * 1.25
    assert event.threshold_mps2 == HEAVY.harsh_braking_mps2


@pytest.mark.parametrize("turn", ["left", "right"])
@pytest.mark.parametrize("rolls", [False, True])
def test_a_fast_corner_is_one_cornering_event_that_knows_its_way(turn: str, rolls: bool) -> None:
    v, lateral = 9.0, 4.5  # CALIBRATE ends at 9 m/s; over the heavy class's 2.5 m/s^2
    yaw_dps = math.degrees(lateral / v) * (1 if turn == "right" else -1)
    segments = [*CALIBRATE, (5.0, 0.0, 0.0), (3.0, 0.0, yaw_dps), (5.0, 0.0, 0.0)]
    mounting = Mounting(yaw_deg=123.0, pitch_deg=3.0, roll_deg=-4.0, bias_mps2=(0.1, -0.2, 0.05))
    body = Body() if rolls else Body.rigid()
    events = run(ImuHarshDetector(HEAVY), drive(segments, mounting=mounting, seed=3, body=body))
    assert [(e.kind, e.direction) for e in events] == [("harsh_cornering", turn)]
    assert events[0].duration_s == pytest.approx(3.0, abs=0.4)
    if not rolls:
        assert events[0].peak_mps2 == pytest.approx(lateral, rel=0.1)
    else:  # the cab rolls out of the turn (1 deg per m/s^2): +17 %, more while it sways
        gain = 1.0 + G_MPS2 * math.radians(body.roll_deg_per_mps2)
        assert lateral * gain * 0.95 <= events[0].peak_mps2 <= lateral * gain * 1.2


def test_no_event_before_calibration_and_it_is_counted() -> None:
    # cruising since power-up, then a harsh corner: no change of speed to learn the axes from
    segments = [(10.0, 0.0, 0.0), (3.0, 0.0, math.degrees(4.5 / 8.0)), (5.0, 0.0, 0.0)]
    detector = ImuHarshDetector(HEAVY)
    events = run(detector, drive(segments, mounting=Mounting(yaw_deg=90.0), seed=1, v0=8.0))
    assert events == []
    assert not detector.calibrated
    assert detector.counters.uncalibrated_samples == detector.counters.samples > 0


def test_a_parked_truck_being_loaded_raises_nothing() -> None:
    # the crew's jolts (bumps while at rest) once the truck has stopped: speed gates them
    noise = ImuNoise(bumps_per_km=0.0)
    segments = [*CALIBRATE, (9.0, -1.0, 0.0), (30.0, 0.0, 0.0)]
    d = drive(segments, mounting=Mounting(yaw_deg=200.0), seed=5, noise=noise)
    parked = d.imu_t_s > d.imu_t_s[0] + sum(s[0] for s in segments[:-1]) + 1.0
    jolts = (d.imu_t_s * 2).astype(int) % 10 == 0  # 0.5 s of shaking every 5 s
    d.accel_mps2[parked & jolts, :2] += 4.0
    detector = ImuHarshDetector(HEAVY)
    assert run(detector, d) == []
    assert detector.calibrated


def test_samples_out_of_order_and_gaps_are_counted() -> None:
    detector = ImuHarshDetector(HEAVY)
    t = T0.timestamp()
    for dt in (0.0, 0.02, 0.01, 0.04, 1.5):
        detector.feed(ImuSample(t + dt, 0.0, 0.0, 9.8))
    assert (detector.counters.samples, detector.counters.out_of_order) == (4, 1)
    assert detector.counters.gaps == 1
