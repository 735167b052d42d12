"""A realistic accelerometer (road grade, a cab that pitches and rolls, bias drift,
vibration, potholes and humps) and an edge detector that stays right under it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.device.imu_harsh import ImuHarshDetector, ImuHarshEvent
from citytrack.config import load_config
from firmware_sim.accelerometer import (
    G_MPS2,
    Body,
    GradeProfile,
    ImuModel,
    ImuNoise,
    ImuSimulator,
    Mounting,
    Road,
)
from firmware_sim.corners import RoundedRoute
from firmware_sim.gps import TruckSimulator
from tests.gnss_tracks import Segment, motion
from tests.imu_tracks import CALIBRATE, WORK, Drive, drive, mountings, run

CFG = load_config()
CLASSES = CFG.city.vehicle_classes
HEAVY, LIGHT = CLASSES["heavy"], CLASSES["light"]
FEW = settings(max_examples=10, deadline=None)
PITCHY = Body(pitch_deg_per_mps2=1.0, roll_deg_per_mps2=1.4)  # the softest cab drawn


def at_speed(model: ImuModel, speed_mps: float, seconds: float) -> np.ndarray:
    """Readings of ``model`` (level mounting) driving straight at ``speed_mps``."""
    t = np.arange(0.0, seconds, 1.0 / model.rate_hz)
    v = np.full(t.size, speed_mps)
    return model.sense(t, v, np.zeros(t.size))


def distance_at(segments: Sequence[Segment], t_s: float) -> float:
    """How far (m) a drive of ``segments`` from rest has gone at ``t_s``."""
    m = motion(segments, v0=0.0, course0=0.0, rate_hz=100.0)
    return float(np.sum(m.speed_mps[m.t_s < t_s]) / 100.0)


def ramp(start_m: float, grade: float, length_m: float = 300.0) -> GradeProfile:
    """Level, then ``grade`` from ``start_m`` (over a 20 m vertical curve) for ``length_m``."""
    points = [(0.0, 0.0), (start_m, 0.0), (start_m + 20.0, grade)]
    points += [(start_m + length_m, grade), (start_m + length_m + 20.0, 0.0), (20_000.0, 0.0)]
    return GradeProfile.piecewise(points)


def constant(grade: float) -> GradeProfile:
    return GradeProfile.piecewise([(0.0, grade), (20_000.0, grade)])


def kinds(events: Sequence[ImuHarshEvent]) -> list[tuple[str, str | None]]:
    return [(e.kind, e.direction) for e in events]


# --- the sensor model -------------------------------------------------------------------


@pytest.mark.parametrize("grade", [-0.05, 0.03, 0.06])
def test_a_grade_is_gravity_along_the_forward_axis(grade: float) -> None:
    rng = np.random.default_rng(1)
    model = ImuModel(
        50.0, Mounting(), rng, ImuNoise.quiet(), body=Body.rigid(), road=constant(grade)
    )
    f = at_speed(model, 10.0, 10.0)
    assert f[:, 0].mean() == pytest.approx(G_MPS2 * math.sin(math.atan(grade)), abs=0.02)
    assert f[:, 2].mean() == pytest.approx(G_MPS2 * math.cos(math.atan(grade)), abs=0.02)


def test_the_cab_pitches_and_rolls_into_the_reading_and_sways() -> None:
    body = Body(pitch_deg_per_mps2=0.8, roll_deg_per_mps2=1.2, damping=0.3)
    rng = np.random.default_rng(2)
    model = ImuModel(100.0, Mounting(), rng, ImuNoise.quiet(), body=body, road=Road.flat())
    m = motion([(3.0, 0.0, 0.0), (4.0, -2.0, 0.0)], v0=10.0, course0=0.0, rate_hz=100.0)
    f = model.sense(m.t_s, m.speed_mps, m.course_deg)
    braking = f[(m.t_s > 5.5) & (m.t_s < 7.0), 0]
    expected = -2.0 + G_MPS2 * math.sin(math.radians(body.pitch_deg_per_mps2 * -2.0))
    assert braking.mean() == pytest.approx(expected, abs=0.03)  # 14 % more than -2.0
    assert f[m.t_s > 3.0, 0].min() < expected - 0.05  # the nose overshoots as it dives
    lateral = 3.0  # a left turn: the cab rolls right, the left side up
    segments = [(3.0, 0.0, 0.0), (4.0, 0.0, -math.degrees(lateral / 10.0))]
    m = motion(segments, v0=10.0, course0=0.0, rate_hz=100.0)
    model = ImuModel(100.0, Mounting(), rng, ImuNoise.quiet(), body=body, road=Road.flat())
    f = model.sense(m.t_s, m.speed_mps, m.course_deg)
    turning = f[(m.t_s > 5.5) & (m.t_s < 7.0), 1]
    roll = math.radians(body.roll_deg_per_mps2 * lateral)
    assert turning.mean() == pytest.approx(lateral + G_MPS2 * math.sin(roll), abs=0.05)


def test_the_road_of_a_route_is_plausible_for_osaka() -> None:
    profile = GradeProfile.draw(Road(), np.random.default_rng(3), 12_000.0)
    step = profile.s_m[1] - profile.s_m[0]
    assert 0.005 < float(np.std(profile.grade)) < 0.025
    assert float(np.max(np.abs(profile.grade))) < 0.07  # the ordinance's 5-7 %
    assert abs(float(np.sum(profile.grade)) * step) < 1.0  # a loop ends where it began (m)
    assert float(np.mean(profile.crossfall)) == pytest.approx(0.02, abs=0.002)
    assert {"hump", "joint"} <= set(profile.feature_kind)
    assert profile.features(11_990.0, 36_010.0)[0][0] > 11_990.0  # lap after lap


def test_vibration_grows_with_speed_and_potholes_come_with_distance() -> None:
    noise = ImuNoise(bumps_per_km=10.0, tempco_mps2_per_k=0.0)
    flat = {"body": Body.rigid(), "road": Road.flat()}
    parked = at_speed(ImuModel(50.0, Mounting(), np.random.default_rng(4), noise, **flat), 0, 60)
    model = ImuModel(50.0, Mounting(), np.random.default_rng(4), noise, **flat)
    moving = at_speed(model, 12.0, 250.0)  # 3 km
    assert float(np.std(parked[:, 2])) < 0.1 < 0.3 < float(np.std(moving[:, 2]))
    assert float(np.max(np.abs(parked[:, 2] - G_MPS2))) < 0.5  # no pothole at rest
    up = moving[:, 2] - G_MPS2 > 2.5
    jolts = int(np.sum(up[1:] & ~up[:-1]))
    assert 30 <= jolts <= 100  # 10 a km, each felt by both axles


def test_the_bias_drifts_with_temperature_but_stays_small() -> None:
    noise = replace(ImuNoise.quiet(), tempco_mps2_per_k=0.0049, white_mps2=0.0)
    model = ImuModel(10.0, Mounting(), np.random.default_rng(5), noise, road=Road.flat())
    f = at_speed(model, 0.0, 3600.0)
    drift = np.abs(f[-600:].mean(axis=0) - f[:600].mean(axis=0))
    assert 0.01 < float(np.max(drift)) < 0.4  # 10-30 K of warming at 0.5 mg/K (1-sigma)


def test_the_same_seed_gives_the_same_samples() -> None:
    truck = CFG.city.truck("truck-01")
    assert truck is not None
    start = datetime(2026, 5, 1, tzinfo=UTC)

    def samples(seed: int) -> np.ndarray:
        sim = TruckSimulator(
            truck, CFG.city, CFG.sim, seed=7, start_time=start, rate_hz=10.0, geometry=RoundedRoute
        )
        imu = ImuSimulator(sim, 25.0, seed=seed)
        out = []
        for _ in range(300):
            sim.step()
            out.append(imu.collect()[1])
        return np.concatenate(out)

    a, b, c = samples(1), samples(1), samples(2)
    assert np.array_equal(a, b)
    assert a.shape == c.shape and not np.allclose(a, c)


@pytest.mark.parametrize("rate", [5.0, 101.0])
def test_rates_outside_10_to_100_hz_are_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="10-100 Hz"):
        ImuModel(rate, Mounting(), np.random.default_rng(0))


# --- the detector under it --------------------------------------------------------------


@FEW
@given(
    mounting=mountings,
    grade=st.sampled_from([-0.06, -0.04, 0.04, 0.06]),
    speed_change=st.floats(-1.0, 1.0),
    seed=st.integers(0, 2**31),
)
def test_a_bridge_ramp_raises_nothing_and_its_grade_is_taken_off(
    mounting: Mounting, grade: float, speed_change: float, seed: int
) -> None:
    segments = [*CALIBRATE, (10.0, 0.0, 0.0), (3.0, speed_change, 0.0), (17.0, 0.0, 0.0)]
    road = ramp(distance_at(segments, 20.0), grade)
    detector = ImuHarshDetector(HEAVY)
    d = drive(segments, mounting=mounting, seed=seed, body=PITCHY, road=road)
    assert run(detector, d) == []
    assert detector.grade_correction_mps2 == pytest.approx(G_MPS2 * grade, abs=0.25)


def braking_downhill(decel: float, seed: int) -> Drive:
    """``WORK``, cruise onto a 5 % descent (7 s before braking), brake at ``decel``."""
    segments = [*WORK, (10.0, 0.0, 0.0), (3.0, -decel, 0.0), (6.0, 0.0, 0.0)]
    road = ramp(distance_at(segments, sum(s[0] for s in WORK) + 3.0), -0.05)
    mounting = Mounting.random(np.random.default_rng(seed))
    return drive(segments, mounting=mounting, seed=seed, body=PITCHY, road=road)


@pytest.mark.parametrize("seed", range(3))
def test_calm_braking_down_a_bridge_with_a_diving_cab_is_not_harsh(seed: int) -> None:
    # 2.4 m/s^2, under the heavy class's 3.0; the sensor reads 2.4 x 1.17 + 0.49 = 3.3
    d = braking_downhill(2.4, seed)
    detector = ImuHarshDetector(HEAVY)
    assert run(detector, d) == []
    cal = detector.calibration
    assert cal is not None
    assert cal.gain == pytest.approx(1 + G_MPS2 * math.radians(1.0), abs=0.06)


@pytest.mark.parametrize("seed", range(3))
def test_a_calm_climb_onto_a_bridge_is_not_a_harsh_acceleration(seed: int) -> None:
    # 1.9 m/s^2 up 5 %, under the heavy class's 2.2; the sensor reads 1.9 x 1.17 + 0.49 = 2.7
    segments = [*WORK, (3.0, -1.5, 0.0), (4.0, 0.0, 0.0), (3.0, 1.9, 0.0), (8.0, 0.0, 0.0)]
    road = ramp(distance_at(segments, sum(s[0] for s in WORK) + 1.0), 0.05)
    mounting = Mounting.random(np.random.default_rng(seed))
    d = drive(segments, mounting=mounting, seed=seed, body=PITCHY, road=road)
    assert run(ImuHarshDetector(HEAVY), d) == []


def test_a_deep_pothole_hit_by_both_axles_while_braking_is_not_harsh() -> None:
    # 12 m/s^2 up and 7 m/s^2 back for 0.2 s, twice (front, then rear axle 0.6 s later):
    # a 0.5 s mean would spread it into 1.1 s beyond 3.0 m/s^2 on top of calm braking
    segments = [*CALIBRATE, (5.0, 0.0, 0.0), (6.0, -1.5, 0.0), (5.0, 0.0, 0.0)]
    quiet, flat = ImuNoise.quiet(), Road.flat()
    d = drive(segments, mounting=Mounting(), seed=6, noise=quiet, body=Body.rigid(), road=flat)
    t = d.imu_t_s - d.imu_t_s[0]
    for hit in (25.0, 25.6):
        on = (t >= hit) & (t < hit + 0.2)
        shape = np.sin(np.pi * (t[on] - hit) / 0.2)
        d.accel_mps2[on, 0] -= 7.0 * shape
        d.accel_mps2[on, 2] += 12.0 * shape
    assert run(ImuHarshDetector(HEAVY), d) == []


@FEW
@given(
    speed=st.floats(3.0, 14.0),
    per_km=st.floats(5.0, 30.0),
    class_name=st.sampled_from(sorted(CLASSES)),
    seed=st.integers(0, 2**31),
)
def test_potholes_joints_and_humps_at_any_speed_raise_nothing(
    speed: float, per_km: float, class_name: str, seed: int
) -> None:
    change = (max(abs(speed - 9.0), 0.1), math.copysign(1.0, speed - 9.0), 0.0)  # calmly
    segments = [*CALIBRATE, change, (40.0, 0.0, 0.0), (5.0, -1.0, 0.0)]
    noise = ImuNoise(bumps_per_km=per_km)
    road = Road(humps_per_km=per_km, ramps_per_km=3.0)
    mounting = Mounting.random(np.random.default_rng(seed))
    d = drive(segments, mounting=mounting, seed=seed, noise=noise, road=road, body=PITCHY)
    assert run(ImuHarshDetector(CLASSES[class_name]), d) == []


@pytest.mark.parametrize("seed", range(2))
def test_scripted_episodes_are_still_found_on_grades_with_a_swaying_cab(seed: int) -> None:
    rng = np.random.default_rng(seed)
    body = Body.random(rng)
    # a harsh stop uphill reads less (threshold 3.0 + 1.0, minus 0.49)
    up = GradeProfile.piecewise([(0.0, 0.0), (100.0, 0.0), (120.0, 0.05), (20_000.0, 0.05)])
    segments = [*CALIBRATE, (10.0, 0.0, 0.0), (3.0, -4.0, 0.0), (6.0, 0.0, 0.0)]
    d = drive(segments, mounting=Mounting.random(rng), seed=seed, body=body, road=up)
    assert kinds(run(ImuHarshDetector(HEAVY), d)) == [("harsh_braking", None)]
    # a light truck launching hard downhill: threshold 3.4 + 0.6, minus 0.49
    down = GradeProfile.piecewise([(0.0, 0.0), (250.0, 0.0), (270.0, -0.05), (20_000.0, -0.05)])
    segments = [*WORK, (3.0, 4.0, 0.0), (8.0, 0.0, 0.0)]
    d = drive(segments, mounting=Mounting.random(rng), seed=seed, body=body, road=down)
    assert kinds(run(ImuHarshDetector(LIGHT), d)) == [("harsh_acceleration", None)]
    # a corner taken hard on a crowned road
    segments = [*CALIBRATE, (5.0, 0.0, 0.0), (3.0, 0.0, math.degrees(3.7 / 9.0)), (5.0, 0.0, 0.0)]
    d = drive(segments, mounting=Mounting.random(rng), seed=seed, body=body)
    assert kinds(run(ImuHarshDetector(HEAVY), d)) == [("harsh_cornering", "right")]
