"""Speed limits from road segments, matched by position and heading, under speed zones.

Roads come from GeoJSON: ``LineString`` (or ``MultiLineString``) features whose
``maxspeed`` property is the posted limit, OSM style (a number in km/h, or a string such
as ``"50"``, ``"50 km/h"``, ``"30 mph"``, ``"10 knots"``; ``"60;40"`` takes the lowest).
Optional properties: ``name``, ``oneway`` (OSM ``yes``/``true``/``1``: only in the
direction the line is drawn; ``-1``/``reverse``: only against it; anything else: both
ways) and ``id`` (else the feature's ``id``, else the name, else ``road-<index>``).

``RoadIndex.limit_for`` matches a fix to the nearest road segment within
``match_distance_m`` whose direction agrees with the fix's course (within
``heading_tolerance_deg``; either way along the segment unless the road is one-way), so a
side street crossing 10 m away does not decide the limit of a truck driving along the main
road. Speed zones (``ZoneIndex``: school zones, Zone 30) still apply, and the strictest
applicable limit wins; on a tie the zone is reported. No road matched and no zone: the
default limit. Without a course (a vehicle at rest) the nearest segment is taken.

Geometry is shapely in a local equirectangular projection around the road network's
centre (metres east and north): over a city's tens of kilometres its distance error is a
small fraction of a percent, far below GNSS noise. Candidate segments come from an
``STRtree``.

Pure except ``load_roads`` (reads one file, once, at start-up) and ``limit_lookup``
(which calls it).

Errors::

    RoadsError(ValueError)     a roads file or feature that cannot be used
      .source, .feature        the file (or "") and the feature index (or None)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from analytics.driving.zones import Limit, ZoneIndex
from citytrack.config import CityConfig
from citytrack.errors import InvalidInputError
from citytrack.geo import LocalFrame
from citytrack.wire import Fix

MATCH_DISTANCE_M = 20.0
"""A fix farther than this from every segment is on no known road, m."""
HEADING_TOLERANCE_DEG = 30.0
"""Largest difference between the fix's course and the segment's direction, degrees."""
KMH_PER_UNIT = {"": 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}
_MAXSPEED = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z/]*)$")
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_BACKWARD = frozenset({"-1", "reverse"})

LatLon = tuple[float, float]


class RoadsError(InvalidInputError):
    """A roads file or feature that cannot be used; names the file and the feature."""

    def __init__(self, reason: str, *, source: str = "", feature: int | None = None) -> None:
        where = source + (f": feature {feature}" if feature is not None else "")
        super().__init__(f"{where}: {reason}" if where else reason)
        self.source = source
        self.feature = feature
        self.reason = reason


@dataclass(frozen=True)
class Road:
    """A road (or one part of it) with its posted limit.

    ``points`` are (lat, lon) WGS84 degrees in drawing order; a ``oneway`` road is driven
    only in that order.
    """

    id: str
    name: str | None
    maxspeed_kmh: float
    oneway: bool
    points: tuple[LatLon, ...]


@dataclass(frozen=True)
class RoadMatch:
    """The road a fix was matched to, and how far from it the fix was, m."""

    road: Road
    distance_m: float


def parse_maxspeed(value: object) -> float:
    """An OSM ``maxspeed`` value in km/h: ``50``, ``"50"``, ``"50 km/h"``, ``"30 mph"``.

    Several values separated by ``;`` give the lowest.

    Raises:
        ValueError: not a positive speed with a known unit (``"none"``, ``"walk"``,
            ``"JP:urban"`` and the like are refused rather than guessed).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"maxspeed must be a number or a string, got {value!r}")
    if not isinstance(value, str):
        kmh = float(value)
    else:
        kmh = min(_parse_one(part) for part in value.split(";"))
    if not (math.isfinite(kmh) and kmh > 0):
        raise ValueError(f"maxspeed must be a positive speed, got {value!r}")
    return kmh


def _parse_one(text: str) -> float:
    found = _MAXSPEED.match(text.strip().lower())
    if found is None or found.group(2) not in KMH_PER_UNIT:
        raise ValueError(f"maxspeed {text!r} is not a speed in km/h, mph or knots")
    return float(found.group(1)) * KMH_PER_UNIT[found.group(2)]


