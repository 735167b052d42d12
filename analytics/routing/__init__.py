"""Collection-route planning: a typed problem model solved with PyVRP, and benchmark instances.

:mod:`.model` holds the problem and plan types and the exception tree, :mod:`.instances`
the CVRPLIB and Solomon readers and their cost conventions, :mod:`.solve` the solver.
"""

from analytics.routing.instances import (
    Instance,
    KnownSolution,
    read_instance,
    read_solution,
    route_cost,
)
from analytics.routing.model import (
    Client,
    InfeasibleError,
    InstanceError,
    Plan,
    PlannedRoute,
    Problem,
    RoutingError,
    Trip,
    Vehicle,
    Visit,
)
from analytics.routing.solve import (
    Solution,
    check_feasible,
    format_solution,
    problem_from_instance,
    solve_instance,
    solve_problem,
)

__all__ = [
    "Client",
    "InfeasibleError",
    "Instance",
    "InstanceError",
    "KnownSolution",
    "Plan",
    "PlannedRoute",
    "Problem",
    "RoutingError",
    "Solution",
    "Trip",
    "Vehicle",
    "Visit",
    "check_feasible",
    "format_solution",
    "problem_from_instance",
    "read_instance",
    "read_solution",
    "route_cost",
    "solve_instance",
    "solve_problem",
]
