"""Children's ways to school: homes around a school and the polyline walked from each.

Geometry is an equirectangular projection around the watch area (``LocalFrame``, over
``citytrack.geo.LocalFrame``: error well under 0.1 % over a few kilometres), in local
(east, north) metres.

- Homes (``home_for``): with probability ``WalkModel.via_probability`` a home lies beyond
  one of the fixed roadside/area-boundary stations near the school, so that station is on
  the way; otherwise in a random direction, ``home_min_m``..``home_max_m`` from the gate.
- The way (``way_to_school``): home, then every roadside/area-boundary station within
  ``via_cone_deg`` of the home's bearing (seen from the gate) and nearer the gate than the
  home, farthest first, each passed at a lateral offset drawn from ``station_offset_m``;
  then the gate (same offset), then the school building ``BUILDING_OFFSET_M`` beyond the
  gate. With ``street_grid`` each leg is walked as an L (one corner), as on Osaka's grid.

Pure: no clock, no I/O, randomness from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from itertools import pairwise

import numpy as np

from citytrack import geo
from citytrack.config.watch import School, Station, WatchConfig

BUILDING_OFFSET_M = 30.0  # from the gate into the school grounds, where the child goes indoors
GRID_MIN_LEG_M = 20.0  # legs shorter than this along either axis are walked straight
VIA_BEARING_SIGMA_DEG = 8.0  # spread of homes around the bearing of their via station
VIA_MIN_GAP_M = 30.0  # a station this close to the home (or beyond it) is not on the way


@dataclass(frozen=True)
class WalkModel:
    """How children walk to school; times are local wall-clock times on the date."""

    speed_min_mps: float = 1.0
    speed_max_mps: float = 1.4
    depart_earliest: time = time(7, 20)
    depart_latest: time = time(7, 55)
    afternoon_earliest: time = time(15, 0)
    afternoon_latest: time = time(15, 30)
    home_min_m: float = 300.0
    home_max_m: float = 1000.0
    via_probability: float = 0.6
    via_beyond_m: tuple[float, float] = (80.0, 500.0)  # home distance beyond its via station
    via_cone_deg: float = 35.0
    station_offset_m: tuple[float, float] = (0.5, 3.0)  # lateral miss distance at a station
    street_grid: bool = True

    def __post_init__(self) -> None:
        """Raises: ValueError: an empty or reversed range."""
        if not 0 < self.speed_min_mps <= self.speed_max_mps:
            raise ValueError("need 0 < speed_min_mps <= speed_max_mps")
        if not 0 < self.home_min_m <= self.home_max_m:
            raise ValueError("need 0 < home_min_m <= home_max_m")
        if self.depart_latest < self.depart_earliest:
            raise ValueError("depart_latest is before depart_earliest")
        if self.afternoon_latest < self.afternoon_earliest:
            raise ValueError("afternoon_latest is before afternoon_earliest")


class LocalFrame:
    """``citytrack.geo.LocalFrame`` with points as numpy vectors: (east, north) metres."""

    def __init__(self, lat0_deg: float, lon0_deg: float) -> None:
        self.lat0_deg = lat0_deg
        self.lon0_deg = lon0_deg
        self._frame = geo.LocalFrame(lat0_deg, lon0_deg)

    def to_local(self, lat_deg: float, lon_deg: float) -> np.ndarray:
        """(east, north) metres of a point."""
        return np.array(self._frame.to_xy(lat_deg, lon_deg))

    def to_latlon(self, xy_m: np.ndarray) -> list[tuple[float, float]]:
        """(lat, lon) degrees of points given as (n, 2) or (2,) metres."""
        xy = np.atleast_2d(xy_m)
        lat, lon = self._frame.to_latlon(xy[:, 0], xy[:, 1])
        return [(float(a), float(b)) for a, b in zip(lat, lon, strict=True)]


class WalkPath:
    """An open polyline in local metres, walked from its first point to its last."""

    def __init__(self, xy_m: np.ndarray) -> None:
        """Raises: ValueError: fewer than two distinct points."""
        pts = np.asarray(xy_m, dtype=float).reshape(-1, 2)
        keep = np.concatenate([[True], np.any(np.diff(pts, axis=0) != 0.0, axis=1)])
        pts = pts[keep]
        if len(pts) < 2:
            raise ValueError("a walk needs at least two distinct points")
        self.xy_m = pts
        seg = np.diff(pts, axis=0)
        self._seg_len = np.hypot(seg[:, 0], seg[:, 1])
        self._dir = seg / self._seg_len[:, None]
        self._start_s = np.concatenate([[0.0], np.cumsum(self._seg_len)[:-1]])
        self.length_m = float(np.sum(self._seg_len))

    def xy_at(self, s_m: np.ndarray) -> np.ndarray:
        """Positions (n, 2), metres, at distances ``s_m`` along the way (clipped to its ends)."""
        s = np.clip(np.atleast_1d(np.asarray(s_m, dtype=float)), 0.0, self.length_m)
        i = np.clip(np.searchsorted(self._start_s, s, side="right") - 1, 0, len(self._dir) - 1)
        xy: np.ndarray = self.xy_m[i] + self._dir[i] * (s - self._start_s[i])[:, None]
        return xy

    def closest(self, points_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For points (m, 2): the distance along the way of the closest approach and the
        horizontal distance there, both metres (the first of equally close approaches)."""
        p = np.atleast_2d(points_m)[:, None, :] - self.xy_m[None, :-1, :]
        along = np.clip(np.einsum("msk,sk->ms", p, self._dir), 0.0, self._seg_len)
        off = p - self._dir[None] * along[..., None]
        dist = np.hypot(off[..., 0], off[..., 1])
        j = np.argmin(dist, axis=1)
        rows = np.arange(len(j))
        return self._start_s[j] + along[rows, j], dist[rows, j]

    def reversed(self) -> WalkPath:
        """The same way walked the other way round."""
        return WalkPath(self.xy_m[::-1])


