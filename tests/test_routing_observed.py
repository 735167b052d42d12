"""Service times robust to outliers, travel times by hour band, and their fallbacks."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from analytics.routing.city import planning_band
from analytics.routing.observed import (
    RouteStats,
    ServiceEstimate,
    TravelObservation,
    Traversal,
    estimate_service,
    grid_distance_m,
    group_travel,
    traversals,
)
from analytics.routing.points import Site
from analytics.routing.stops import detect_dwells
from citytrack.config.routes import RoutesConfig
from tests.truck_days import Stop, simulate_day

TZ = ZoneInfo("Asia/Tokyo")
ROUTES = RoutesConfig()
LUNCH_S = 40 * 60.0


def test_median_service_time_shrugs_off_a_lunch_break() -> None:
    rng = np.random.default_rng(5)
    clean = list(rng.normal(90.0, 10.0, 15))
    with_lunch = [*clean, LUNCH_S]
    estimate = estimate_service("cp-101", with_lunch, None, default_s=60.0)
    assert estimate.method == "median"
    assert estimate.n_obs == 16
    assert estimate.source == "median of 16 dwells"
    assert abs(estimate.value_s - float(np.median(clean))) < 5.0
    # the mean is what a naive estimate would say: dragged by minutes
    assert float(np.mean(with_lunch)) - float(np.mean(clean)) > 120.0


def test_huber_fit_on_kg_resists_a_lunch_break_where_least_squares_does_not() -> None:
    rng = np.random.default_rng(9)
    kg = rng.uniform(50.0, 250.0, 24)
    durations = 30.0 + 0.4 * kg + rng.normal(0.0, 5.0, 24)
    kg = np.append(kg, 150.0)
    durations = np.append(durations, LUNCH_S)
    estimate = estimate_service("cp-101", list(durations), list(kg), default_s=60.0)
    assert estimate.method == "huber"
    assert estimate.slope_s_per_kg == pytest.approx(0.4, abs=0.05)
    assert estimate.at(200.0) == pytest.approx(110.0, abs=8.0)
    assert estimate.at(None) == estimate.value_s
    assert estimate.source == "Huber fit on kg over 25 dwells"
    slope, intercept = np.polyfit(kg, durations, 1)
    assert abs(intercept + slope * 200.0 - 110.0) > 50.0  # least squares: off by a minute+


def test_median_when_kg_does_not_vary_or_is_unknown_and_default_without_dwells() -> None:
    durations = [80.0, 90.0, 100.0] * 5
    flat = estimate_service("p", durations, [120.0] * 15, default_s=60.0)
    assert (flat.method, flat.value_s) == ("median", 90.0)
    unknown = estimate_service("p", durations, [120.0] * 14 + [None], default_s=60.0)
    assert unknown.method == "median"
    few = estimate_service("p", durations[:5], [50.0, 100.0, 150.0, 200.0, 250.0], default_s=60)
    assert few.method == "median"
    none = estimate_service("p", [], None, default_s=45.0)
    assert (none.method, none.value_s, none.n_obs, none.source) == ("default", 45.0, 0, "default")


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, 3, 2), time(hour, minute), tzinfo=TZ)


def _traversal(depart: datetime, duration_s: float, a: str = "A", b: str = "B") -> Traversal:
    return Traversal("truck-01", a, b, depart, depart + timedelta(seconds=duration_s), 900.0)


def test_traversals_group_by_departure_band() -> None:
    found = [
        _traversal(_at(8), 100),
        _traversal(_at(9, 59), 140),
        _traversal(_at(9, 30), 120),
        _traversal(_at(10), 200),
        _traversal(_at(16, 30), 300),
        _traversal(_at(23), 50),
        _traversal(_at(8), 70, "B", "A"),
    ]
    groups = group_travel(found, ROUTES.speed_profile_kmh, TZ)
    summary = [(g.from_id, g.to_id, g.band_start_h, g.duration_s, g.n_obs) for g in groups]
    assert summary == [
        ("A", "B", 7, 120.0, 3),
        ("A", "B", 10, 200.0, 1),
        ("A", "B", 16, 300.0, 1),
        ("A", "B", 19, 50.0, 1),
        ("B", "A", 7, 70.0, 1),
    ]


A = Site("A", "A", 34.6600, 135.4900)
B = Site("B", "B", 34.6650, 135.4960)


def test_lookup_uses_observations_only_with_enough_of_them() -> None:
    stats = RouteStats.for_config(
        ROUTES,
        travel=[
            TravelObservation("A", "B", 7, 150.0, 1200.0, 3),
            TravelObservation("B", "A", 7, 170.0, 1250.0, 2),
        ],
    )
    observed = stats.travel_between(A, B, 7)
    assert (observed.method, observed.duration_s, observed.n_obs) == ("observed", 150.0, 3)
    back = stats.travel_between(B, A, 7)
    grid_m = grid_distance_m(B, A)
    assert (back.method, back.n_obs) == ("fallback", 2)
    assert back.distance_m == pytest.approx(grid_m)
    assert back.duration_s == pytest.approx(grid_m / (16.0 / 3.6))  # the 7-10 h band speed
    other_band = stats.travel_between(A, B, 10)
    assert (other_band.method, other_band.n_obs) == ("fallback", 0)
    assert other_band.duration_s == pytest.approx(grid_m / (20.0 / 3.6))
    assert stats.travel_between(A, A, 7).duration_s == 0.0
    with pytest.raises(ValueError, match="no band start"):
        stats.travel_between(A, B, 8)


def test_fallback_is_l1_distance_times_detour() -> None:
    east_m = 6_371_008.8 * np.radians(0.006) * np.cos(np.radians(34.66))
    north_m = 6_371_008.8 * np.radians(0.005)
    assert grid_distance_m(A, B) == pytest.approx(east_m + north_m, rel=1e-3)
    assert grid_distance_m(A, B, 1.3) == pytest.approx(1.3 * (east_m + north_m), rel=1e-3)
    detour = RouteStats.for_config(ROUTES.model_copy(update={"detour_factor": 1.3}))
    assert detour.travel_between(A, B, 0).distance_m == pytest.approx(grid_distance_m(A, B, 1.3))


def test_service_lookup_defaults_for_unknown_points() -> None:
    learned = ServiceEstimate("cp-101", 95.0, 12, "median")
    stats = RouteStats.for_config(ROUTES, service=[learned])
    assert stats.service_for("cp-101") is learned
    assert stats.service_for("cp-999") == ServiceEstimate("cp-999", 60.0, 0, "default")


def test_traversals_on_a_simulated_day_measure_the_drive() -> None:
    stops = [Stop(A.lat_deg, A.lon_deg, 60), Stop(B.lat_deg, B.lon_deg, 60)]
    stops += [Stop(34.6680, 135.4960, 700), Stop(A.lat_deg, A.lon_deg, 60)]  # a long break
    sim = simulate_day("truck-01", date(2026, 3, 2), stops, np.random.default_rng(2))
    dwells = detect_dwells(sim.track, ROUTES)
    assert len(dwells) == 4
    labels = {dwells[0]: "A", dwells[1]: "B", dwells[3]: "A"}
    (drive,) = traversals(sim.track, dwells, labels)  # B -> A crosses the break: dropped
    assert (drive.from_id, drive.to_id) == ("A", "B")
    assert drive.distance_m == pytest.approx(grid_distance_m(A, B), rel=0.05)
    true_s = sim.truth[1].start_s - sim.truth[0].end_s
    assert drive.duration_s == pytest.approx(true_s, abs=4)


def test_planning_band_covers_most_of_the_shift() -> None:
    assert planning_band(ROUTES) == 10  # 08:30-16:30: 6 h in the 10-16 band
    early = ROUTES.model_copy(update={"shift_start": time(6), "shift_end": time(10, 30)})
    assert planning_band(early) == 7
