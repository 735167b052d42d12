"""Scripted episodes of the shipped demo trucks: they happen early, and the labels are true."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics.driving.roads import load_roads
from analytics.driving.zones import ZoneIndex
from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, CitytrackConfig, load_config
from firmware_sim.gps import TruckSimulator, TruthEpoch
from firmware_sim.labels import EpisodeLabel

START = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
DEMO_WINDOW_S = 50.0
TRUTH_HZ = 10.0
CONFIG = load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)
DEMO_TRUCKS = [t.device_id for t in CONFIG.city.trucks]


@pytest.fixture(scope="module")
def cfg() -> CitytrackConfig:
    return CONFIG


def run(
    cfg: CitytrackConfig, device_id: str, seed: int, seconds: float, rate_hz: float = TRUTH_HZ
) -> tuple[TruckSimulator, list[TruthEpoch]]:
    truck = cfg.city.truck(device_id)
    assert truck is not None
    sim = TruckSimulator(truck, cfg.city, cfg.sim, seed=seed, start_time=START, rate_hz=rate_hz)
    return sim, [sim.step().truth for _ in range(int(seconds * rate_hz))]


def seconds(t: datetime) -> float:
    return (t - START).total_seconds()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("device_id", DEMO_TRUCKS)
@pytest.mark.parametrize("rate_hz", [1.0, 10.0])
def test_each_demo_episode_is_played_and_labelled_within_the_demo_window(
    cfg: CitytrackConfig, device_id: str, seed: int, rate_hz: float
) -> None:
    sim, _ = run(cfg, device_id, seed, DEMO_WINDOW_S, rate_hz)
    truck = sim.truck
    assert truck.episodes, "every demo truck scripts an episode"
    assert sorted(lb.kind for lb in sim.labels) == sorted(p.kind for p in truck.episodes)
    for plan, label in zip(sorted(truck.episodes, key=lambda p: p.at_s), sim.labels, strict=True):
        assert label.device_id == device_id
        assert plan.at_s <= seconds(label.start) < seconds(label.end) <= DEMO_WINDOW_S


@pytest.mark.parametrize("device_id", DEMO_TRUCKS)
def test_labels_are_plausible_and_long_enough_to_detect(
    cfg: CitytrackConfig, device_id: str
) -> None:
    sim, _ = run(cfg, device_id, 5, DEMO_WINDOW_S)
    vehicle = cfg.city.vehicle_classes[sim.truck.vehicle_class]
    speeding = cfg.detectors.speeding
    zones = {z.id: z for z in cfg.city.speed_zones}
    assert cfg.city.roads_geojson is not None
    roads = {r.id: r.maxspeed_kmh for r in load_roads(cfg.city.roads_geojson)}
    for label in sim.labels:
        duration = (label.end - label.start).total_seconds()
        if label.kind == "harsh_braking":
            assert label.peak_value >= max(4.0, vehicle.harsh_braking_mps2 + 0.5)
            assert duration >= vehicle.min_duration_s
            assert label.zone_id not in zones  # on a road (its id) or the default, never a zone
        elif label.kind == "harsh_acceleration":
            assert label.peak_value >= max(3.0, vehicle.harsh_acceleration_mps2 + 0.5)
            assert duration >= vehicle.min_duration_s
        elif label.kind == "speeding_zone":
            assert label.zone_id is not None and zones[label.zone_id].kind == "school_zone"
            assert label.peak_value >= zones[label.zone_id].limit_kmh + 12.0
            assert duration >= speeding.min_duration_s + 3.0
        else:
            assert label.kind == "speeding_road"
            assert label.zone_id not in zones  # a road of the roads file, or the default
            limit = roads.get(label.zone_id or "", cfg.city.default_road_limit_kmh)
            assert label.peak_value >= limit + 18.0
            assert duration >= speeding.min_duration_s + 3.0


def accel_outside(label_windows: list[tuple[float, float]], truth: list[TruthEpoch]) -> np.ndarray:
    """Truth accelerations (m/s^2) between epochs that do not overlap any label window."""
    t = np.array([seconds(e.time) for e in truth])
    a = np.diff([e.speed_mps for e in truth]) * TRUTH_HZ
    keep = np.ones(len(a), dtype=bool)
    for start, end in label_windows:
        keep &= (t[1:] <= start) | (t[:-1] >= end)
    return a[keep]


@pytest.mark.parametrize("device_id", DEMO_TRUCKS)
def test_truth_is_beyond_the_threshold_inside_labels_and_calm_outside(
    cfg: CitytrackConfig, device_id: str
) -> None:
    sim, truth = run(cfg, device_id, 11, 70.0)
    vehicle = cfg.city.vehicle_classes[sim.truck.vehicle_class]
    zones = ZoneIndex(cfg.city.speed_zones, cfg.city.default_road_limit_kmh)
    tol = cfg.detectors.speeding.tolerance_kmh
    t = np.array([seconds(e.time) for e in truth])
    v = np.array([e.speed_mps for e in truth])
    over = (
        v * 3.6
        > zones.limits_kmh(
            np.array([e.lat_deg for e in truth]), np.array([e.lon_deg for e in truth])
        )
        + tol
    )
    windows = [(seconds(lb.start), seconds(lb.end)) for lb in sim.labels]
    inside_speeding = np.zeros(len(t), dtype=bool)
    for label, (start, end) in zip(sim.labels, windows, strict=True):
        inside = (t >= start) & (t <= end)
        if label.kind.startswith("speeding"):
            # 0.5 m of zone-boundary resolution and the 0.05 s integration step
            strictly = (t >= start + 0.2) & (t <= end - 0.2)
            assert strictly.sum() >= 50 and over[strictly].all()
            assert v[inside].max() * 3.6 == pytest.approx(label.peak_value, abs=0.5)
            inside_speeding |= (t >= start - 0.2) & (t <= end + 0.2)
        else:
            a = np.diff(v) * TRUTH_HZ
            threshold = (
                vehicle.harsh_braking_mps2
                if label.kind == "harsh_braking"
                else vehicle.harsh_acceleration_mps2
            )
            sign = -1.0 if label.kind == "harsh_braking" else 1.0
            pairs = sign * a[inside[1:] & inside[:-1]]
            assert pairs.size >= 5 and (pairs > threshold).all()
    assert not over[~inside_speeding].any()
    calm = accel_outside(windows, truth)
    assert np.abs(calm).max() <= 1.6


def test_labels_round_trip_through_json_lines(cfg: CitytrackConfig) -> None:
    sim, _ = run(cfg, "truck-03", 1, DEMO_WINDOW_S)
    for label in sim.labels:
        line = label.to_json()
        assert "\n" not in line
        back = EpisodeLabel.from_json(line)
        assert back == label
        assert back.start.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        '{"device_id": "t", "kind": "harsh_braking"}',
        (
            '{"device_id": "t", "kind": "drifting", "start": "2025-01-01T00:00:00+00:00",'
            ' "end": "2025-01-01T00:00:01+00:00", "peak_value": 1.0, "zone_id": null}'
        ),
        (
            '{"device_id": "t", "kind": "harsh_braking", "start": "2025-01-01T00:00:00",'
            ' "end": "2025-01-01T00:00:01", "peak_value": 1.0, "zone_id": null}'
        ),
    ],
)
def test_bad_label_lines_are_refused(line: str) -> None:
    with pytest.raises(ValueError):
        EpisodeLabel.from_json(line)


def test_pop_labels_hands_each_label_out_once(cfg: CitytrackConfig) -> None:
    truck = cfg.city.truck("truck-01")
    assert truck is not None
    sim = TruckSimulator(truck, cfg.city, cfg.sim, seed=1, start_time=START, rate_hz=2.0)
    popped: list[EpisodeLabel] = []
    for _ in range(100):
        sim.step()
        popped += sim.pop_labels()
    assert popped == sim.labels and len(popped) == 1
