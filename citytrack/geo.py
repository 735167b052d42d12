"""Geodesy for a city: one Earth radius, one distance, one local projection.

Positions are WGS84 degrees (latitude north, longitude east); distances are metres on a
sphere of radius ``EARTH_RADIUS_M`` (the IUGG mean radius). Over a city the sphere is within
about 0.5 % of the ellipsoid, well below GNSS noise for what is measured here (trip lengths,
jumps between fixes, distances to a depot or a road).

- ``distance_m``: great-circle (haversine) distance between two positions; exact on the
  sphere at any range, across the antimeridian too. ``distance_between_m`` takes two objects
  with ``lat_deg`` and ``lon_deg`` (fixes, stops, places).
- ``LocalFrame``: the equirectangular projection around a reference point, (east, north)
  metres. A degree of latitude is ``M_PER_DEG`` metres everywhere, a degree of longitude
  ``M_PER_DEG * cos(lat0)``: straight lines in degrees stay straight in metres, so polygons
  and segments can be handled in either. East-west lengths at latitude ``lat`` come out
  ``cos(lat0) / cos(lat)`` times too long: off by under 0.02 % within 1 km (north or south)
  of ``lat0`` at 35 degrees, under 0.2 % within 10 km. Geometry within a city, not a country.
- ``lat_lon_aspect``: how much longer a degree of latitude is on the ground than a degree of
  longitude at a latitude (the y/x scale ratio of a plot at equal metric scale).

``LocalFrame`` works on floats and, unchanged, on numpy arrays (any value with arithmetic
by floats): this module imports nothing beyond the standard library, as it runs on vehicle
units and stations too. Pure: no I/O; nothing here raises for finite input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

EARTH_RADIUS_M = 6_371_008.8
"""IUGG mean Earth radius, m: the sphere every distance in citytrack is measured on."""
M_PER_DEG = math.radians(1.0) * EARTH_RADIUS_M
"""Length of one degree of a great circle (one degree of latitude), m."""
MAX_LAT_LON_ASPECT = 100.0
"""``lat_lon_aspect`` is capped here (within about 0.6 degrees of a pole)."""


class Located(Protocol):
    """Anything with a WGS84 position in degrees (a ``Fix``, a stop, a place)."""

    @property
    def lat_deg(self) -> float: ...

    @property
    def lon_deg(self) -> float: ...


class Coordinate(Protocol):
    """A float, or an array of them: what ``LocalFrame`` computes with."""

    def __add__(self, other: float, /) -> Self: ...

    def __sub__(self, other: float, /) -> Self: ...

    def __mul__(self, other: float, /) -> Self: ...

    def __truediv__(self, other: float, /) -> Self: ...


C = TypeVar("C", bound=Coordinate)


def distance_m(lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float) -> float:
    """Great-circle (haversine) distance between two WGS84 positions, m."""
    p1, p2 = math.radians(lat1_deg), math.radians(lat2_deg)
    dp, dl = p2 - p1, math.radians(lon2_deg - lon1_deg)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def distance_between_m(a: Located, b: Located) -> float:
    """``distance_m`` between two located objects (fixes, stops, places), m."""
    return distance_m(a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg)


def lat_lon_aspect(lat_deg: float) -> float:
    """Ground length of a degree of latitude over that of a degree of longitude at
    ``lat_deg``: ``1 / cos(lat)``, at most ``MAX_LAT_LON_ASPECT``."""
    return 1 / max(1 / MAX_LAT_LON_ASPECT, math.cos(math.radians(lat_deg)))


@dataclass(frozen=True)
class LocalFrame:
    """Equirectangular projection around (``lat0_deg``, ``lon0_deg``): (east, north) metres.

    ``to_xy`` and ``to_latlon`` are each other's inverse (to rounding) and accept floats or
    numpy arrays alike; a frame around a point also moves that point by metres
    (``LocalFrame(lat, lon).to_latlon(east_m, north_m)``).
    """

    lat0_deg: float
    lon0_deg: float

    @property
    def m_per_deg_lon(self) -> float:
        """Length of one degree of longitude at the reference latitude, m."""
        return M_PER_DEG * math.cos(math.radians(self.lat0_deg))

    def to_xy(self, lat_deg: C, lon_deg: C) -> tuple[C, C]:
        """WGS84 degrees to (east, north) metres from the reference point."""
        cos0 = math.cos(math.radians(self.lat0_deg))
        return (lon_deg - self.lon0_deg) * M_PER_DEG * cos0, (lat_deg - self.lat0_deg) * M_PER_DEG

    def to_latlon(self, east_m: C, north_m: C) -> tuple[C, C]:
        """(east, north) metres from the reference point to WGS84 (lat, lon) degrees."""
        return north_m / M_PER_DEG + self.lat0_deg, east_m / self.m_per_deg_lon + self.lon0_deg
