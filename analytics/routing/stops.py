"""Where garbage trucks stop: dwells in one truck-day's fixes, places across days, and
which places are configured collection points (pure: numpy and scikit-learn, no I/O).

1. :func:`detect_dwells`: a truck is *standing* while its receiver's speed is under
   ``dwell_speed_mps`` (a fix without a speed uses the speed implied by its neighbours'
   positions). A run of standing fixes is one dwell as long as no fix is missing for
   more than ``MAX_GAP_S`` (a unit that dropped out while the truck stood) and it stays
   within ``SAME_PLACE_M`` of where it began; two runs split only by a short burst of
   moving fixes (spanning at most ``MERGE_GAP_S``: a speed glitch, a truck rolling
   forward a few metres; with no more than ``MAX_GAP_S`` from one run to the next)
   merge when their places lie within ``SAME_PLACE_M``. A run lasting
   ``dwell_min_s`` is a :class:`Dwell`; its place is the median of its fixes (robust to
   GPS noise and multipath outliers).
2. :func:`cluster_dwells`: DBSCAN over all dwells with the haversine metric (radians,
   ball tree), ``eps = cluster_eps_m``; a cluster is a :class:`Place` only when it has
   dwells on ``cluster_min_days`` different days (a one-off stop is no place).
3. :func:`match_places`: each place goes to the nearest configured site within
   ``match_radius_m``: a collection point, or the depot or disposal site (kept apart,
   never proposed); the rest become :class:`Proposal` s, new collection points for a
   supervisor to review. A regular red light looks like a regular stop: proposals
   carry their days and median dwell so such places are easy to spot.

Times are UTC (``t_s``: UNIX seconds); positions WGS84 degrees; distances metres.
Raises ``ValueError`` for malformed track arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt
from sklearn.cluster import DBSCAN

from analytics.routing.points import Site
from citytrack.config.routes import RoutesConfig
from citytrack.geo import EARTH_RADIUS_M, LocalFrame
from citytrack.wire import Fix

FloatArray = npt.NDArray[np.float64]

MAX_GAP_S = 120.0
"""A standing run survives this long without fixes (a unit dropping out), s."""
MERGE_GAP_S = 10.0
"""Standing runs split by moving fixes spanning at most this, at one place, are one dwell, s."""
SAME_PLACE_M = 25.0
"""A dwell stays within this of where it began; merged runs lie this close, m."""


def local_xy_m(
    lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, lat0_deg: float, lon0_deg: float
) -> tuple[FloatArray, FloatArray]:
    """East and north of (lat0, lon0), m, over arrays: ``citytrack.geo.LocalFrame`` (exact
    enough within ~10 km)."""
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    return LocalFrame(lat0_deg, lon0_deg).to_xy(lat, lon)


def step_lengths_m(lat_deg: FloatArray, lon_deg: FloatArray) -> FloatArray:
    """Distances between consecutive positions, m (one shorter than the input): over arrays,
    in the local frame of the first position (within 0.2 % of ``citytrack.geo.distance_m``
    over a city)."""
    if len(lat_deg) < 2:
        return np.zeros(0)
    east, north = local_xy_m(lat_deg, lon_deg, float(lat_deg[0]), float(lon_deg[0]))
    return np.hypot(np.diff(east), np.diff(north))


@dataclass(frozen=True, eq=False)
class DayTrack:
    """One truck's fixes on one local ``day``, as arrays in time order: ``t_s`` UNIX
    seconds (UTC), WGS84 degrees, ``speed_mps`` (NaN where the receiver gave none)."""

    device_id: str
    day: date
    t_s: FloatArray
    lat_deg: FloatArray
    lon_deg: FloatArray
    speed_mps: FloatArray

    def __post_init__(self) -> None:
        n = len(self.t_s)
        if any(len(a) != n for a in (self.lat_deg, self.lon_deg, self.speed_mps)):
            raise ValueError("DayTrack: t_s, lat_deg, lon_deg and speed_mps differ in length")
        if n > 1 and not bool(np.all(np.diff(self.t_s) > 0)):
            raise ValueError("DayTrack: t_s must increase strictly")

    @classmethod
    def from_fixes(cls, device_id: str, day: date, fixes: Sequence[Fix]) -> DayTrack:
        """The fixes (in time order, one per time) as arrays."""
        speed = [np.nan if f.speed_mps is None else f.speed_mps for f in fixes]
        return cls(
            device_id,
            day,
            np.array([f.fix_time.timestamp() for f in fixes], dtype=np.float64),
            np.array([f.lat_deg for f in fixes], dtype=np.float64),
            np.array([f.lon_deg for f in fixes], dtype=np.float64),
            np.array(speed, dtype=np.float64),
        )


@dataclass(frozen=True)
class Dwell:
    """A truck standing from ``start`` to ``end`` (UTC) at (lat, lon), on local ``day``."""

    device_id: str
    day: date
    start: datetime
    end: datetime
    lat_deg: float
    lon_deg: float

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def _speeds(track: DayTrack) -> FloatArray:
    """Receiver speeds, with a missing one replaced by the move across its neighbours."""
    speed = track.speed_mps.copy()
    missing = np.isnan(speed)
    if missing.any() and len(speed) > 1:
        steps = step_lengths_m(track.lat_deg, track.lon_deg) / np.diff(track.t_s)
        implied = np.maximum(np.r_[steps[0], steps], np.r_[steps, steps[-1]])
        speed[missing] = implied[missing]
    return speed


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Index ranges ``[i, j)`` of consecutive True values."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _split(i: int, j: int, t: FloatArray, east: FloatArray, north: FloatArray) -> list[range]:
    """Cut a standing run where fixes are missing too long or it leaves its place."""
    pieces: list[range] = []
    start = i
    for k in range(i + 1, j):
        far = math.hypot(east[k] - east[start], north[k] - north[start]) > SAME_PLACE_M
        if t[k] - t[k - 1] > MAX_GAP_S or far:
            pieces.append(range(start, k))
            start = k
    pieces.append(range(start, j))
    return pieces


def _s(run: range) -> slice:
    return slice(run.start, run.stop)


def _merge(runs: list[range], t: FloatArray, east: FloatArray, north: FloatArray) -> list[range]:
    """Join runs split by a short burst of moving fixes at the same place."""
    merged: list[range] = []
    for run in runs:
        if merged:
            last = merged[-1]
            # the moving fixes between span little time (a glitch, a few metres rolled),
            # however long the receiver was silent around them
            moving_s = t[run.start - 1] - t[last.stop] if run.start > last.stop else 0.0
            gap_s = t[run.start] - t[last.stop - 1]
            close_s = moving_s <= MERGE_GAP_S and gap_s <= MAX_GAP_S
            apart_m = math.hypot(
                float(np.median(east[_s(run)]) - np.median(east[_s(last)])),
                float(np.median(north[_s(run)]) - np.median(north[_s(last)])),
            )
            if close_s and apart_m <= SAME_PLACE_M:
                merged[-1] = range(last.start, run.stop)
                continue
        merged.append(run)
    return merged


def detect_dwells(track: DayTrack, routes: RoutesConfig) -> list[Dwell]:
    """The truck-day's dwells (see the module doc), in time order."""
    if len(track.t_s) == 0:
        return []
    t = track.t_s
    east, north = local_xy_m(track.lat_deg, track.lon_deg, track.lat_deg[0], track.lon_deg[0])
    standing = _speeds(track) < routes.dwell_speed_mps
    runs = [piece for i, j in _runs(standing) for piece in _split(i, j, t, east, north)]
    dwells = []
    for run in _merge(runs, t, east, north):
        if t[run.stop - 1] - t[run.start] < routes.dwell_min_s:
            continue
        dwells.append(
            Dwell(
                track.device_id,
                track.day,
                datetime.fromtimestamp(float(t[run.start]), UTC),
                datetime.fromtimestamp(float(t[run.stop - 1]), UTC),
                float(np.median(track.lat_deg[_s(run)])),
                float(np.median(track.lon_deg[_s(run)])),
            )
        )
    return dwells


