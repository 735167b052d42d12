"""Truth physics of the GPS simulator's calm driver, and episodes it must refuse."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from analytics.driving.zones import ZoneIndex
from citytrack.config import (
    DEFAULT_CONFIG_NAME,
    REPO_CONFIG_DIR,
    CitytrackConfig,
    EpisodePlan,
    Truck,
    load_config,
)
from firmware_sim.gps import TruckSimulator, TruthEpoch
from firmware_sim.route import Route
from firmware_sim.scripts import ScenarioError

START = datetime(2025, 6, 2, 0, 30, tzinfo=UTC)
RATE_HZ = 5.0
CALM_ACCEL_MAX_MPS2 = 1.6


@pytest.fixture(scope="module")
def cfg() -> CitytrackConfig:
    return load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)


def calm(truck: Truck) -> Truck:
    return truck.model_copy(update={"episodes": []})


def drive(cfg: CitytrackConfig, truck: Truck, seconds: float, seed: int = 7) -> list[TruthEpoch]:
    sim = TruckSimulator(truck, cfg.city, cfg.sim, seed=seed, start_time=START, rate_hz=RATE_HZ)
    return [sim.step().truth for _ in range(int(seconds * RATE_HZ))]


@pytest.fixture(scope="module")
def calm_runs(cfg: CitytrackConfig) -> dict[str, list[TruthEpoch]]:
    """Every demo truck without its episodes, 240 s of driving."""
    return {t.device_id: drive(cfg, calm(t), 240.0) for t in cfg.city.trucks}


def test_calm_driving_never_brakes_or_accelerates_hard(
    calm_runs: dict[str, list[TruthEpoch]],
) -> None:
    for device, truth in calm_runs.items():
        v = np.array([e.speed_mps for e in truth])
        accel = np.diff(v) * RATE_HZ
        assert np.max(accel) <= CALM_ACCEL_MAX_MPS2, device
        assert np.min(accel) >= -CALM_ACCEL_MAX_MPS2, device
        assert np.max(accel) > 0.9, f"{device} never drove"
    braked = [np.min(np.diff([e.speed_mps for e in t])) * RATE_HZ for t in calm_runs.values()]
    assert min(braked) < -1.2  # the calm deceleration was exercised, too


def test_calm_driving_keeps_under_limit_plus_tolerance(
    cfg: CitytrackConfig, calm_runs: dict[str, list[TruthEpoch]]
) -> None:
    zones = ZoneIndex(cfg.city.speed_zones, cfg.city.default_road_limit_kmh)
    tolerance = cfg.detectors.speeding.tolerance_kmh
    for device, truth in calm_runs.items():
        lat = np.array([e.lat_deg for e in truth])
        lon = np.array([e.lon_deg for e in truth])
        kmh = np.array([e.speed_mps for e in truth]) * 3.6
        limits = zones.limits_kmh(lat, lon)
        assert np.all(kmh <= limits + tolerance), device
        truck = cfg.city.truck(device)
        assert truck is not None
        assert np.max(kmh) == pytest.approx(truck.cruise_kmh, abs=0.5), device


def test_school_zones_are_entered_slowly(
    cfg: CitytrackConfig, calm_runs: dict[str, list[TruthEpoch]]
) -> None:
    """Look-ahead: the truck is already down to limit - 5 km/h where the zone begins."""
    zones = ZoneIndex(cfg.city.speed_zones, cfg.city.default_road_limit_kmh)
    entered = 0
    for truth in calm_runs.values():
        for e in truth:
            limit = zones.limit_at(e.lat_deg, e.lon_deg)
            if limit.zone_kind == "school_zone":
                entered += 1
                assert e.speed_mps * 3.6 <= limit.limit_kmh - 5.0 + 1e-6
    assert entered > 0


def metres_from(route: Route, truth: list[TruthEpoch], s_m: float) -> np.ndarray:
    """Distance of each truth position from the route point at ``s_m``, m."""
    x, y = route.to_local(
        np.array([e.lat_deg for e in truth]), np.array([e.lon_deg for e in truth])
    )
    px, py = route.xy_at(s_m)
    return np.asarray(np.hypot(x - px, y - py))


def test_corners_are_taken_slowly(
    cfg: CitytrackConfig, calm_runs: dict[str, list[TruthEpoch]]
) -> None:
    """The epochs on either side of a turn are both at about 15 km/h."""
    passed = 0
    for device, truth in calm_runs.items():
        truck = cfg.city.truck(device)
        assert truck is not None
        route = Route.from_truck(truck, cfg.city)
        v = np.array([e.speed_mps for e in truth])
        course = np.array([e.course_deg for e in truth])
        for corner in route.corners:
            before, after = route.course_at(corner.s_m - 1.0), route.course_at(corner.s_m + 1.0)
            near = metres_from(route, truth, corner.s_m) < 3.0
            turns = np.flatnonzero((course[:-1] == before) & (course[1:] == after) & near[:-1])
            for k in turns:
                passed += 1
                # one 0.2 s epoch away at 1.3 m/s^2 at most
                assert max(v[k], v[k + 1]) <= 15.0 / 3.6 + 0.3, (device, corner)
    assert passed >= 8


def test_trucks_dwell_at_collection_points(
    cfg: CitytrackConfig, calm_runs: dict[str, list[TruthEpoch]]
) -> None:
    dwells = 0
    for device, truth in calm_runs.items():
        truck = cfg.city.truck(device)
        assert truck is not None
        route = Route.from_truck(truck, cfg.city)
        v = np.array([e.speed_mps for e in truth])
        for stop in route.stops:
            at_stop = (metres_from(route, truth, stop.s_m) < 0.1) & (v == 0.0)
            if not at_stop.any():
                continue  # not reached within the run
            dwells += 1
            seconds = at_stop.sum() / RATE_HZ
            assert cfg.sim.dwell_s <= seconds <= cfg.sim.dwell_s + 2 / RATE_HZ, (device, stop)
    assert dwells >= 5


def test_truth_stays_on_the_route(cfg: CitytrackConfig) -> None:
    for truck in cfg.city.trucks:
        truth = drive(cfg, truck, 60.0)
        route = Route.from_truck(truck, cfg.city)
        d = route.distance_m(
            np.array([e.lat_deg for e in truth]), np.array([e.lon_deg for e in truth])
        )
        assert np.max(d) < 0.01, truck.device_id


def test_a_speeding_zone_episode_off_every_school_zone_is_refused(cfg: CitytrackConfig) -> None:
    truck = cfg.city.truck("truck-04")  # Chuo-odori and back: no school zone on the way
    assert truck is not None
    bad = truck.model_copy(update={"episodes": [EpisodePlan(kind="speeding_zone", at_s=5)]})
    with pytest.raises(ScenarioError, match="never enters a school zone") as err:
        TruckSimulator(bad, cfg.city, cfg.sim, seed=1, start_time=START)
    assert err.value.device_id == "truck-04"
    assert err.value.kind == "speeding_zone"


def test_harsh_braking_needs_a_truck_that_drives_fast_enough(cfg: CitytrackConfig) -> None:
    truck = cfg.city.trucks[0].model_copy(update={"cruise_kmh": 20.0})
    with pytest.raises(ScenarioError, match="harsh braking"):
        TruckSimulator(truck, cfg.city, cfg.sim, seed=1, start_time=START)


def test_naive_start_time_is_refused(cfg: CitytrackConfig) -> None:
    with pytest.raises(ValueError, match="timezone"):
        TruckSimulator(
            cfg.city.trucks[0], cfg.city, cfg.sim, seed=1, start_time=datetime(2025, 1, 1)
        )
