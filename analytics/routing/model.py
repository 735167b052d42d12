"""The typed collection-routing model: a :class:`Problem` in, a :class:`Plan` out, and the
routing package's exceptions.

Sites are ordered depot, reload depots, clients; times are s from the plan's origin (e.g.
midnight of the collection day), distances m, loads kg, all integers (PyVRP works in
integers). A truck starts and ends its day at the depot; at a reload depot it empties its
load (taking ``Problem.unload_s``) and may start another trip.

Exceptions::

    ValueError
     └── RoutingError          .path (file, if any), .client (client name, if any)
          ├── InstanceError    unreadable, malformed or unsupported instance or solution file
          └── InfeasibleError  no plan can satisfy the problem, or none was found in time
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from citytrack.errors import InvalidInputError

IntArray = npt.NDArray[np.int64]
UNBOUNDED = int(np.iinfo(np.int64).max)
"""PyVRP's "no limit" for time windows and shifts."""


@dataclass(frozen=True)
class Client:
    """A collection point: ``demand_kg`` to pick up, ``service_s`` spent there, and an
    optional ``window_s`` (earliest, latest start of service, s from the plan's origin)."""

    name: str
    demand_kg: int
    service_s: int = 0
    window_s: tuple[int, int] | None = None


@dataclass(frozen=True)
class Vehicle:
    """``count`` identical trucks carrying up to ``capacity_kg`` each trip, leaving the
    depot no earlier and back no later than ``shift_s`` (s from the plan's origin)."""

    name: str
    capacity_kg: int
    shift_s: tuple[int, int] | None = None
    count: int = 1


@dataclass(frozen=True, eq=False)
class Problem:
    """A collection-routing problem over sites ordered depot, reload depots, clients.

    ``distance_m`` and ``duration_s`` are square non-negative integer matrices over those
    sites (m and s; benchmark instances carry their own units here). A truck empties its
    load at any reload depot (taking ``unload_s``) and may start another trip from there;
    every route starts and ends at the depot. ``coords_m`` (planar x, y per site, m) only
    guides the search. Raises :class:`RoutingError` naming the field when malformed.
    """

    depot: str
    clients: tuple[Client, ...]
    vehicles: tuple[Vehicle, ...]
    distance_m: IntArray
    duration_s: IntArray
    reload_depots: tuple[str, ...] = ()
    unload_s: int = 0
    coords_m: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def site_names(self) -> tuple[str, ...]:
        """Names in matrix order: depot, reload depots, clients."""
        return (self.depot, *self.reload_depots, *(c.name for c in self.clients))

    def site_index(self, client: int) -> int:
        """Matrix index of ``clients[client]``."""
        return 1 + len(self.reload_depots) + client


@dataclass(frozen=True)
class Visit:
    """A stop at a client; service starts at ``start_s``."""

    client: str
    start_s: int


@dataclass(frozen=True)
class Trip:
    """Visits from the depot or a reload depot to ``end``: a reload depot, where the
    ``load_kg`` collected is emptied, or, for a route's last trip, the depot (a route's
    last load comes back to the depot on board)."""

    visits: tuple[Visit, ...]
    load_kg: int
    end: str


@dataclass(frozen=True)
class PlannedRoute:
    """One truck's day: its trips, length (m), duration (s), start and end times (s)."""

    vehicle: str
    trips: tuple[Trip, ...]
    distance_m: int
    duration_s: int
    start_s: int
    end_s: int

    @property
    def clients(self) -> tuple[str, ...]:
        """Client names in visiting order, over all trips."""
        return tuple(v.client for trip in self.trips for v in trip.visits)


@dataclass(frozen=True)
class Plan:
    """Routes for a :class:`Problem`: total distance (m) and duration (s), whether every
    constraint holds, unvisited clients, solver runtime (s) and iterations."""

    routes: tuple[PlannedRoute, ...]
    distance_m: int
    duration_s: int
    feasible: bool
    unvisited: tuple[str, ...]
    runtime_s: float
    iterations: int


class RoutingError(InvalidInputError):
    """A routing problem cannot be read or solved. ``path`` and ``client`` name the cause
    where one is known."""

    def __init__(self, message: str, *, path: Path | None = None, client: str | None = None):
        super().__init__(message)
        self.path = path
        self.client = client


class InstanceError(RoutingError):
    """An instance or solution file is unreadable, malformed or of an unsupported kind."""


class InfeasibleError(RoutingError):
    """No plan satisfies the problem (a client heavier than every truck, a time window no
    truck can reach), or the solver found no feasible plan within its time budget."""


def _validate(problem: Problem) -> None:
    """Raise :class:`RoutingError` naming the first malformed field of ``problem``."""
    sites = len(problem.site_names)
    if len(set(problem.site_names)) != sites:
        raise RoutingError("site names (depot, reload depots, clients) must be unique")
    for name in ("distance_m", "duration_s"):
        matrix = np.asarray(getattr(problem, name))
        if matrix.shape != (sites, sites):
            raise RoutingError(f"{name}: shape {matrix.shape}, expected ({sites}, {sites})")
        if not np.issubdtype(matrix.dtype, np.integer) or (matrix < 0).any():
            raise RoutingError(f"{name}: entries must be non-negative integers")
    if problem.coords_m is not None and np.shape(problem.coords_m) != (sites, 2):
        raise RoutingError(f"coords_m: shape {np.shape(problem.coords_m)}, expected ({sites}, 2)")
    if problem.unload_s < 0:
        raise RoutingError("unload_s: must be non-negative")
    if not problem.vehicles:
        raise RoutingError("vehicles: need at least one")
    for vehicle in problem.vehicles:
        start, end = vehicle.shift_s or (0, 0)
        if vehicle.count < 1 or vehicle.capacity_kg < 0 or start > end:
            raise RoutingError(
                f"vehicle {vehicle.name!r}: count < 1, negative capacity, or shift ends before"
                " it starts"
            )
    for client in problem.clients:
        early, late = client.window_s or (0, 0)
        if client.demand_kg < 0 or client.service_s < 0 or early > late:
            raise RoutingError(
                f"client {client.name!r}: negative demand or service, or window ends before"
                " it opens",
                client=client.name,
            )
