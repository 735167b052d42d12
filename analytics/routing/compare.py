"""A collection plan against what the trucks actually drove that day (pure, no I/O).

Actual, per truck (:func:`truck_day`), from the fixes the quality filter accepts
(:func:`analytics.driving.quality.filter_fixes`):

- distance: the segments between consecutive accepted fixes where either end is moving
  (at least the trip segmenter's moving speed), so a standing truck's jitter adds nothing;
- working time: from leaving the depot (when the truck set off: its last standing fix
  within ``depot_radius_m`` before it first went beyond) if the day's first fix is at the
  depot, else from the first moving fix; to coming back (its first standing fix at the
  depot after it was last beyond the radius) if the day's last fix is at the depot, else
  to the last moving fix;
- a truck *drove* if it covered at least ``MIN_DRIVEN_M``.

Planned, per route (:class:`RouteFigures`): distance and duration, leaving the depot to
coming back. :func:`compare_day` puts the two side by side per truck and in total; a
saving is actual - planned (positive: the plan drives less).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from analytics.driving.quality import filter_fixes
from analytics.driving.trips import TripConfig
from analytics.routing.model import Plan
from citytrack.config import QualityConfig
from citytrack.geo import distance_between_m, distance_m
from citytrack.wire import Fix

MOVING_SPEED_MPS = TripConfig().moving_speed_mps
"""At or above this speed a fix is moving (as for trips), m/s."""
DEPOT_RADIUS_M = 150.0
"""A fix this close to the depot is at the depot (the yard and its gate), m."""
MIN_DRIVEN_M = 200.0
"""A truck that covered less than this did not drive that day (moved in the yard), m."""

Basis = Literal["depot", "moving", "none"]


@dataclass(frozen=True)
class TruckDay:
    """What one truck did on a day: distance (m), working time (s) from ``start`` to
    ``end`` (UTC; None without moving fixes), how each end was found, fixes accepted and
    rejected by the quality filter."""

    device_id: str
    distance_m: float
    working_s: float
    start: datetime | None
    end: datetime | None
    start_basis: Basis
    end_basis: Basis
    fixes: int
    rejected: int

    @property
    def drove(self) -> bool:
        return self.distance_m >= MIN_DRIVEN_M


@dataclass(frozen=True)
class RouteFigures:
    """A planned route: the truck, distance (m) and duration (s)."""

    truck: str
    distance_m: float
    duration_s: float


@dataclass(frozen=True)
class RouteComparison:
    """One truck's plan next to its day; either side is None when absent."""

    truck: str
    planned: RouteFigures | None
    actual: TruckDay | None


@dataclass(frozen=True)
class DayComparison:
    """A day's plan against what was driven: per truck and in total (m, s, trucks)."""

    day: date
    routes: tuple[RouteComparison, ...]
    planned_distance_m: float
    planned_duration_s: float
    planned_trucks: int
    actual_distance_m: float
    actual_working_s: float
    actual_trucks: int

    @property
    def saving_distance_m(self) -> float:
        return self.actual_distance_m - self.planned_distance_m

    @property
    def saving_duration_s(self) -> float:
        return self.actual_working_s - self.planned_duration_s

    @property
    def saving_trucks(self) -> int:
        return self.actual_trucks - self.planned_trucks


def truck_day(
    device_id: str,
    fixes: Sequence[Fix],
    depot: tuple[float, float],
    quality: QualityConfig,
    *,
    depot_radius_m: float = DEPOT_RADIUS_M,
) -> TruckDay:
    """One truck's day from its ``fixes`` (one day, time order); ``depot`` is (lat, lon)."""
    _, verdicts = filter_fixes(fixes, quality)
    track = sorted((v.fix for v in verdicts if v.accepted), key=lambda f: f.fix_time)
    moving = [(f.speed_mps or 0.0) >= MOVING_SPEED_MPS for f in track]
    distance = sum(
        distance_between_m(track[i - 1], track[i])
        for i in range(1, len(track))
        if moving[i - 1] or moving[i]
    )
    at_depot = [distance_m(f.lat_deg, f.lon_deg, *depot) <= depot_radius_m for f in track]
    start, start_basis = _work_end(track, at_depot, moving, first=True)
    end, end_basis = _work_end(track, at_depot, moving, first=False)
    working = (end - start).total_seconds() if start and end and end > start else 0.0
    return TruckDay(
        device_id=device_id,
        distance_m=distance,
        working_s=working,
        start=start,
        end=end,
        start_basis=start_basis,
        end_basis=end_basis,
        fixes=len(track),
        rejected=len(verdicts) - len(track),
    )


