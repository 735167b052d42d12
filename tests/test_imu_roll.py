"""The cab's roll, learnt from the receiver's course: cornering read at its true size."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from analytics.device.imu_calibration import LAT_GAIN_RANGE, LateralFit
from analytics.device.imu_harsh import ImuHarshDetector, ImuHarshEvent
from citytrack.config import load_config
from firmware_sim.accelerometer import Body, Mounting
from tests.gnss_tracks import Segment
from tests.imu_tracks import CALIBRATE, TURNS, drive, run

CLASSES = load_config().city.vehicle_classes
HEAVY = CLASSES["heavy"]
ROLLY = Body(pitch_deg_per_mps2=0.7, roll_deg_per_mps2=1.2)  # a soft cab: ~20 % more


def turn(share: float, threshold_mps2: float, *, speed_mps: float = 9.0) -> list[Segment]:
    """Cruise, a turn to the right held 3 s at ``share`` of the threshold (steered in and
    out over a second), cruise."""
    yaw_dps = math.degrees(share * threshold_mps2 / speed_mps)
    ramp = [(0.25, 0.0, k / 4 * yaw_dps) for k in range(1, 4)]
    return [(5.0, 0.0, 0.0), *ramp, (3.0, 0.0, yaw_dps), *ramp[::-1], (5.0, 0.0, 0.0)]


def cornering(events: list[ImuHarshEvent]) -> list[ImuHarshEvent]:
    return [e for e in events if e.kind == "harsh_cornering"]


def test_lateral_fit_is_neutral_without_turns_and_clipped() -> None:
    fit = LateralFit()
    assert fit.gain == 1.0
    for _ in range(50):
        fit.add(0.0, 0.2, 1.0)  # straight on a crowned road: no spread, no gain
    assert fit.gain == 1.0
    for k in range(200):
        x = 1.5 if k % 2 else -1.5
        fit.add(x, 0.2 + 2.0 * x, 1.0)  # a reading twice the truth: clipped
    assert fit.gain == pytest.approx(LAT_GAIN_RANGE[1], abs=0.01)


@pytest.mark.parametrize("seed", range(3))
def test_a_firm_turn_under_the_threshold_is_not_harsh_once_the_roll_is_learnt(seed: int) -> None:
    rng = np.random.default_rng(seed)
    segments = [*TURNS, *turn(0.9, HEAVY.harsh_cornering_mps2)]
    d = drive(segments, mounting=Mounting.random(rng), seed=seed, body=ROLLY)
    detector = ImuHarshDetector(HEAVY)
    assert cornering(run(detector, d)) == []
    assert 1.1 <= detector.lateral_gain <= 1.3
    assert detector.counters.course_windows > 50
    # fed speeds only (the old call), the roll is not corrected and the same turn is flagged
    assert len(cornering(run(ImuHarshDetector(HEAVY), d, courses=False))) == 1


@pytest.mark.parametrize("seed", range(3))
def test_a_harsh_turn_is_still_found_with_its_peak_near_the_truth(seed: int) -> None:
    rng = np.random.default_rng(seed)
    segments = [*TURNS, *turn(1.1, HEAVY.harsh_cornering_mps2)]
    d = drive(segments, mounting=Mounting.random(rng), seed=seed, body=ROLLY)
    events = cornering(run(ImuHarshDetector(HEAVY), d))
    assert [e.direction for e in events] == ["right"]
    # the filtered peak of a noisy reading: a few % high even on a rigid cab
    truth = 1.1 * HEAVY.harsh_cornering_mps2
    assert events[0].peak_mps2 == pytest.approx(truth, rel=0.12)
    uncorrected = cornering(run(ImuHarshDetector(HEAVY), d, courses=False))
    assert uncorrected[0].peak_mps2 > events[0].peak_mps2 + 0.05 * truth


def test_the_course_wrapping_through_north_is_a_turn_not_a_spin() -> None:
    # every calm turn crosses 359 -> 0 (the drive heads 350 degrees at the start)
    rng = np.random.default_rng(7)
    d = drive(TURNS, mounting=Mounting.random(rng), seed=7, body=ROLLY, course0=350.0)
    detector = ImuHarshDetector(HEAVY)
    assert cornering(run(detector, d)) == []
    assert 1.1 <= detector.lateral_gain <= 1.3


def test_courses_below_walking_pace_are_ignored() -> None:
    # crawling at 1 m/s the receiver's course is noise: here, any direction at all
    rng = np.random.default_rng(3)
    segments = [*CALIBRATE, (8.0, -1.0, 0.0), (30.0, 0.0, 0.0)]
    d = drive(segments, mounting=Mounting.random(rng), seed=3, body=ROLLY)
    crawl = d.gps_t_s >= d.gps_t_s[0] + sum(s[0] for s in CALIBRATE) + 8.0
    courses = [
        float(rng.uniform(0.0, 360.0)) if slow else c
        for slow, c in zip(crawl.tolist(), d.gps_course_deg, strict=True)
    ]
    noisy, quiet = ImuHarshDetector(HEAVY), ImuHarshDetector(HEAVY)
    run(noisy, replace(d, gps_course_deg=courses))
    run(quiet, d)
    assert noisy.counters.course_windows == quiet.counters.course_windows > 0
    assert noisy.lateral_gain == quiet.lateral_gain == pytest.approx(1.0, abs=0.02)