@dataclass(frozen=True)
class Place:
    """Dwells of many days at one spot: the median position of its dwells."""

    lat_deg: float
    lon_deg: float
    dwells: tuple[Dwell, ...]

    @property
    def days(self) -> int:
        """Different days with a dwell here."""
        return len({d.day for d in self.dwells})

    @property
    def median_dwell_s(self) -> float:
        return float(np.median([d.duration_s for d in self.dwells]))


def cluster_dwells(dwells: Sequence[Dwell], routes: RoutesConfig) -> list[Place]:
    """Places where trucks stopped on ``cluster_min_days`` days or more (see the module
    doc), most days first (then north to south, west to east)."""
    if not dwells:
        return []
    coords = np.radians([[d.lat_deg, d.lon_deg] for d in dwells])
    labels = DBSCAN(
        eps=routes.cluster_eps_m / EARTH_RADIUS_M,
        min_samples=routes.cluster_min_days,
        metric="haversine",
        algorithm="ball_tree",
    ).fit_predict(coords)
    places = []
    for label in sorted(set(labels.tolist()) - {-1}):
        members = tuple(d for d, lab in zip(dwells, labels, strict=True) if lab == label)
        place = Place(
            float(np.median([d.lat_deg for d in members])),
            float(np.median([d.lon_deg for d in members])),
            members,
        )
        if place.days >= routes.cluster_min_days:
            places.append(place)
    return sorted(places, key=lambda p: (-p.days, -p.lat_deg, p.lon_deg))