def _work_end(
    track: list[Fix], at_depot: list[bool], moving: list[bool], *, first: bool
) -> tuple[datetime | None, Basis]:
    """When the day's work began (``first``) or ended.

    Began: if the day starts at the depot and the truck leaves it, when it set off (its
    last standing fix at the depot before it first left; its first fix if it never
    stood); else at the first moving fix. Ended: the mirror image (the first standing fix
    at the depot after it was last away; else the last moving fix).
    """
    order = list(range(len(track))) if first else list(range(len(track) - 1, -1, -1))
    if order and at_depot[order[0]] and not all(at_depot):
        away = next(i for i in order if not at_depot[i])
        before = order[: order.index(away)]
        standing = [i for i in before if not moving[i]]
        return track[standing[-1] if standing else order[0]].fix_time, "depot"
    moved = [i for i in order if moving[i]]
    return (track[moved[0]].fix_time, "moving") if moved else (None, "none")


def compare_day(
    day: date, planned: Sequence[RouteFigures], actual: Sequence[TruckDay]
) -> DayComparison:
    """``planned`` routes next to the trucks that drove (``actual``, those with
    ``drove``), per truck (sorted by name) and in total."""
    drove = {t.device_id: t for t in actual if t.drove}
    plans = {r.truck: r for r in planned}
    rows = tuple(
        RouteComparison(truck, plans.get(truck), drove.get(truck))
        for truck in sorted(plans.keys() | drove.keys())
    )
    return DayComparison(
        day=day,
        routes=rows,
        planned_distance_m=sum(r.distance_m for r in planned),
        planned_duration_s=sum(r.duration_s for r in planned),
        planned_trucks=len(plans),
        actual_distance_m=sum(t.distance_m for t in drove.values()),
        actual_working_s=sum(t.working_s for t in drove.values()),
        actual_trucks=len(drove),
    )


def comparison_json(comparison: DayComparison) -> dict[str, Any]:
    """``comparison`` as JSON-ready data: per route and total, planned, actual, saving."""
    total = {
        "planned": {
            "distance_m": round(comparison.planned_distance_m),
            "duration_s": round(comparison.planned_duration_s),
            "trucks": comparison.planned_trucks,
        },
        "actual": {
            "distance_m": round(comparison.actual_distance_m),
            "working_s": round(comparison.actual_working_s),
            "trucks": comparison.actual_trucks,
        },
        "saving": {
            "distance_m": round(comparison.saving_distance_m),
            "duration_s": round(comparison.saving_duration_s),
            "trucks": comparison.saving_trucks,
        },
    }
    return {
        "day": comparison.day.isoformat(),
        "routes": [_row_json(row) for row in comparison.routes],
        "total": total,
    }


def _row_json(row: RouteComparison) -> dict[str, Any]:
    plan, actual = row.planned, row.actual
    return {
        "truck": row.truck,
        "planned": None
        if plan is None
        else {"distance_m": round(plan.distance_m), "duration_s": round(plan.duration_s)},
        "actual": None
        if actual is None
        else {
            "distance_m": round(actual.distance_m),
            "working_s": round(actual.working_s),
            "start": actual.start.isoformat() if actual.start else None,
            "end": actual.end.isoformat() if actual.end else None,
            "start_basis": actual.start_basis,
            "end_basis": actual.end_basis,
        },
    }


def format_comparison(comparison: DayComparison) -> str:
    """``comparison`` as a text table: km and hours per truck and in total."""
    c = comparison
    lines = [
        f"Plan against actual driving on {c.day.isoformat()}",
        f"{'truck':<14}{'plan km':>9}{'actual km':>11}{'plan h':>8}{'actual h':>10}",
    ]
    for row in c.routes:
        plan, actual = row.planned, row.actual
        lines.append(
            _row(
                row.truck,
                None if plan is None else (plan.distance_m, plan.duration_s),
                None if actual is None else (actual.distance_m, actual.working_s),
            )
        )
    planned = (c.planned_distance_m, c.planned_duration_s)
    lines.append(_row("total", planned, (c.actual_distance_m, c.actual_working_s)))
    lines.append(
        f"trucks: {c.planned_trucks} planned, {c.actual_trucks} drove; saving "
        f"{c.saving_distance_m / 1000:.1f} km, {c.saving_duration_s / 3600:.2f} h, "
        f"{c.saving_trucks} truck(s)"
    )
    return "\n".join(lines) + "\n"


def _row(name: str, planned: tuple[float, float] | None, actual: tuple[float, float] | None) -> str:
    """A table line: km and h planned and actual, ``-`` where a side is missing."""
    cells = []
    for side, (km_width, h_width) in ((planned, (9, 8)), (actual, (11, 10))):
        if side is None:
            cells.append((f"{'-':>{km_width}}", f"{'-':>{h_width}}"))
        else:
            cells.append((f"{side[0] / 1000:>{km_width}.2f}", f"{side[1] / 3600:>{h_width}.2f}"))
    (plan_km, plan_h), (actual_km, actual_h) = cells
    return f"{name:<14}{plan_km}{actual_km}{plan_h}{actual_h}"


def route_figures(plan: Plan) -> list[RouteFigures]:
    """Each route of ``plan`` as its truck, distance and duration."""
    return [RouteFigures(r.vehicle, float(r.distance_m), float(r.duration_s)) for r in plan.routes]
