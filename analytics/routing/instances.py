"""Benchmark instances for the route solver: CVRPLIB ``.vrp`` (capacitated VRP), Solomon
``.txt`` (VRP with time windows) and their ``.sol`` solutions, read with ``vrplib``.

Costs follow the convention each benchmark's best-known values are published under:

- CVRPLIB: the Euclidean distance of every arc rounded to the nearest integer (TSPLIB
  ``nint``), as PyVRP's ``read(..., round_func="round")``. ``scale`` is 1.
- Solomon and Gehring-Homberger (the DIMACS 2021 challenge convention): the Euclidean
  distance of every arc truncated to one decimal, kept as integers times ten (``scale``
  10, PyVRP's ``round_func="dimacs"``). Travel time equals distance; time windows and
  service times are scaled by ten too. C101's best known 827.3 is 8273 here.

Client ids are those of the files and of the ``.sol`` routes: the depot is 0, clients are
1..n (in a ``.vrp`` file node k+1 is client k). Instance units are abstract (CVRPLIB has
none); they are integers after scaling.

Raises :class:`~analytics.routing.model.InstanceError` (the exception tree is drawn in
:mod:`analytics.routing.model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import vrplib

from analytics.routing.model import InstanceError

Kind = Literal["cvrp", "vrptw"]
IntArray = npt.NDArray[np.int64]

CVRPLIB_SCALE = 1
"""Integer units per instance distance unit under the CVRPLIB convention (rounded)."""
DIMACS_SCALE = 10
"""Integer units per instance distance unit under the DIMACS convention (0.1 truncated)."""

BEST_KNOWN: dict[str, float] = {
    "A-n32-k5": 784,
    "A-n45-k6": 944,
    "B-n31-k5": 672,
    "P-n50-k7": 554,
    "X-n101-k25": 27591,
    "X-n157-k13": 16876,
    "X-n200-k36": 58578,
}
"""Best-known CVRPLIB costs (instance units) as the corpus manifest lists them, for the
instances shipped without a ``.sol`` file; a ``.sol`` beside the instance takes precedence."""

_READ_ERRORS = (
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    RuntimeError,
    OSError,
)
"""What ``vrplib`` raises on malformed input (it does no validation of its own)."""


@dataclass(frozen=True, eq=False)
class Instance:
    """A single-depot benchmark instance; index 0 is the depot, 1..n the clients.

    ``distance`` holds integer arc lengths in instance units times ``scale``; for VRPTW
    instances travel time equals distance, and ``time_window`` (earliest, latest start of
    service) and ``service`` are in the same scaled units. ``num_vehicles`` is None for an
    unlimited fleet (CVRPLIB's convention: the ``k`` in a name is a lower bound).
    """

    name: str
    kind: Kind
    path: Path
    coords: npt.NDArray[np.float64]
    demand: IntArray
    capacity: int
    distance: IntArray
    scale: int
    num_vehicles: int | None = None
    time_window: IntArray | None = None
    service: IntArray | None = None
    best_known: float | None = None

    @property
    def num_clients(self) -> int:
        """Number of clients n (the depot excluded)."""
        return len(self.demand) - 1


@dataclass(frozen=True)
class KnownSolution:
    """Routes (client ids, depot omitted) and the cost a ``.sol`` file states."""

    routes: tuple[tuple[int, ...], ...]
    cost: float


def read_instance(path: Path) -> Instance:
    """Read a CVRPLIB ``.vrp`` or Solomon ``.txt`` file into an :class:`Instance`.

    The best-known cost comes from a ``.sol`` file of the same stem beside it, else from
    :data:`BEST_KNOWN`, else is None. Raises :class:`InstanceError` naming the file when
    it is missing, unreadable, not EUC_2D, multi-depot or lacks capacity or demands.
    """
    path = Path(path)
    if not path.is_file():
        raise InstanceError(f"{path}: no such instance file", path=path)
    if path.suffix == ".vrp":
        raw = _vrplib_read(path, "vrplib")
        instance = _cvrp_from(raw, path)
    elif path.suffix == ".txt":
        raw = _vrplib_read(path, "solomon")
        instance = _vrptw_from(raw, path)
    else:
        raise InstanceError(
            f"{path}: unknown instance format {path.suffix!r} "
            "(expected .vrp for CVRPLIB or .txt for Solomon)",
            path=path,
        )
    return instance


def read_solution(path: Path) -> KnownSolution:
    """Read a ``.sol`` file (``Route #i: ...`` lines and ``Cost C``).

    Raises :class:`InstanceError` naming the file when it is missing or has no cost.
    """
    path = Path(path)
    if not path.is_file():
        raise InstanceError(f"{path}: no such solution file", path=path)
    try:
        raw = vrplib.read_solution(path)
    except _READ_ERRORS as exc:
        raise InstanceError(f"{path}: not a readable solution file ({exc})", path=path) from exc
    if "cost" not in raw:
        raise InstanceError(f"{path}: solution file states no cost", path=path)
    routes = tuple(tuple(int(c) for c in route) for route in raw.get("routes", []))
    return KnownSolution(routes=routes, cost=float(raw["cost"]))


def best_known(path: Path) -> float | None:
    """Best-known cost of the instance at ``path`` (instance units), or None if unknown."""
    sol = Path(path).with_suffix(".sol")
    if sol.is_file():
        return read_solution(sol).cost
    return BEST_KNOWN.get(Path(path).stem)


def route_cost(instance: Instance, routes: list[list[int]] | tuple[tuple[int, ...], ...]) -> float:
    """Total length of ``routes`` (client ids, each route from and back to the depot) under
    the instance's convention, in instance units (e.g. 784 for A-n32-k5's optimum)."""
    total = 0
    for route in routes:
        stops = [0, *route, 0]
        total += int(sum(instance.distance[a, b] for a, b in pairwise(stops)))
    return total / instance.scale


def _vrplib_read(path: Path, fmt: str) -> dict[str, Any]:
    try:
        raw: dict[str, Any] = vrplib.read_instance(path, instance_format=fmt)
    except _READ_ERRORS as exc:
        raise InstanceError(f"{path}: not a readable {fmt} instance ({exc})", path=path) from exc
    return raw


def _require(raw: dict[str, Any], path: Path, *keys: str) -> None:
    missing = [key for key in keys if key not in raw]
    if missing:
        raise InstanceError(f"{path}: instance has no {', '.join(missing)}", path=path)


def _check_sizes(raw: dict[str, Any], path: Path, *keys: str) -> None:
    sizes = {key: len(raw[key]) for key in keys if key in raw}
    if len(set(sizes.values())) > 1:
        found = ", ".join(f"{key} {size}" for key, size in sizes.items())
        raise InstanceError(
            f"{path}: sections disagree on the number of nodes ({found})", path=path
        )


def _cvrp_from(raw: dict[str, Any], path: Path) -> Instance:
    _require(raw, path, "capacity", "demand", "edge_weight")
    _check_sizes(raw, path, "demand", "node_coord", "edge_weight")
    weight_type = str(raw.get("edge_weight_type", "EUC_2D")).strip()
    if weight_type not in ("EUC_2D", "EXPLICIT"):
        raise InstanceError(f"{path}: unsupported EDGE_WEIGHT_TYPE {weight_type}", path=path)
    depots = np.atleast_1d(raw.get("depot", np.array([0])))
    if depots.tolist() != [0]:
        raise InstanceError(f"{path}: only single-depot instances (depot node 1)", path=path)
    demand = np.asarray(raw["demand"], dtype=np.int64)
    coords = np.asarray(raw.get("node_coord", np.zeros((len(demand), 2))), dtype=np.float64)
    return Instance(
        name=str(raw.get("name", path.stem)),
        kind="cvrp",
        path=path,
        coords=coords,
        demand=demand,
        capacity=int(raw["capacity"]),
        # np.round rounds halves to even, TSPLIB's nint away from zero; with integer
        # coordinates no distance is a half, so the two agree.
        distance=np.round(np.asarray(raw["edge_weight"], dtype=np.float64)).astype(np.int64),
        scale=CVRPLIB_SCALE,
        best_known=best_known(path),
    )


def _vrptw_from(raw: dict[str, Any], path: Path) -> Instance:
    _require(raw, path, "capacity", "demand", "edge_weight", "time_window", "service_time")
    _check_sizes(raw, path, "demand", "node_coord", "edge_weight", "time_window", "service_time")
    distance = np.asarray(raw["edge_weight"], dtype=np.float64)
    return Instance(
        name=str(raw.get("name", path.stem)),
        kind="vrptw",
        path=path,
        coords=np.asarray(raw["node_coord"], dtype=np.float64),
        demand=np.asarray(raw["demand"], dtype=np.int64),
        capacity=int(raw["capacity"]),
        # Truncation after scaling, not rounding, is the DIMACS convention. With integer
        # coordinates a distance is an integer (exact in binary) or irrational, so no
        # floating-point tenth sits on a truncation boundary.
        distance=(distance * DIMACS_SCALE).astype(np.int64),
        scale=DIMACS_SCALE,
        num_vehicles=int(raw["vehicles"]) if "vehicles" in raw else None,
        time_window=np.round(np.asarray(raw["time_window"]) * DIMACS_SCALE).astype(np.int64),
        service=np.round(np.asarray(raw["service_time"]) * DIMACS_SCALE).astype(np.int64),
        best_known=best_known(path),
    )