@dataclass(frozen=True)
class Proposal:
    """A place where trucks regularly stop and no collection point is configured."""

    lat_deg: float
    lon_deg: float
    days: int
    dwells: int
    median_dwell_s: float
    first_day: date
    last_day: date

    @classmethod
    def of(cls, place: Place) -> Proposal:
        days = sorted({d.day for d in place.dwells})
        return cls(
            place.lat_deg,
            place.lon_deg,
            place.days,
            len(place.dwells),
            place.median_dwell_s,
            days[0],
            days[-1],
        )


def passes(place: Proposal | Place, tracks: Sequence[DayTrack], routes: RoutesConfig) -> int:
    """How many times trucks came within ``cluster_eps_m`` of ``place``, stopping there or
    not: each stretch of consecutive fixes inside that radius is one pass."""
    count = 0
    for track in tracks:
        east, north = local_xy_m(track.lat_deg, track.lon_deg, place.lat_deg, place.lon_deg)
        inside = np.hypot(east, north) <= routes.cluster_eps_m
        count += len(_runs(inside))
    return count


@dataclass(frozen=True)
class PlaceMatch:
    """Places sorted out: ``matched`` (collection point id -> its places), ``sites``
    (depot or disposal site id -> its places, never proposed) and ``proposals``."""

    matched: Mapping[str, tuple[Place, ...]]
    sites: Mapping[str, tuple[Place, ...]]
    proposals: tuple[Proposal, ...]

    def labelled(self) -> dict[Dwell, str]:
        """Every dwell of a matched or site place -> that point's or site's id."""
        groups = (*self.matched.items(), *self.sites.items())
        return {d: site_id for site_id, places in groups for p in places for d in p.dwells}

    def point_dwells(self, point_id: str) -> list[Dwell]:
        """The dwells at one collection point, in time order."""
        dwells = (d for p in self.matched.get(point_id, ()) for d in p.dwells)
        return sorted(dwells, key=lambda d: d.start)


def _nearest(place: Place, sites: Sequence[Site]) -> tuple[Site, float] | None:
    if not sites:
        return None
    east, north = local_xy_m(
        [s.lat_deg for s in sites], [s.lon_deg for s in sites], place.lat_deg, place.lon_deg
    )
    distance = np.hypot(east, north)
    best = int(np.argmin(distance))
    return sites[best], float(distance[best])


def match_places(
    places: Iterable[Place],
    points: Mapping[str, Site],
    excluded: Mapping[str, Site],
    routes: RoutesConfig,
) -> PlaceMatch:
    """Match places to configured collection ``points`` and to the ``excluded`` sites
    (depot, disposal site) within ``match_radius_m`` (the nearest wins); the others
    become proposals. Several places may match one point (trucks stopping on either
    side of a crossing): their dwells are pooled."""
    candidates = [*points.values(), *excluded.values()]
    matched: dict[str, list[Place]] = {}
    sites: dict[str, list[Place]] = {}
    proposals = []
    for place in places:
        near = _nearest(place, candidates)
        if near is None or near[1] > routes.match_radius_m:
            proposals.append(Proposal.of(place))
            continue
        target = sites if near[0].id in excluded else matched
        target.setdefault(near[0].id, []).append(place)
    return PlaceMatch(
        {k: tuple(v) for k, v in matched.items()},
        {k: tuple(v) for k, v in sites.items()},
        tuple(proposals),
    )
