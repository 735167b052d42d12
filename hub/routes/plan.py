"""Plan a collection day and write ``plan.json``, ``plan.geojson`` and ``plan.html``
(``citytrack routes plan``).

The day's problem comes from the database and the configuration
(``hub.routes.stats.load_day_problem``, or any loader with its signature), the plan from
:func:`analytics.routing.solve.solve_problem`; :func:`analytics.routing.check.check_plan`
then checks it independently of the solver, and today's hand-made courses are evaluated
in the same model (:func:`analytics.routing.courses.course_plan`) for the saving. Files
are written only for a plan that passes the check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from analytics.routing.check import Violation, check_plan
from analytics.routing.city import DayProblem
from analytics.routing.courses import course_plan
from analytics.routing.model import Plan, RoutingError
from analytics.routing.plan_io import plan_geojson, plan_json, plan_totals
from analytics.routing.solve import solve_problem
from citytrack.config import CitytrackConfig
from hub.routes.report import render_plan
from hub.routes.thin import ThinInput, plan_thin_inputs, thin_json
from hub.storage.db import translate_errors

DayLoader = Callable[[psycopg.Connection[Any], CitytrackConfig, date], DayProblem]
FILES = ("plan.json", "plan.geojson", "plan.html")


@dataclass(frozen=True)
class DayPlan:
    """A day planned: its problem, the plan, what the checker found wrong with it, and
    today's courses in the same model (None, with ``courses_error``, when they cannot be
    evaluated), and what is too thin under it to trust the saving (``hub.routes.thin``)."""

    day: DayProblem
    plan: Plan
    violations: list[Violation]
    courses: Plan | None
    courses_error: str | None = None
    thin: list[ThinInput] = field(default_factory=list)


def plan_day(day: DayProblem, seconds: float, seed: int = 1) -> DayPlan:
    """Solve ``day`` for ``seconds``, check the plan, evaluate today's courses.

    Raises :class:`RoutingError` (:class:`InfeasibleError` naming the point, by id and
    name) when the problem has no feasible plan.
    """
    try:
        plan = solve_problem(day.problem, seconds, seed)
    except RoutingError as exc:
        site = day.sites.get(exc.client) if exc.client is not None else None
        if site is None:
            raise
        named = f"{exc} (point {site.id}: {site.name})"
        raise type(exc)(named, path=exc.path, client=exc.client) from exc
    try:
        courses, error = course_plan(day.problem, day.courses), None
    except RoutingError as exc:
        courses, error = None, str(exc)
    return DayPlan(day, plan, check_plan(day.problem, plan), courses, error, plan_thin_inputs(day))


def write_plan(result: DayPlan, out_dir: Path) -> list[Path]:
    """Write the three files into ``out_dir`` (created); their paths. Raises OSError."""
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = plan_json(result.day, result.plan, result.courses) | thin_json(result.thin)
    warnings = [t.message for t in result.thin]
    texts = (
        json.dumps(doc, ensure_ascii=False, indent=2),
        json.dumps(plan_geojson(result.day, result.plan), ensure_ascii=False),
        render_plan(result.day, result.plan, result.courses, warnings=warnings),
    )
    paths = [out_dir / name for name in FILES]
    for path, text in zip(paths, texts, strict=True):
        path.write_text(text + ("\n" if not text.endswith("\n") else ""), encoding="utf-8")
    return paths


def summary(result: DayPlan) -> str:
    """A few lines: the plan, today's courses and the saving."""
    final = result.day.final_unload is not None
    t = plan_totals(result.plan, final_unload=final)
    lines = [
        f"plan for {result.day.day.isoformat()}: {t.trucks} truck(s), {t.points} point(s), "
        f"{t.disposal_visits} trip(s) to the disposal site, {t.distance_m / 1000:.1f} km, "
        f"{t.duration_s / 3600:.2f} h"
    ]
    if result.courses is None:
        lines.append(f"today's courses not evaluated: {result.courses_error}")
        return "\n".join(lines)
    c = plan_totals(result.courses, final_unload=final)
    note = "" if c.feasible else " (not feasible in this model: see plan.json)"
    lines.append(
        f"today's courses: {c.trucks} truck(s), {c.distance_m / 1000:.1f} km, "
        f"{c.duration_s / 3600:.2f} h{note}"
    )
    saved = c.distance_m - t.distance_m
    share = f" ({100 * saved / c.distance_m:.1f} %)" if c.distance_m else ""
    lines.append(
        f"saving: {saved / 1000:.1f} km{share}, {(c.duration_s - t.duration_s) / 3600:.2f} h, "
        f"{c.trucks - t.trucks} truck(s)"
    )
    return "\n".join(lines)


def default_loader() -> DayLoader:
    """``hub.routes.stats.load_day_problem`` (imported on use: it needs the hub extra)."""
    from hub.routes.stats import load_day_problem

    return load_day_problem


def load_day(db_url: str, cfg: CitytrackConfig, day: date, load: DayLoader) -> DayProblem:
    """The day's problem read through ``load`` on a new connection to ``db_url``.

    Raises :class:`StoreError` when the database fails and what ``load`` raises
    (:class:`RoutingError` for bad or infeasible input).
    """
    with translate_errors("connect"):
        conn = psycopg.connect(db_url, autocommit=True)
    with conn:
        return load(conn, cfg, day)