def _oneway(value: object) -> int:
    """+1 one-way as drawn, -1 one-way against the drawing, 0 both ways."""
    if isinstance(value, bool):
        return 1 if value else 0
    text = str(value).strip().lower() if value is not None else ""
    if text in _ONEWAY_FORWARD:
        return 1
    return -1 if text in _ONEWAY_BACKWARD else 0


def _parts(geometry: Mapping[str, Any]) -> list[list[LatLon]]:
    """The (lat, lon) point lists of a LineString or MultiLineString geometry."""
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "LineString":
        lines = [coords]
    elif kind == "MultiLineString" and isinstance(coords, list):
        lines = coords
    else:
        raise ValueError(f"geometry must be a LineString or MultiLineString, got {kind!r}")
    parts = []
    for line in lines:
        if not isinstance(line, list) or len(line) < 2:
            raise ValueError("a line needs at least two positions")
        parts.append([(float(p[1]), float(p[0])) for p in line])  # GeoJSON is [lon, lat]
    return parts


def _roads_of(feature: Mapping[str, Any], index: int) -> list[Road]:
    """The road parts of one GeoJSON feature. Raises ValueError, KeyError, TypeError."""
    props = feature.get("properties") or {}
    if "maxspeed" not in props:
        raise ValueError("no maxspeed property")
    maxspeed = parse_maxspeed(props["maxspeed"])
    name = props.get("name")
    road_id = props.get("id") or feature.get("id") or name or f"road-{index}"
    direction = _oneway(props.get("oneway"))
    out = []
    for points in _parts(feature["geometry"]):
        ordered = tuple(reversed(points)) if direction < 0 else tuple(points)
        out.append(Road(str(road_id), name, maxspeed, direction != 0, ordered))
    return out


def parse_roads(geojson: Mapping[str, Any], *, source: str = "") -> list[Road]:
    """Roads from a parsed GeoJSON ``FeatureCollection`` (or a single ``Feature``).

    Raises:
        RoadsError: not a FeatureCollection, or a feature without a usable ``maxspeed`` or
            line geometry (``.feature`` is its index).
    """
    if geojson.get("type") == "Feature":
        features: Any = [geojson]
    elif geojson.get("type") == "FeatureCollection":
        features = geojson.get("features")
    else:
        raise RoadsError("not a GeoJSON FeatureCollection", source=source)
    if not isinstance(features, list):
        raise RoadsError("features must be a list", source=source)
    roads: list[Road] = []
    for i, feature in enumerate(features):
        try:
            roads.extend(_roads_of(feature, i))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise RoadsError(str(exc), source=source, feature=i) from exc
    return roads


def load_roads(path: Path | str) -> list[Road]:
    """Read a GeoJSON roads file (UTF-8).

    Raises:
        RoadsError: the file is missing or unreadable, not JSON, or not usable roads.
    """
    source = str(path)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoadsError(f"cannot read: {exc.strerror or exc}", source=source) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RoadsError(f"not JSON: {exc}", source=source) from exc
    if not isinstance(raw, dict):
        raise RoadsError("not a GeoJSON object", source=source)
    return parse_roads(raw, source=source)


