"""The GPS simulator's route geometry: a closed polyline through the truck's waypoints."""

from __future__ import annotations

import numpy as np
import pytest

from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, CitytrackConfig, load_config
from citytrack.geo import distance_m
from firmware_sim.route import Route, Waypoint, waypoints_for


@pytest.fixture(scope="module")
def cfg() -> CitytrackConfig:
    return load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)


def test_loop_length_matches_great_circle_distances(cfg: CitytrackConfig) -> None:
    for truck in cfg.city.trucks:
        route = Route.from_truck(truck, cfg.city)
        w = list(route.waypoints)
        expected = sum(
            distance_m(a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg)
            for a, b in zip(w, w[1:] + w[:1], strict=True)
        )
        assert route.length_m == pytest.approx(expected, rel=1e-3), truck.device_id


def test_vertices_are_the_waypoints_and_the_route_loops(cfg: CitytrackConfig) -> None:
    truck = cfg.city.trucks[0]
    route = Route.from_truck(truck, cfg.city)
    lat, lon = route.latlon_at(route.vertex_s_m)
    want = waypoints_for(truck, cfg.city)
    assert np.allclose(lat, [p.lat_deg for p in want], atol=1e-9)
    assert np.allclose(lon, [p.lon_deg for p in want], atol=1e-9)
    lat_end, lon_end = route.latlon_at(route.length_m + 10.0)
    lat_start, lon_start = route.latlon_at(10.0)
    assert (float(lat_end), float(lon_end)) == pytest.approx((float(lat_start), float(lon_start)))


def test_course_follows_the_street_grid(cfg: CitytrackConfig) -> None:
    # truck-01: depot east along 34.6560, then north on Yotsubashi-suji, ... west, south
    route = Route.from_truck(cfg.city.trucks[0], cfg.city)
    s = route.vertex_s_m
    courses = [route.course_at(float(x) + 1.0) for x in s]
    assert courses == pytest.approx([90.0, 0.0, 0.0, 270.0, 180.0, 90.0], abs=0.5)


def test_stops_are_the_collection_points_named_in_the_route(cfg: CitytrackConfig) -> None:
    collection = {p.id for p in cfg.city.collection_points}
    for truck in cfg.city.trucks:
        route = Route.from_truck(truck, cfg.city)
        named = [w for w in truck.route if isinstance(w, str) and w in collection]
        assert [st.place_id for st in route.stops] == named
        for st in route.stops:
            place = cfg.city.place_ids()[st.place_id]
            lat, lon = route.latlon_at(st.s_m)
            assert distance_m(float(lat), float(lon), place.lat_deg, place.lon_deg) < 0.01


def test_right_angle_corners_are_found_and_straight_waypoints_are_not(
    cfg: CitytrackConfig,
) -> None:
    truck = cfg.city.truck("truck-03")
    assert truck is not None
    route = Route.from_truck(truck, cfg.city)
    # cp-05 sits on a straight piece of Sennichimae-dori: no corner there
    cp05 = next(st for st in route.stops if st.place_id == "cp-05")
    corner_s = [c.s_m for c in route.corners]
    assert len(corner_s) == 4
    assert all(abs(s - cp05.s_m) > 1.0 for s in corner_s)
    assert all(abs(abs(c.turn_deg) - 90.0) < 1.0 for c in route.corners)


def test_distance_to_route_is_zero_on_it_and_grows_off_it(cfg: CitytrackConfig) -> None:
    route = Route.from_truck(cfg.city.trucks[0], cfg.city)
    s = np.linspace(0.0, route.length_m, 50)
    lat, lon = route.latlon_at(s)
    assert np.max(route.distance_m(lat, lon)) < 1e-6
    # 0.0001 degree of latitude north of the east-west first leg: about 11.1 m
    d = route.distance_m(np.array([34.6561]), np.array([135.4945]))
    assert d[0] == pytest.approx(11.12, abs=0.05)


def test_repeated_waypoints_collapse_and_keep_the_stop() -> None:
    a, b, c = (34.0, 135.0), (34.001, 135.0), (34.001, 135.001)
    route = Route(
        [Waypoint(*a), Waypoint(*b), Waypoint(*b, "cp"), Waypoint(*c), Waypoint(*a)],
        frozenset({"cp"}),
    )
    assert len(route.waypoints) == 3
    assert [st.place_id for st in route.stops] == ["cp"]
    with pytest.raises(ValueError, match="two distinct"):
        Route([Waypoint(*a), Waypoint(*a)])
