"""Road speed limits: OSM maxspeed, matching by heading, zones on top, the Osaka roads file."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from analytics.driving.detectors import VehicleDetectors
from analytics.driving.findings import to_alert
from analytics.driving.roads import (
    RoadIndex,
    RoadsError,
    limit_lookup,
    load_roads,
    parse_maxspeed,
    parse_roads,
)
from analytics.driving.speeding import SpeedingState
from analytics.driving.speeding import flush as speeding_flush
from analytics.driving.speeding import step as speeding_step
from analytics.driving.zones import ZoneIndex
from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, SpeedZone, Truck, load_config
from citytrack.wire import Fix
from evaluation.episodes import match_episodes
from firmware_sim.gps import TruckSimulator
from tests.gnss_tracks import reported_fixes

CONFIG = load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)
CITY = CONFIG.city
ZONES = ZoneIndex(CITY.speed_zones, CITY.default_road_limit_kmh)
START = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
M_PER_DEG_LAT = math.radians(1.0) * 6_371_008.8
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(34.68))
CHUO_ODORI = 34.6830  # lat of the E-W avenue; a N-S side street crosses at SIDE_LON
SIDE_LON = 135.4950
EAST, NORTH, SOUTH, WEST = 90.0, 0.0, 180.0, 270.0


def feature(coords_latlon: list[tuple[float, float]], **props: Any) -> dict[str, Any]:
    coords = [[lon, lat] for lat, lon in coords_latlon]
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "LineString", "coordinates": coords},
    }


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def grid(**side_props: Any) -> RoadIndex:
    """Chuo-odori (60, E-W) and a side street (30, N-S) crossing it; no zones."""
    avenue = feature([(CHUO_ODORI, 135.4860), (CHUO_ODORI, 135.5170)], id="chuo", maxspeed="60")
    side = feature([(34.6800, SIDE_LON), (34.6860, SIDE_LON)], id="side", **side_props)
    return RoadIndex(parse_roads(collection(avenue, side)), ZoneIndex([], 60), 60)


def north_of(lat: float, metres: float) -> float:
    return lat + metres / M_PER_DEG_LAT


def east_of(lon: float, metres: float) -> float:
    return lon + metres / M_PER_DEG_LON


# --- OSM maxspeed ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kmh"),
    [
        ("50", 50.0),
        (50, 50.0),
        (40.0, 40.0),
        ("50 km/h", 50.0),
        ("50kmh", 50.0),
        ("30 mph", 30 * 1.609344),
        ("10 knots", 18.52),
        ("60;40", 40.0),
        (" 40 ", 40.0),
    ],
)
def test_osm_maxspeed_values_become_kmh(value: object, kmh: float) -> None:
    assert parse_maxspeed(value) == pytest.approx(kmh)


@pytest.mark.parametrize("value", ["none", "walk", "JP:urban", "", "0", "fast", True, -5, None])
def test_maxspeed_that_is_not_a_speed_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="maxspeed"):
        parse_maxspeed(value)


# --- loading ----------------------------------------------------------------------------------


def test_a_feature_without_maxspeed_or_line_is_refused_by_index() -> None:
    good = feature([(34.68, 135.49), (34.69, 135.49)], maxspeed="40")
    with pytest.raises(RoadsError) as exc:
        parse_roads(collection(good, feature([(34.68, 135.49), (34.69, 135.49)])), source="x")
    assert exc.value.feature == 1 and "maxspeed" in str(exc.value)
    point = {"type": "Feature", "properties": {"maxspeed": "40"}, "geometry": {"type": "Point"}}
    with pytest.raises(RoadsError, match="LineString") as exc:
        parse_roads(collection(point))
    assert exc.value.feature == 0
    with pytest.raises(RoadsError, match="FeatureCollection"):
        parse_roads({"type": "Polygon"})


def test_load_roads_names_the_file_it_cannot_use(tmp_path: Path) -> None:
    missing = tmp_path / "none.geojson"
    with pytest.raises(RoadsError, match=r"none\.geojson") as exc:
        load_roads(missing)
    assert exc.value.source == str(missing)
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(RoadsError, match="not JSON"):
        load_roads(broken)


def test_ids_names_oneway_and_multilinestrings_are_read(tmp_path: Path) -> None:
    multi = {
        "type": "Feature",
        "id": 7,
        "properties": {"name": "Two parts", "maxspeed": "40", "oneway": "-1"},
        "geometry": {
            "type": "MultiLineString",
            "coordinates": [[[135.49, 34.68], [135.50, 34.68]], [[135.51, 34.68], [135.52, 34.68]]],
        },
    }
    named = feature([(34.67, 135.49), (34.67, 135.50)], name="Named", maxspeed=30)
    anonymous = feature([(34.66, 135.49), (34.66, 135.50)], maxspeed="30", oneway="yes")
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps(collection(multi, named, anonymous)), encoding="utf-8")
    roads = load_roads(path)
    assert [r.id for r in roads] == ["7", "7", "Named", "road-2"]
    assert [r.oneway for r in roads] == [True, True, False, True]
    assert roads[0].points == ((34.68, 135.50), (34.68, 135.49))  # "-1": drawn backwards
    assert roads[3].points == ((34.66, 135.49), (34.66, 135.50))


# --- matching ---------------------------------------------------------------------------------


def test_a_fix_on_the_avenue_heading_east_gets_the_avenue_limit() -> None:
    index = grid(maxspeed="30")
    limit = index.limit_for(north_of(CHUO_ODORI, 3), 135.5050, EAST)
    assert (limit.limit_kmh, limit.zone_id, limit.zone_kind) == (60, "chuo", "road")
    assert index.limit_for(north_of(CHUO_ODORI, -4), 135.5050, WEST + 10).zone_id == "chuo"


def test_the_heading_decides_between_crossing_roads_not_the_distance() -> None:
    index = grid(maxspeed="30")
    # 10 m north of the avenue, 3 m east of the side street
    lat, lon = north_of(CHUO_ODORI, 10), east_of(SIDE_LON, 3)
    assert index.limit_for(lat, lon, NORTH).zone_id == "side"
    assert index.limit_for(lat, lon, SOUTH - 20).zone_id == "side"
    assert index.limit_for(lat, lon, EAST).zone_id == "chuo"  # the nearer side street runs N-S
    assert index.limit_for(lat, lon, None).zone_id == "side"  # at rest: the nearest road
    across = index.limit_for(lat, lon, 45.0)  # diagonal: neither road agrees
    assert (across.limit_kmh, across.zone_kind) == (60, "default")


def test_a_fix_off_the_avenue_heading_north_on_no_known_road_is_not_the_avenue() -> None:
    index = RoadIndex(load_roads(CITY.roads_geojson or ""), ZONES, 60)
    limit = index.limit_for(north_of(CHUO_ODORI, 10), 135.4950, NORTH)
    assert limit.zone_id != "chuo-odori" and limit.zone_kind == "default"
    assert index.limit_for(north_of(CHUO_ODORI, 10), 135.4950, EAST).zone_id == "chuo-odori"
    assert index.limit_for(north_of(CHUO_ODORI, 25), 135.4950, EAST).zone_kind == "default"


def test_one_way_roads_match_only_in_their_direction() -> None:
    for oneway, along, against in (("yes", NORTH, SOUTH), ("-1", SOUTH, NORTH)):
        index = grid(maxspeed="30", oneway=oneway)
        lat, lon = north_of(CHUO_ODORI, 40), SIDE_LON
        assert index.limit_for(lat, lon, along).zone_id == "side"
        assert index.limit_for(lat, lon, against).zone_kind == "default"
    two_way = grid(maxspeed="30", oneway="no")
    lat, lon = north_of(CHUO_ODORI, 40), SIDE_LON
    assert two_way.limit_for(lat, lon, NORTH).zone_id == two_way.limit_for(lat, lon, SOUTH).zone_id


def school_zone(limit_kmh: float = 30) -> SpeedZone:
    lat0, lat1 = north_of(CHUO_ODORI, 20), north_of(CHUO_ODORI, 200)
    lon0, lon1 = east_of(SIDE_LON, -30), east_of(SIDE_LON, 30)
    polygon = [(lat0, lon0), (lat0, lon1), (lat1, lon1), (lat1, lon0)]
    return SpeedZone(
        id="zone", name="school", kind="school_zone", limit_kmh=limit_kmh, polygon=polygon
    )


def test_the_strictest_of_road_and_zone_wins_and_a_zone_wins_a_tie() -> None:
    avenue = feature([(34.6800, SIDE_LON), (34.6860, SIDE_LON)], id="wide", maxspeed="50")
    roads = parse_roads(collection(avenue))
    inside = (north_of(CHUO_ODORI, 100), SIDE_LON)
    for zone_kmh, expected in (
        (30, ("zone", 30, "school_zone")),
        (50, ("zone", 50, "school_zone")),
    ):
        index = RoadIndex(roads, ZoneIndex([school_zone(zone_kmh)], 60), 60)
        got = index.limit_for(*inside, NORTH)
        assert (got.zone_id, got.limit_kmh, got.zone_kind) == expected
    lax_zone = RoadIndex(roads, ZoneIndex([school_zone(60)], 60), 60)
    assert lax_zone.limit_for(*inside, NORTH).zone_id == "wide"
    no_road = RoadIndex(roads, ZoneIndex([school_zone()], 60), 60)
    assert no_road.limit_for(inside[0], east_of(SIDE_LON, 25), EAST).zone_id == "zone"


def test_without_roads_the_zones_and_the_default_apply() -> None:
    index = RoadIndex([], ZONES, 55)
    assert index.limit_for(34.6620, 135.4985, NORTH).zone_id == "zone30-naniwa"
    assert index.limit_for(34.6830, 135.4950, EAST) == index.default
    assert index.default.limit_kmh == 55 and index.match(34.6830, 135.4950, None) is None


def test_limit_lookup_follows_the_configuration() -> None:
    on_avenue = fix_at(CHUO_ODORI, 135.4950, EAST)
    with_roads = limit_lookup(CITY)
    assert with_roads(on_avenue).zone_id == "chuo-odori"
    without = limit_lookup(CITY.model_copy(update={"roads_geojson": None}))
    assert without(on_avenue) == ZONES.limit_at(CHUO_ODORI, 135.4950)
    assert without(fix_at(34.6620, 135.4985, NORTH)).zone_id == "zone30-naniwa"


# --- the Osaka demo city ----------------------------------------------------------------------


def fix_at(lat: float, lon: float, course: float | None, seq: int = 1) -> Fix:
    return Fix(
        device_id="truck-04",
        seq=seq,
        fix_time=START,
        recv_time=START,
        lat_deg=lat,
        lon_deg=lon,
        speed_mps=10.0,
        course_deg=course,
    )


def test_the_osaka_roads_file_is_read_from_beside_the_config() -> None:
    assert CITY.roads_geojson is not None
    assert Path(CITY.roads_geojson).parent == REPO_CONFIG_DIR
    roads = load_roads(CITY.roads_geojson)
    assert len({r.id for r in roads}) == len(roads) >= 7
    limits = {r.id: r.maxspeed_kmh for r in roads}
    assert limits["chuo-odori"] == 60  # truck-04's scripted road speeding happens here
    assert limits["naniwa-residential-135.4985"] == 30


def test_osaka_school_zone_on_a_road_wins_and_the_road_applies_outside_it() -> None:
    lookup = limit_lookup(CITY)
    inside = lookup(fix_at(34.6620, 135.4985, NORTH))
    assert (inside.zone_id, inside.limit_kmh) == ("zone30-naniwa", 30)
    on_nagahori = lookup(fix_at(34.6745, 135.4930, WEST))
    assert (on_nagahori.zone_id, on_nagahori.limit_kmh) == ("nagahori-dori", 50)
    chuo_zone = lookup(fix_at(34.6800, 135.5095, NORTH))
    assert (chuo_zone.zone_id, chuo_zone.limit_kmh) == ("zone30-chuo", 30)


def simulate(truck: Truck, seconds: int, seed: int) -> tuple[TruckSimulator, list[Fix]]:
    sim = TruckSimulator(truck, CITY, CONFIG.sim, seed=seed, start_time=START)
    return sim, list(reported_fixes(sim, seconds))


@pytest.mark.parametrize("truck", CITY.trucks, ids=lambda t: t.device_id)
def test_every_demo_street_is_mapped_at_or_above_the_trucks_cruise_speed(truck: Truck) -> None:
    lookup = limit_lookup(CITY)
    _, fixes = simulate(truck, 900, seed=3)
    # corners are taken at 15 km/h, possibly on an arc that is on neither street
    along_streets = [f for f in fixes if (f.speed_mps or 0.0) * 3.6 >= 20.0]
    limits = [lookup(f) for f in along_streets]
    assert all(lim.zone_kind != "default" for lim in limits), "a demo street is missing"
    assert min(lim.limit_kmh for lim in limits if lim.zone_kind == "road") >= truck.cruise_kmh


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("truck", CITY.trucks, ids=lambda t: t.device_id)
def test_demo_speeding_with_road_limits_is_exactly_the_scripted_episodes(
    truck: Truck, seed: int
) -> None:
    lookup, cfg = limit_lookup(CITY), CONFIG.detectors.speeding
    sim, fixes = simulate(truck, 1200, seed)
    state, events = SpeedingState(), []
    for f in fixes:
        state, ended = speeding_step(state, f, lookup(f), cfg)
        events += ended
    events += speeding_flush(state, cfg)[1]
    alerts = [to_alert(e, truck.device_id, truck.driver_id) for e in events]
    labels = [lb for lb in sim.labels if lb.alert_kind == "speeding"]
    score = match_episodes(labels, alerts)
    assert score.as_dict() == {"detected": len(labels), "missed": 0, "false": 0}
    for label, alert in score.matched:
        if label.kind == "speeding_road":
            assert (alert.details.zone_id, alert.details.limit_kmh) == ("chuo-odori", 60)
        else:
            assert alert.details.zone_id == label.zone_id


@pytest.mark.parametrize("truck", CITY.trucks, ids=lambda t: t.device_id)
def test_plugged_into_the_vehicle_detectors_road_limits_change_only_speeding(truck: Truck) -> None:
    sim, fixes = simulate(truck, 900, seed=11)
    vclass = CITY.vehicle_classes[truck.vehicle_class]
    alerts = {}
    for name, lookup in (("zones", None), ("roads", limit_lookup(CITY))):
        detectors = VehicleDetectors(vclass, CONFIG.detectors.speeding, ZONES, limit_for=lookup)
        events = [e for f in fixes for e in detectors.step(f)] + detectors.flush()
        alerts[name] = [to_alert(e, truck.device_id, truck.driver_id) for e in events]
    others = {name: [a for a in found if a.kind != "speeding"] for name, found in alerts.items()}
    assert others["roads"] == others["zones"]
    speeding = [a for a in alerts["roads"] if a.kind == "speeding"]
    labels = [lb for lb in sim.labels if lb.alert_kind == "speeding"]
    score = match_episodes(labels, speeding)
    assert score.as_dict() == {"detected": len(labels), "missed": 0, "false": 0}