class RoadIndex:
    """Answers "what is the speed limit for this fix?" from roads, zones and a default."""

    def __init__(
        self,
        roads: Sequence[Road],
        zones: ZoneIndex,
        default_limit_kmh: float,
        *,
        match_distance_m: float = MATCH_DISTANCE_M,
        heading_tolerance_deg: float = HEADING_TOLERANCE_DEG,
    ) -> None:
        """Index the roads' segments (zero-length segments are dropped)."""
        self.roads = tuple(roads)
        self.zones = zones
        self.default = Limit(default_limit_kmh, None, "default")
        self.match_distance_m = match_distance_m
        self.heading_tolerance_deg = heading_tolerance_deg
        points = [p for road in self.roads for p in road.points]
        lat0 = float(np.mean([p[0] for p in points])) if points else 0.0
        lon0 = float(np.mean([p[1] for p in points])) if points else 0.0
        self._frame = LocalFrame(lat0, lon0)
        self._build_segments()

    def _to_local(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
        """WGS84 degrees to local (east, north) metres, as an (..., 2) array."""
        return np.stack(self._frame.to_xy(np.asarray(lat_deg), np.asarray(lon_deg)), axis=-1)

    def _build_segments(self) -> None:
        starts, ends, owner = [], [], []
        for i, road in enumerate(self.roads):
            xy = self._to_local(*np.array(road.points, dtype=float).T)
            keep = np.hypot(*(xy[1:] - xy[:-1]).T) > 0.0
            starts.append(xy[:-1][keep])
            ends.append(xy[1:][keep])
            owner.append(np.full(int(keep.sum()), i))
        a = np.concatenate(starts) if starts else np.empty((0, 2))
        b = np.concatenate(ends) if ends else np.empty((0, 2))
        self._road_of = np.concatenate(owner) if owner else np.empty(0, dtype=int)
        self._segments = shapely.linestrings(np.stack([a, b], axis=1))
        d = b - a
        self._bearing_deg = np.degrees(np.arctan2(d[:, 0], d[:, 1])) % 360.0
        self._oneway = np.array([self.roads[i].oneway for i in self._road_of], dtype=bool)
        self._limit_kmh = np.array([self.roads[i].maxspeed_kmh for i in self._road_of])
        self._tree = shapely.STRtree(self._segments)

    def _agrees(self, idx: np.ndarray, course_deg: float) -> np.ndarray:
        """Which segments ``idx`` may be driven on with this course."""
        diff = np.abs((course_deg - self._bearing_deg[idx] + 180.0) % 360.0 - 180.0)
        tol = self.heading_tolerance_deg
        agrees: np.ndarray = (diff <= tol) | (~self._oneway[idx] & (diff >= 180.0 - tol))
        return agrees

    def match(self, lat_deg: float, lon_deg: float, course_deg: float | None) -> RoadMatch | None:
        """The nearest road within ``match_distance_m`` driveable on ``course_deg``.

        ``course_deg`` is degrees true (clockwise from north); None accepts any direction.
        Equally near roads: the lower limit wins. None when no road qualifies.
        """
        point = shapely.Point(self._to_local(np.array(lat_deg), np.array(lon_deg)))
        idx = self._tree.query(point, predicate="dwithin", distance=self.match_distance_m)
        if course_deg is not None and idx.size:
            idx = idx[self._agrees(idx, course_deg)]
        if idx.size == 0:
            return None
        dist = shapely.distance(self._segments[idx], point)
        best = int(np.lexsort((self._limit_kmh[idx], dist))[0])
        return RoadMatch(self.roads[int(self._road_of[idx[best]])], float(dist[best]))

    def limit_for(self, lat_deg: float, lon_deg: float, course_deg: float | None) -> Limit:
        """The limit (km/h) at a position for a vehicle on ``course_deg`` (degrees true).

        The strictest of the matched road (zone_kind "road", zone_id the road id) and the
        speed zone containing the point; a zone wins a tie. Neither: the default limit.
        """
        zone = self.zones.limit_at(lat_deg, lon_deg)
        found = self.match(lat_deg, lon_deg, course_deg)
        in_zone = zone.zone_id is not None
        if found is None:
            return zone if in_zone else self.default
        road = Limit(found.road.maxspeed_kmh, found.road.id, "road")
        return zone if in_zone and zone.limit_kmh <= road.limit_kmh else road

    def limit_for_fix(self, fix: Fix) -> Limit:
        """``limit_for`` at the fix's position and course."""
        return self.limit_for(fix.lat_deg, fix.lon_deg, fix.course_deg)


def limit_lookup(city: CityConfig) -> Callable[[Fix], Limit]:
    """The limit lookup the city's configuration asks for.

    With ``city.roads_geojson``: roads, then the city's speed zones, then
    ``default_road_limit_kmh``. Without: zones and the default only (``ZoneIndex``).

    Raises:
        RoadsError: the roads file cannot be read or used.
    """
    zones = ZoneIndex(city.speed_zones, city.default_road_limit_kmh)
    if city.roads_geojson is None:

        def zone_limit(fix: Fix) -> Limit:
            return zones.limit_at(fix.lat_deg, fix.lon_deg)

        return zone_limit
    index = RoadIndex(load_roads(city.roads_geojson), zones, city.default_road_limit_kmh)
    return index.limit_for_fix
