"""The simulator's own speed-limit model, and its agreement with the hub's lookup.

The simulator drives against ``firmware_sim.limits``, which shares no code with
``analytics.driving.roads``; both implement the rule of ``docs/detection.md``. Along every
route the simulator drives, the two must give the same limit from the same source.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics.driving.roads import limit_lookup
from citytrack.config import (
    DEFAULT_CONFIG_NAME,
    REPO_CONFIG_DIR,
    CityConfig,
    ConfigError,
    SpeedZone,
    Truck,
    load_config,
)
from citytrack.geo import LocalFrame
from firmware_sim.gps import TruckSimulator
from firmware_sim.limits import CityLimits, Limit, parse_maxspeed, read_roads
from firmware_sim.route import Route
from firmware_sim.scenarios import TEMPLATES
from tests.test_analytics_roads import fix_at

CONFIG = load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)
CITY = CONFIG.city
START = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
STEP_M = 2.0  # along each route, m
BOUNDARY_M = 0.01  # a disagreement this close to a change of limit is rounding
ORIGIN = LocalFrame(34.6700, 135.5000)  # synthetic cities are drawn in metres around here


def key(limit: Any) -> tuple[float, str | None, str]:
    return (limit.limit_kmh, limit.zone_id, limit.zone_kind)


def truck(route: Sequence[Any], device_id: str = "probe") -> Truck:
    return Truck(
        device_id=device_id,
        name=device_id,
        driver_id="nobody",
        vehicle_class="heavy",
        route=list(route),
    )


def disagreements(city: CityConfig, route: Route, step_m: float = STEP_M) -> list[str]:
    """Points of ``route`` where the simulator's limit is not the hub's, except at the very
    boundaries of the simulator's own limits."""
    mine, hub = CityLimits.for_city(city), limit_lookup(city)
    s_m = np.arange(0.0, route.length_m, step_m)
    lat, lon = route.latlon_at(s_m)
    out = []
    for s, a, b, limit in zip(s_m, lat, lon, mine.along(route, s_m), strict=True):
        theirs = hub(fix_at(float(a), float(b), route.course_at(float(s))))
        if key(limit) == key(theirs):
            continue
        near = mine.along(route, np.array([s - BOUNDARY_M, s + BOUNDARY_M]))
        if key(near[0]) == key(near[1]):
            out.append(f"s={s:.1f} m: simulator {limit}, hub {theirs}")
    return out


def simulated_routes() -> dict[str, Route]:
    """Every configured truck's route as its simulator drives it, and the benchmark's loops
    both ways round."""
    routes = {
        t.device_id: TruckSimulator(t, CITY, CONFIG.sim, seed=1, start_time=START).route
        for t in CITY.trucks
    }
    for template in TEMPLATES:
        for name, corners in (("", template.corners), ("/reversed", template.corners[::-1])):
            routes[template.name + name] = Route.from_truck(truck(corners), CITY)
    return routes


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(simulated_routes()))
def test_the_simulator_drives_against_the_limits_the_hub_judges_by(name: str) -> None:
    route = simulated_routes()[name]
    assert disagreements(CITY, route) == []


def test_the_routes_cover_roads_zones_and_the_default() -> None:
    """The agreement above is worth something only if the routes meet every source."""
    limits = CityLimits.for_city(CITY)
    seen = set()
    for route in simulated_routes().values():
        seen |= {key(lim) for lim in limits.along(route, np.arange(0.0, route.length_m, 5.0))}
    kinds = {k[2] for k in seen}
    assert {"road", "school_zone", "default"} <= kinds
    assert {k[0] for k in seen if k[2] == "road"} == {30.0, 40.0, 50.0, 60.0}


def write_roads(tmp_path: Path, *features: dict[str, Any]) -> str:
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return str(path)


def road(xy_m: Sequence[tuple[float, float]], **props: Any) -> dict[str, Any]:
    """A LineString feature through (east, north) metres around ``ORIGIN``."""
    coords = [list(reversed(ORIGIN.to_latlon(x, y))) for x, y in xy_m]
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "LineString", "coordinates": coords},
    }


def at_m(x: float, y: float) -> list[float]:
    return list(ORIGIN.to_latlon(x, y))


def zone(limit_kmh: float, x0: float, x1: float, y0: float, y1: float) -> SpeedZone:
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return SpeedZone(
        id=f"zone{limit_kmh:g}",
        name="zone",
        kind="school_zone",
        limit_kmh=limit_kmh,
        polygon=[ORIGIN.to_latlon(x, y) for x, y in corners],
    )


def city_with(roads: str | None, zones: Sequence[SpeedZone] = ()) -> CityConfig:
    return CITY.model_copy(update={"roads_geojson": roads, "speed_zones": list(zones)})


