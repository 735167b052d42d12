"""Speed limits by position: speed-zone polygons over a default road limit.

Pure: shapely geometry, no I/O. Zones may overlap; the lowest limit wins (a school zone
on a 50 km/h road is a 30 km/h place).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from citytrack.config import SpeedZone


@dataclass(frozen=True)
class Limit:
    """The limit that applies at a point: km/h, and the zone it comes from (None = road)."""

    limit_kmh: float
    zone_id: str | None
    zone_kind: str  # "school_zone" | "road" | "default"


class ZoneIndex:
    """Answers "what is the speed limit here?" for points and arrays of points."""

    def __init__(self, zones: Sequence[SpeedZone], default_limit_kmh: float) -> None:
        # sort so that the first containing zone is the strictest
        self._zones = sorted(zones, key=lambda z: z.limit_kmh)
        # shapely takes x=lon, y=lat
        self._polys = [shapely.Polygon([(lon, lat) for lat, lon in z.polygon]) for z in self._zones]
        for poly in self._polys:
            shapely.prepare(poly)
        self.default = Limit(default_limit_kmh, None, "default")

    def limit_at(self, lat_deg: float, lon_deg: float) -> Limit:
        for zone, poly in zip(self._zones, self._polys, strict=True):
            if shapely.contains_xy(poly, lon_deg, lat_deg):
                return Limit(zone.limit_kmh, zone.id, zone.kind)
        return self.default

    def limits_kmh(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
        """Vectorised limit for arrays of points, km/h."""
        out = np.full(np.shape(lat_deg), self.default.limit_kmh, dtype=float)
        for zone, poly in reversed(list(zip(self._zones, self._polys, strict=True))):
            inside = shapely.contains_xy(poly, lon_deg, lat_deg)
            out[inside] = zone.limit_kmh
        return out
