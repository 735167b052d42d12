"""A truck's route as a closed polyline in local metres.

The route of a ``Truck`` is a list of waypoints: place ids (depot, disposal site, collection
points) or ``[lat, lon]`` road corners. The truck drives them in order and loops back to the
first. Geometry is an equirectangular projection around the route's centre
(``citytrack.geo.LocalFrame``): over a few kilometres its error (well under 0.1 %) is far
below GNSS noise.

Distances along the route (``s_m``) start at the first waypoint; any real ``s_m`` is
accepted and taken modulo the route length, so a truck can drive lap after lap.
Collection points named as waypoints are the route's stops. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from citytrack.config import CityConfig, Truck
from citytrack.geo import LocalFrame

CORNER_MIN_TURN_DEG = 30.0  # a change of heading above this is a corner to slow down for


@dataclass(frozen=True)
class Waypoint:
    """A point the route passes: WGS84 degrees, and the place id when it names one."""

    lat_deg: float
    lon_deg: float
    place_id: str | None = None


@dataclass(frozen=True)
class RouteStop:
    """A collection point on the route: its place id and distance along the route, m."""

    place_id: str
    s_m: float


@dataclass(frozen=True)
class Corner:
    """A turn at a waypoint: distance along the route (m) and change of heading (deg)."""

    s_m: float
    turn_deg: float


def waypoints_for(truck: Truck, city: CityConfig) -> list[Waypoint]:
    """Resolve a truck's route (place ids or [lat, lon]) into waypoints.

    Raises:
        KeyError: a place id that the city does not define.
    """
    places = city.place_ids()
    out: list[Waypoint] = []
    for item in truck.route:
        if isinstance(item, str):
            place = places[item]
            out.append(Waypoint(place.lat_deg, place.lon_deg, place.id))
        else:
            out.append(Waypoint(float(item[0]), float(item[1])))
    return out


class Route:
    """A closed polyline through waypoints, with positions and courses along it."""

    def __init__(self, waypoints: Sequence[Waypoint], stop_ids: frozenset[str] = frozenset()):
        """Build the loop; ``stop_ids`` are the place ids where the truck stops.

        Raises:
            ValueError: fewer than two distinct waypoints.
        """
        points = _distinct(waypoints)
        if len(points) < 2:
            raise ValueError("a route needs at least two distinct waypoints")
        self.waypoints: tuple[Waypoint, ...] = tuple(points)
        self.lat0_deg = float(np.mean([w.lat_deg for w in points]))
        self.lon0_deg = float(np.mean([w.lon_deg for w in points]))
        self.frame = LocalFrame(self.lat0_deg, self.lon0_deg)
        x, y = self.to_local(
            np.array([w.lat_deg for w in points]), np.array([w.lon_deg for w in points])
        )
        self._xy = np.column_stack([x, y])
        seg = np.roll(self._xy, -1, axis=0) - self._xy
        self._seg_len = np.hypot(seg[:, 0], seg[:, 1])
        self._seg_dir = seg / self._seg_len[:, None]
        self._seg_course = np.degrees(np.arctan2(seg[:, 0], seg[:, 1])) % 360.0
        self.vertex_s_m = np.concatenate([[0.0], np.cumsum(self._seg_len)[:-1]])
        self.length_m = float(np.sum(self._seg_len))
        self.stops: tuple[RouteStop, ...] = tuple(
            RouteStop(w.place_id, float(s))
            for w, s in zip(points, self.vertex_s_m, strict=True)
            if w.place_id is not None and w.place_id in stop_ids
        )
        self.corners: tuple[Corner, ...] = self._find_corners()

    @classmethod
    def from_truck(cls, truck: Truck, city: CityConfig) -> Route:
        """The truck's route; its collection-point waypoints are stops."""
        stop_ids = frozenset(p.id for p in city.collection_points)
        return cls(waypoints_for(truck, city), stop_ids)

    def _find_corners(self) -> tuple[Corner, ...]:
        out = []
        for i, s in enumerate(self.vertex_s_m):
            turn = (self._seg_course[i] - self._seg_course[i - 1] + 180.0) % 360.0 - 180.0
            if abs(turn) > CORNER_MIN_TURN_DEG:
                out.append(Corner(float(s), float(turn)))
        return tuple(out)

    # --- projection -----------------------------------------------------------------------

    def to_local(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 degrees to local (east, north) metres around the route centre."""
        return self.frame.to_xy(np.asarray(lat_deg), np.asarray(lon_deg))

    def to_latlon(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local (east, north) metres back to WGS84 (lat, lon) degrees."""
        return self.frame.to_latlon(np.asarray(x_m), np.asarray(y_m))

    # --- along the route ------------------------------------------------------------------

    def _segment(self, s_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.mod(s_m, self.length_m)
        i = np.clip(np.searchsorted(self.vertex_s_m, s, side="right") - 1, 0, len(self._xy) - 1)
        return i, s - self.vertex_s_m[i]

    def xy_at(self, s_m: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Local (east, north) metres at distances ``s_m`` along the route."""
        i, along = self._segment(np.asarray(s_m, dtype=float))
        xy = self._xy[i] + self._seg_dir[i] * np.asarray(along)[..., None]
        return xy[..., 0], xy[..., 1]

    def latlon_at(self, s_m: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 (lat, lon) degrees at distances ``s_m`` along the route."""
        return self.to_latlon(*self.xy_at(s_m))

    def course_at(self, s_m: float) -> float:
        """Heading of the route at ``s_m``: degrees true, clockwise from north."""
        return float(self.courses_at(np.asarray(s_m, dtype=float)))

    def courses_at(self, s_m: np.ndarray) -> np.ndarray:
        """Heading of the route at distances ``s_m`` (vectorised), degrees true; at a vertex,
        the heading of the segment that starts there."""
        i, _ = self._segment(np.asarray(s_m, dtype=float))
        return np.asarray(self._seg_course[i])

    def distance_m(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
        """Distance from points to the nearest point of the route, m (vectorised)."""
        x, y = self.to_local(np.atleast_1d(lat_deg), np.atleast_1d(lon_deg))
        p = np.column_stack([x, y])[:, None, :] - self._xy[None, :, :]
        along = np.clip(np.einsum("nsk,sk->ns", p, self._seg_dir), 0.0, self._seg_len)
        off = p - self._seg_dir[None] * along[..., None]
        return np.asarray(np.min(np.hypot(off[..., 0], off[..., 1]), axis=1))


def _distinct(waypoints: Sequence[Waypoint]) -> list[Waypoint]:
    """Drop repeated consecutive waypoints (and a last one equal to the first).

    A dropped duplicate hands its place id on, so a stop named twice stays a stop.
    """
    out: list[Waypoint] = []
    for w in waypoints:
        if out and (w.lat_deg, w.lon_deg) == (out[-1].lat_deg, out[-1].lon_deg):
            if out[-1].place_id is None:
                out[-1] = w
            continue
        out.append(w)
    if len(out) > 1 and (out[0].lat_deg, out[0].lon_deg) == (out[-1].lat_deg, out[-1].lon_deg):
        last = out.pop()
        if out[0].place_id is None:
            out[0] = last
    return out