@pytest.mark.parametrize("angle_deg", [0.0, 10.0, 29.5, 30.5, 45.0, 90.0, 149.5, 150.5, 180.0])
@pytest.mark.parametrize("oneway", ["no", "yes", "-1"])
def test_roads_crossed_at_any_angle_and_either_way(
    tmp_path: Path, angle_deg: float, oneway: str
) -> None:
    """A road drawn west to east, and a route out and back across its middle at an angle:
    heading tolerance, one-way roads, the 20 m reach and the road's ends."""
    main = road([(-300.0, 0.0), (300.0, 0.0)], id="main", maxspeed="40", oneway=oneway)
    side = road([(-300.0, 15.0), (300.0, 15.0)], id="side", maxspeed="30 mph")
    city = city_with(write_roads(tmp_path, main, side), [zone(30.0, 50.0, 150.0, -60.0, 60.0)])
    a = math.radians(angle_deg)
    ends = [
        (-450.0 * math.cos(a), -450.0 * math.sin(a)),
        (450.0 * math.cos(a), 450.0 * math.sin(a)),
    ]
    route = Route.from_truck(truck([at_m(x, y + 5.0) for x, y in ends]), city)
    assert disagreements(city, route, step_m=0.5) == []


def test_the_documented_rule_on_a_small_city(tmp_path: Path) -> None:
    """Nearest road, a zone on a tie, the lower limit when stricter, the default elsewhere."""
    roads = write_roads(
        tmp_path,
        road([(-500.0, 0.0), (0.0, 0.0)], id="fifty", maxspeed=50),
        road([(0.0, 0.0), (500.0, 0.0)], id="forty", maxspeed="40 km/h"),
        road([(-500.0, 12.0), (500.0, 12.0)], id="near", maxspeed="60"),
    )
    city = city_with(
        roads, [zone(40.0, 100.0, 200.0, -50.0, 50.0), zone(30.0, 300.0, 350.0, -50.0, 50.0)]
    )
    route = Route.from_truck(truck([at_m(-400.0, 2.0), at_m(450.0, 2.0), at_m(450.0, 400.0)]), city)
    limits = CityLimits.for_city(city)

    def along(s_m: float) -> Limit:
        return limits.along(route, np.array([s_m]))[0]

    assert key(along(100.0)) == (50.0, "fifty", "road")  # 2 m from it, 10 m from "near"
    assert key(along(450.0)) == (40.0, "forty", "road")
    assert key(along(550.0)) == (40.0, "zone40", "school_zone")  # equal: the zone
    assert key(along(725.0)) == (30.0, "zone30", "school_zone")  # stricter than the road
    assert key(along(1200.0)) == (CITY.default_road_limit_kmh, None, "default")  # north leg


@pytest.mark.parametrize(
    ("value", "kmh"),
    [
        (50, 50.0),
        (42.5, 42.5),
        ("50", 50.0),
        (" 50 km/h ", 50.0),
        ("50km/h", 50.0),
        ("30 mph", 30 * 1.609344),
        ("10 knots", 18.52),
        ("60;40", 40.0),
        ("30 mph;60", 30 * 1.609344),
    ],
)
def test_maxspeed_as_osm_writes_it(value: object, kmh: float) -> None:
    assert parse_maxspeed(value) == pytest.approx(kmh)


@pytest.mark.parametrize("value", ["none", "walk", "JP:urban", "signals", "", "0", -5, True, None])
def test_maxspeed_that_is_no_speed_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="maxspeed"):
        parse_maxspeed(value)


def test_road_ids_and_multilinestrings(tmp_path: Path) -> None:
    named = road([(0.0, 0.0), (10.0, 0.0)], name="Midosuji", maxspeed="50")
    anonymous = road([(0.0, 0.0), (10.0, 0.0)], maxspeed="40")
    multi = {
        "type": "Feature",
        "id": 7,
        "properties": {"maxspeed": "30", "oneway": "-1"},
        "geometry": {
            "type": "MultiLineString",
            "coordinates": [[[135.5, 34.67], [135.51, 34.67]], [[135.5, 34.68], [135.5, 34.69]]],
        },
    }
    roads = read_roads(write_roads(tmp_path, named, anonymous, multi))
    assert [(r.id, r.limit_kmh, r.direction) for r in roads] == [
        ("Midosuji", 50.0, 0),
        ("road-1", 40.0, 0),
        ("7", 30.0, -1),
        ("7", 30.0, -1),
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "cannot read roads"),
        ('["a list"]', "not a GeoJSON object"),
        ('{"type": "FeatureCollection"}', "not a GeoJSON FeatureCollection"),
    ],
)
def test_an_unusable_roads_file_is_named(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "roads.geojson"
    path.write_text(content)
    with pytest.raises(ConfigError, match=reason) as err:
        read_roads(path)
    assert err.value.path == path and err.value.key == ""


def test_an_unusable_feature_is_named_by_its_index(tmp_path: Path) -> None:
    good = road([(0.0, 0.0), (10.0, 0.0)], maxspeed="50")
    path = write_roads(tmp_path, good, road([(0.0, 0.0), (10.0, 0.0)], name="no limit"))
    with pytest.raises(ConfigError, match=r"features\[1\]: a road needs a maxspeed") as err:
        read_roads(path)
    assert err.value.key == "features[1]"
    with pytest.raises(ConfigError, match="cannot read roads"):
        read_roads(tmp_path / "missing.geojson")


def test_a_truck_in_a_city_with_a_broken_roads_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "roads.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [{"properties": {}}]}')
    with pytest.raises(ConfigError, match=r"features\[0\]"):
        TruckSimulator(CITY.trucks[0], city_with(str(path)), CONFIG.sim, seed=1, start_time=START)
