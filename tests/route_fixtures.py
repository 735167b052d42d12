"""Hand-built collection problems for the plan checker, plan files and compare tests.

A problem is laid out in metres on a plane (x east, y north) around an Osaka origin;
distances are Euclidean and rounded, travel times distance / ``SPEED_MPS`` (floor), so
every figure in a test can be worked out by hand.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from analytics.routing.city import DayProblem, Site
from analytics.routing.model import Client, Problem, Vehicle

TZ = ZoneInfo("Asia/Tokyo")
DAY = date(2026, 11, 26)
ORIGIN = datetime.combine(DAY, time(), TZ)
BASE_LAT, BASE_LON = 34.6560, 135.4930
SPEED_MPS = 10
SHIFT_S = (8 * 3600 + 1800, 16 * 3600 + 1800)  # 08:30 to 16:30 local
M_PER_DEG_LAT = 6_371_008.8 * math.pi / 180


def matrices(coords_m: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], ...]:
    """Rounded Euclidean distances (m) and travel times at ``SPEED_MPS`` (s)."""
    diff = coords_m[:, None, :] - coords_m[None, :, :]
    dist = np.rint(np.sqrt((diff**2).sum(axis=2))).astype(np.int64)
    return dist, dist // SPEED_MPS


def make_problem(
    coords_m: list[tuple[float, float]],
    clients: list[Client],
    trucks: list[Vehicle],
    *,
    reload: bool = True,
    unload_s: int = 600,
) -> Problem:
    """Depot at ``coords_m[0]``, the plant at ``coords_m[1]`` when ``reload``, then clients."""
    coords = np.array(coords_m, dtype=np.float64)
    dist, dur = matrices(coords)
    return Problem(
        depot="depot",
        clients=tuple(clients),
        vehicles=tuple(trucks),
        distance_m=dist,
        duration_s=dur,
        reload_depots=("plant",) if reload else (),
        unload_s=unload_s,
        coords_m=coords,
    )


def line_problem(
    *,
    capacity_kg: int = 1000,
    windows: dict[str, tuple[int, int]] | None = None,
    trucks: int = 1,
    reload: bool = True,
) -> Problem:
    """Depot at 0 m, plant 10 km east, points a, b, c at 1, 2 and 3 km east, 600 kg each,
    60 s service; trucks ``truck-1``.. of ``capacity_kg`` on the 08:30-16:30 shift."""
    windows = windows or {}
    xs = [0.0, *([10_000.0] if reload else []), 1000.0, 2000.0, 3000.0]
    clients = [Client(n, 600, 60, windows.get(n)) for n in "abc"]
    fleet = [Vehicle(f"truck-{k}", capacity_kg, SHIFT_S) for k in range(1, trucks + 1)]
    return make_problem([(x, 0.0) for x in xs], clients, fleet, reload=reload)


def to_lat_lon(x_m: float, y_m: float) -> tuple[float, float]:
    lat = BASE_LAT + y_m / M_PER_DEG_LAT
    return lat, BASE_LON + x_m / (M_PER_DEG_LAT * math.cos(math.radians(BASE_LAT)))


def day_problem(problem: Problem, courses: dict[str, tuple[str, ...]] | None = None) -> DayProblem:
    """``problem`` as a collection day on ``DAY``, its sites placed by ``coords_m``."""
    assert problem.coords_m is not None
    sites = {}
    for name, (x, y) in zip(problem.site_names, problem.coords_m, strict=True):
        lat, lon = to_lat_lon(float(x), float(y))
        sites[name] = Site(name, f"{name.capitalize()} place", lat, lon)
    return DayProblem(
        day=DAY,
        origin=ORIGIN,
        problem=problem,
        sites=sites,
        courses=courses or {},
        sources={c.name: "default" for c in problem.clients},
    )