def fixed_stations(watch: WatchConfig) -> tuple[Station, ...]:
    """Stations with a position (every kind but mobile)."""
    return tuple(s for s in watch.stations if s.lat_deg is not None and s.lon_deg is not None)


def watch_frame(watch: WatchConfig) -> LocalFrame:
    """A projection centred on the schools and fixed stations.

    Raises: ValueError: a watch with neither schools nor fixed stations."""
    pts = [(s.lat_deg, s.lon_deg) for s in watch.schools]
    pts += [(float(s.lat_deg or 0.0), float(s.lon_deg or 0.0)) for s in fixed_stations(watch)]
    if not pts:
        raise ValueError("the watch has no schools and no fixed stations")
    lat, lon = np.mean(np.array(pts), axis=0)
    return LocalFrame(float(lat), float(lon))


def _unit(bearing_rad: float) -> np.ndarray:
    """Unit (east, north) vector of a bearing, radians clockwise from north."""
    return np.array([math.sin(bearing_rad), math.cos(bearing_rad)])


def _bearing(v: np.ndarray) -> float:
    return math.atan2(float(v[0]), float(v[1]))


def _norm(v: np.ndarray) -> float:
    return float(np.hypot(v[0], v[1]))


class SchoolLayout:
    """A school's gate and building, and the stations that may lie on its children's ways.

    ``station_xy_m`` are the positions of ``stations`` (all fixed). Without a gate station
    the school's own position stands in for the gate (and no gate passage is recorded).
    """

    def __init__(
        self,
        school: School,
        frame: LocalFrame,
        stations: Sequence[Station],
        station_xy_m: np.ndarray,
    ) -> None:
        centre = frame.to_local(school.lat_deg, school.lon_deg)
        gates = [
            i
            for i, s in enumerate(stations)
            if s.kind == "school_gate" and s.school_id == school.id
        ]
        self.gate: np.ndarray = station_xy_m[gates[0]] if gates else centre
        inward = centre - self.gate
        if _norm(inward) < 1.0:
            inward = np.array([0.0, 1.0])
        self.building: np.ndarray = self.gate + inward / _norm(inward) * BUILDING_OFFSET_M
        self.via = [i for i, s in enumerate(stations) if s.kind in ("roadside", "area_boundary")]
        self.xy = station_xy_m


def home_for(lay: SchoolLayout, walk: WalkModel, rng: np.random.Generator) -> np.ndarray:
    """A home, (east, north) metres: beyond a nearby station, or anywhere around the gate."""
    near = [i for i in lay.via if _norm(lay.xy[i] - lay.gate) < walk.home_max_m]
    if near and rng.random() < walk.via_probability:
        v = lay.xy[near[int(rng.integers(len(near)))]] - lay.gate
        theta = _bearing(v) + math.radians(float(rng.normal(0.0, VIA_BEARING_SIGMA_DEG)))
        r = _norm(v) + float(rng.uniform(*walk.via_beyond_m))
    else:
        theta = float(rng.uniform(-math.pi, math.pi))
        r = float(rng.uniform(walk.home_min_m, walk.home_max_m))
    return lay.gate + r * _unit(theta)


def _beside(point: np.ndarray, walk: WalkModel, rng: np.random.Generator) -> np.ndarray:
    """A point passing ``point`` at a lateral offset drawn from ``station_offset_m``."""
    lateral = float(rng.uniform(*walk.station_offset_m))
    return point + lateral * _unit(float(rng.uniform(-math.pi, math.pi)))


def way_to_school(
    lay: SchoolLayout, home: np.ndarray, walk: WalkModel, rng: np.random.Generator
) -> WalkPath:
    """Home -> stations in the home's direction (farthest first) -> gate -> building."""
    h = home - lay.gate
    via = []
    for i in lay.via:
        v = lay.xy[i] - lay.gate
        off = abs((_bearing(v) - _bearing(h) + math.pi) % (2 * math.pi) - math.pi)
        if off <= math.radians(walk.via_cone_deg) and _norm(v) < _norm(h) - VIA_MIN_GAP_M:
            via.append((_norm(v), i))
    stops = [home] + [_beside(lay.xy[i], walk, rng) for _, i in sorted(via, reverse=True)]
    stops.append(_beside(lay.gate, walk, rng))
    points = [stops[0]]
    for a, b in pairwise(stops):
        d = b - a
        if walk.street_grid and min(abs(d[0]), abs(d[1])) > GRID_MIN_LEG_M:
            points.append(np.array([b[0], a[1]]) if rng.random() < 0.5 else np.array([a[0], b[1]]))
        points.append(b)
    points.append(lay.building)
    return WalkPath(np.array(points))
