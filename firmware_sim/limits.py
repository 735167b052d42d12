"""The speed limit a simulated truck drives against: the simulator's own model of the city.

Ground truth must not come from the code it is meant to test, so this module shares no code
with the hub's limit lookup (``analytics.driving.roads``, ``analytics.driving.zones``). It
reads the same city data and applies the rule ``docs/detection.md`` documents, its own way:

1. **Roads**: the GeoJSON file ``city.roads_geojson`` names, ``LineString`` or
   ``MultiLineString`` features with an OSM ``maxspeed`` (``parse_maxspeed``) and
   ``oneway`` (``yes``/``true``/``1``: only as drawn; ``-1``/``reverse``: only against the
   drawing; anything else: both ways). A road's id is its ``id`` property, else the
   feature's ``id``, else its ``name``, else ``road-<index>``. A truck is on a road where it
   is within ``MATCH_DISTANCE_M`` of one of the road's segments and heads along it: within
   ``HEADING_TOLERANCE_DEG`` of the segment's direction (or of the opposite one, unless the
   road is one-way). Of several such roads the nearest counts; equally near, the lowest.
2. **Zones** (``city.speed_zones``): of the polygons containing the point (boundary
   excluded), the lowest limit counts; on a tie, the first in the configuration.
3. The stricter of road and zone applies, the zone on a tie; with neither,
   ``city.default_road_limit_kmh``.

Where the hub has to match noisy fixes, the simulator knows where its truck is and which way
it heads: ``CityLimits.along`` applies the rule at points of the route's own polyline, with
the heading of the leg each point is on, in the route's local metres (roads and zones are
projected into them), vectorised over the points.

Pure except ``read_roads`` and ``CityLimits.for_city`` (which read the roads file).

Errors: ``citytrack.config.ConfigError`` for a roads file or feature the simulator cannot
use (``.path`` the file, ``.key`` the feature, as ``features[<index>]``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from citytrack.config import CityConfig, ConfigError, SpeedZone
from citytrack.geo import LocalFrame
from firmware_sim.route import Route

MATCH_DISTANCE_M = 20.0  # a road farther than this from the truck is not the one it is on
HEADING_TOLERANCE_DEG = 30.0  # largest angle between the truck's heading and the road's
KMH_PER_UNIT = {"": 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}
_SPEED = re.compile(r"(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[a-z/]*)")


@dataclass(frozen=True)
class Limit:
    """The limit at a point, km/h, and where it comes from: ``zone_kind`` is "road" (with the
    road's id as ``zone_id``), a zone's kind (with its id), or "default" (``zone_id`` None)."""

    limit_kmh: float
    zone_id: str | None
    zone_kind: str


@dataclass(frozen=True)
class RoadLine:
    """One line of a road: (lat, lon) degrees in drawing order, and how it may be driven.

    ``direction``: +1 only in drawing order, -1 only against it, 0 both ways.
    """

    id: str
    limit_kmh: float
    direction: int
    points: tuple[tuple[float, float], ...]


def parse_maxspeed(value: object) -> float:
    """An OSM ``maxspeed`` in km/h: a number, or text such as ``"50"``, ``"50 km/h"``,
    ``"30 mph"``, ``"10 knots"``; ``"60;40"`` (several signs) gives the lowest.

    Raises:
        ValueError: anything else (``"none"``, ``"walk"``, ``"JP:urban"``, 0, a bool).
    """
    if isinstance(value, bool):
        raise ValueError(f"maxspeed {value!r} is not a speed")
    if isinstance(value, int | float):
        speeds = [float(value)]
    elif isinstance(value, str):
        speeds = [_one_speed(part) for part in value.split(";")]
    else:
        raise ValueError(f"maxspeed {value!r} is not a speed")
    kmh = min(speeds)
    if not (math.isfinite(kmh) and kmh > 0):
        raise ValueError(f"maxspeed {value!r} is not a positive speed")
    return kmh


def _one_speed(text: str) -> float:
    found = _SPEED.fullmatch(text.strip().lower())
    if found is None or found["unit"] not in KMH_PER_UNIT:
        raise ValueError(f"maxspeed {text!r} is not a number of km/h, mph or knots")
    return float(found["value"]) * KMH_PER_UNIT[found["unit"]]


def _direction(oneway: object) -> int:
    if oneway is True or str(oneway).strip().lower() in ("yes", "true", "1"):
        return 1
    return -1 if str(oneway).strip().lower() in ("-1", "reverse") else 0


def _road_lines(feature: Mapping[str, Any], index: int) -> list[RoadLine]:
    """The lines of one roads feature. Raises ValueError, KeyError, TypeError, IndexError."""
    props = feature.get("properties") or {}
    if "maxspeed" not in props:
        raise ValueError("a road needs a maxspeed")
    limit = parse_maxspeed(props["maxspeed"])
    road_id = str(props.get("id") or feature.get("id") or props.get("name") or f"road-{index}")
    geometry = feature["geometry"]
    if geometry["type"] == "LineString":
        lines = [geometry["coordinates"]]
    elif geometry["type"] == "MultiLineString":
        lines = list(geometry["coordinates"])
    else:
        raise ValueError(f"a road is a LineString or MultiLineString, not {geometry['type']!r}")
    out = []
    for line in lines:
        points = tuple((float(p[1]), float(p[0])) for p in line)  # GeoJSON: [lon, lat]
        if len(points) < 2:
            raise ValueError("a road line needs two positions or more")
        out.append(RoadLine(road_id, limit, _direction(props.get("oneway")), points))
    return out


def read_roads(path: Path | str) -> list[RoadLine]:
    """The road lines of a GeoJSON file (UTF-8): a ``FeatureCollection``, or one ``Feature``.

    Raises:
        ConfigError: the file cannot be read or is not JSON, or a feature lacks a usable
            ``maxspeed`` or line geometry (``.key`` names it: ``features[<index>]``).
    """
    source = Path(path)
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read roads: {exc}", path=source) from exc
    if not isinstance(doc, dict):
        raise ConfigError("not a GeoJSON object", path=source)
    features = [doc] if doc.get("type") == "Feature" else doc.get("features")
    if doc.get("type") not in ("Feature", "FeatureCollection") or not isinstance(features, list):
        raise ConfigError("not a GeoJSON FeatureCollection", path=source)
    roads: list[RoadLine] = []
    for i, feature in enumerate(features):
        try:
            roads += _road_lines(feature, i)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ConfigError(str(exc), path=source, key=f"features[{i}]") from exc
    return roads


class CityLimits:
    """The city's speed limits as the simulator's drivers know them (see the module doc)."""

    def __init__(
        self, roads: Sequence[RoadLine], zones: Sequence[SpeedZone], default_limit_kmh: float
    ) -> None:
        self.roads = tuple(roads)
        self.zones = tuple(sorted(zones, key=lambda z: z.limit_kmh))  # stable: config order
        self.default = Limit(default_limit_kmh, None, "default")
        self._road_limits = tuple(Limit(r.limit_kmh, r.id, "road") for r in self.roads)
        self._zone_limits = tuple(Limit(z.limit_kmh, z.id, z.kind) for z in self.zones)

    @classmethod
    def for_city(cls, city: CityConfig) -> CityLimits:
        """The limits of ``city``: its roads file (if it names one), zones and default.

        Raises:
            ConfigError: the roads file cannot be used.
        """
        roads = read_roads(city.roads_geojson) if city.roads_geojson is not None else []
        return cls(roads, city.speed_zones, city.default_road_limit_kmh)

    def along(self, route: Route, s_m: np.ndarray) -> list[Limit]:
        """The limit at each distance ``s_m`` (m) along ``route``, for a truck driving it."""
        x, y = route.xy_at(s_m)
        heading = route.courses_at(s_m)
        road_kmh, road = self._roads_at(route.frame, x, y, heading)
        zone_kmh, zone = self._zones_at(route.frame, x, y)
        out = []
        for i in range(len(x)):
            if zone[i] >= 0 and zone_kmh[i] <= road_kmh[i]:
                out.append(self._zone_limits[zone[i]])
            elif road[i] >= 0:
                out.append(self._road_limits[road[i]])
            else:
                out.append(self.default)
        return out

    def _roads_at(
        self, frame: LocalFrame, x: np.ndarray, y: np.ndarray, heading_deg: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per point: the limit of the road the truck is on (inf if none) and its index
        (-1 if none)."""
        best_m = np.full(x.shape, np.inf)
        kmh = np.full(x.shape, np.inf)
        which = np.full(x.shape, -1)
        for k, road in enumerate(self.roads):
            lat, lon = np.array(road.points).T
            px, py = frame.to_xy(lat, lon)
            for ax, ay, bx, by in zip(px[:-1], py[:-1], px[1:], py[1:], strict=True):
                dx, dy = bx - ax, by - ay
                if dx == 0.0 and dy == 0.0:
                    continue
                along = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
                apart = np.hypot(x - (ax + along * dx), y - (ay + along * dy))
                on = (apart <= MATCH_DISTANCE_M) & _heads_along(heading_deg, dx, dy, road)
                nearer = (apart < best_m) | ((apart == best_m) & (road.limit_kmh < kmh))
                take = on & nearer
                best_m[take], kmh[take], which[take] = apart[take], road.limit_kmh, k
        return kmh, which

    def _zones_at(
        self, frame: LocalFrame, x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per point: the lowest limit of the zones containing it (inf if none) and that
        zone's index (-1 if none)."""
        kmh = np.full(x.shape, np.inf)
        which = np.full(x.shape, -1)
        for k, zone in enumerate(self.zones):
            lat, lon = np.array(zone.polygon).T
            outline = shapely.Polygon(np.column_stack(frame.to_xy(lat, lon)))
            take = shapely.contains_xy(outline, x, y) & (which < 0)
            kmh[take], which[take] = zone.limit_kmh, k
        return kmh, which


def _heads_along(heading_deg: np.ndarray, dx: float, dy: float, road: RoadLine) -> np.ndarray:
    """Whether a truck heading ``heading_deg`` (degrees true) drives along a segment of
    ``road`` drawn (``dx``, ``dy``) metres east and north."""
    drawn_deg = math.degrees(math.atan2(dx, dy))
    off = np.abs((heading_deg - drawn_deg + 180.0) % 360.0 - 180.0)  # 0..180
    forward = off <= HEADING_TOLERANCE_DEG
    backward = off >= 180.0 - HEADING_TOLERANCE_DEG
    if road.direction > 0:
        return forward
    return backward if road.direction < 0 else forward | backward
