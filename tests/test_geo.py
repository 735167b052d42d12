"""The one home of geodesy: Earth radius, haversine distance, local projection."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from citytrack.geo import (
    EARTH_RADIUS_M,
    M_PER_DEG,
    MAX_LAT_LON_ASPECT,
    LocalFrame,
    distance_between_m,
    distance_m,
    lat_lon_aspect,
)
from tests import gnss_tracks as g

NAMBA = (34.6660, 135.5010)
lat_in_city = st.floats(34.60, 34.72)
lon_in_city = st.floats(135.44, 135.56)


def test_a_degree_of_a_great_circle_is_about_111_km() -> None:
    assert round(M_PER_DEG, 2) == 111_195.08
    assert distance_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(M_PER_DEG, rel=1e-12)
    assert distance_m(0.0, 10.0, 0.0, 11.0) == pytest.approx(M_PER_DEG, rel=1e-12)


def test_distance_is_exact_at_any_range_and_across_the_antimeridian() -> None:
    assert distance_m(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert distance_m(90.0, 0.0, -90.0, 0.0) == pytest.approx(math.pi * EARTH_RADIUS_M)
    across = distance_m(10.0, 179.9999, 10.0, -179.9999)
    assert across == pytest.approx(0.0002 * M_PER_DEG * math.cos(math.radians(10.0)), rel=1e-6)
    assert distance_m(*NAMBA, *NAMBA) == 0.0


@dataclass(frozen=True)
class Place:
    lat_deg: float
    lon_deg: float


def test_distance_between_takes_anything_with_a_position() -> None:
    fix = g.fixes(g.cruise(10.0, 2.0, 1.0))[0]
    here = Place(fix.lat_deg, fix.lon_deg + 0.001)
    expected = distance_m(fix.lat_deg, fix.lon_deg, here.lat_deg, here.lon_deg)
    assert distance_between_m(fix, here) == expected > 90.0


@given(lat_in_city, lon_in_city, lat_in_city, lon_in_city)
def test_the_local_frame_measures_like_the_great_circle_within_a_city(
    lat1: float, lon1: float, lat2: float, lon2: float
) -> None:
    """Within about 10 km the projection's distances are within 0.2 % of the haversine's."""
    frame = LocalFrame((lat1 + lat2) / 2, lon1)
    x1, y1 = frame.to_xy(lat1, lon1)
    x2, y2 = frame.to_xy(lat2, lon2)
    assert math.hypot(x2 - x1, y2 - y1) == pytest.approx(
        distance_m(lat1, lon1, lat2, lon2), rel=2e-3, abs=1e-6
    )


@given(lat_in_city, lon_in_city)
def test_to_latlon_inverts_to_xy(lat: float, lon: float) -> None:
    frame = LocalFrame(*NAMBA)
    back = frame.to_latlon(*frame.to_xy(lat, lon))
    assert back == pytest.approx((lat, lon), abs=1e-12)


def test_the_frame_takes_arrays_as_it_takes_floats() -> None:
    frame = LocalFrame(*NAMBA)
    lat = np.array([34.60, 34.66, 34.70])
    lon = np.array([135.45, 135.50, 135.55])
    x, y = frame.to_xy(lat, lon)
    assert isinstance(x, np.ndarray) and x.shape == (3,)
    for i in range(3):
        assert (x[i], y[i]) == frame.to_xy(float(lat[i]), float(lon[i]))
    assert frame.to_xy(*NAMBA) == (0.0, 0.0)
    assert frame.to_xy(NAMBA[0] + 1.0, NAMBA[1])[1] == pytest.approx(M_PER_DEG)


def test_a_frame_around_a_point_moves_it_by_metres() -> None:
    lat, lon = LocalFrame(*NAMBA).to_latlon(30.0, 40.0)
    assert distance_m(*NAMBA, lat, lon) == pytest.approx(50.0, rel=1e-6)
    assert lat > NAMBA[0] and lon > NAMBA[1]


def test_lat_lon_aspect_is_one_over_cos_latitude_capped_near_the_poles() -> None:
    assert lat_lon_aspect(0.0) == pytest.approx(1.0)
    assert lat_lon_aspect(60.0) == pytest.approx(2.0)
    assert lat_lon_aspect(90.0) == MAX_LAT_LON_ASPECT
    assert lat_lon_aspect(NAMBA[0]) == pytest.approx(M_PER_DEG / LocalFrame(*NAMBA).m_per_deg_lon)
