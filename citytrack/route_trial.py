"""A before/after trial of optimised collection routes on the simulated demo city.

    week 1: today's courses ─► simulator ─► fixes ─► hub store ─► learn stops, service
            and travel times (``hub.route_stats``)
    week 2: per day, the day's problem from the learned figures ─► PyVRP plan ─► the
            simulator drives the plan ─► fixes ─► hub store
    then:   each day's *driven* distance, working time and trucks, read back from the
            stored fixes (``hub.route_compare.actual_day``), week 2 against the same
            weekday of week 1

so a saving is confirmed from traces, not only predicted by the model the plan came from.
The prediction (the plan against today's courses evaluated in the same model,
``analytics.routing.courses.course_plan``) is reported next to it.

Both weeks see the same expected garbage (the emissions CSV by weekday); their traces
differ in everything the simulator randomises (traffic, service times, lunch breaks,
GNSS noise). ``citytrack`` uses this for ``bench/routes_week.py`` and its tests; it drives
the simulator, so like the demo it is not part of the hub.

Raises what its parts raise: ``RoutingError`` (bad data, an infeasible day), ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from analytics.routing.city import configured_sites
from analytics.routing.courses import course_plan
from analytics.routing.emissions import Emissions, read_emissions_csv
from analytics.routing.model import Plan, PlannedRoute, RoutingError
from analytics.routing.plan_io import plan_totals
from analytics.routing.solve import solve_problem
from citytrack.config import CitytrackConfig
from citytrack.wire import Fix
from firmware_sim.collection import DayTrace
from firmware_sim.collection_week import simulate_collection_week
from hub.route_compare import actual_day
from hub.route_stats import (
    RouteStatsRepository,
    format_learn_summary,
    load_day_problem,
    read_points,
)
from hub.store import DeviceRepository, FixRepository

WEEK = 7
INSERT_CHUNK = 20_000


@dataclass(frozen=True)
class Figures:
    """A day's collection work in total: km, hours, trucks that drove."""

    km: float
    hours: float
    trucks: int

    def saving_pct(self, after: Figures) -> tuple[float, float]:
        """(distance, time) saved by ``after`` against self, % of self (0 when empty)."""
        return _pct(self.km, after.km), _pct(self.hours, after.hours)


@dataclass(frozen=True)
class TrialDay:
    """One weekday: today's courses and the plan, predicted (model) and driven (traces)."""

    before_day: date
    after_day: date
    model_courses: Figures
    model_plan: Figures
    driven_courses: Figures
    driven_plan: Figures
    plan_feasible: bool


@dataclass(frozen=True)
class TrialResult:
    days: tuple[TrialDay, ...]
    fixes_stored: int
    learned: str

    def total(self, field: str) -> Figures:
        rows = [getattr(d, field) for d in self.days]
        return Figures(
            sum(r.km for r in rows), sum(r.hours for r in rows), sum(r.trucks for r in rows)
        )

    def as_dict(self) -> dict[str, Any]:
        before, after = self.total("driven_courses"), self.total("driven_plan")
        model_before, model_after = self.total("model_courses"), self.total("model_plan")
        driven = before.saving_pct(after)
        predicted = model_before.saving_pct(model_after)
        return {
            "driven_distance_saving_pct": round(driven[0], 2),
            "driven_time_saving_pct": round(driven[1], 2),
            "predicted_distance_saving_pct": round(predicted[0], 2),
            "predicted_time_saving_pct": round(predicted[1], 2),
            "truck_days_before": before.trucks,
            "truck_days_after": after.trucks,
            "fixes_stored": self.fixes_stored,
            "days": [_day_dict(d) for d in self.days],
        }


def run_trial(
    conn: psycopg.Connection[Any],
    cfg: CitytrackConfig,
    start: date,
    *,
    seed: int = 1,
    plan_seconds: float = 5.0,
    days: int = WEEK,
) -> TrialResult:
    """Drive today's courses for ``days`` days from ``start``, learn from them, plan the
    same weekdays in the following week(s) and drive the plans; see the module doc."""
    points = read_points(cfg)
    sites = configured_sites(cfg.city, points)
    emissions = _emissions(cfg, list(sites))
    positions = {pid: (s.lat_deg, s.lon_deg) for pid, s in sites.items()}
    DeviceRepository(conn).sync_registry(cfg.city)

    def kg_for_day(day: date) -> Mapping[str, float]:
        return emissions.on(day.weekday())

    before = simulate_collection_week(
        cfg, points.courses(), positions, {}, start, days, seed=seed, kg_for_day=kg_for_day
    )
    stored = _store(conn, before)
    seqs = _next_seqs(before)
    learned = RouteStatsRepository(conn).learn(cfg, start, start + timedelta(days=days - 1))
    offset = WEEK * -(-days // WEEK)
    out = []
    for k in range(days):
        day_before = start + timedelta(days=k)
        day_after = day_before + timedelta(days=offset)  # the same weekday, weeks later
        problem = load_day_problem(conn, cfg, day_after)
        plan = solve_problem(problem.problem, plan_seconds, seed=seed)
        today = course_plan(problem.problem, problem.courses)
        courses = _plan_courses(plan, cfg.city.disposal_site.id, problem.problem.depot)
        driven = simulate_collection_week(
            cfg, courses, positions, {}, day_after, 1, seed=seed + 1000 + k,
            kg_for_day=kg_for_day, seq_start=seqs,
        )  # fmt: skip
        stored += _store(conn, driven)
        seqs.update(_next_seqs(driven))
        out.append(
            TrialDay(
                day_before,
                day_after,
                _model(today),
                _model(plan),
                _driven(conn, cfg, day_before),
                _driven(conn, cfg, day_after),
                plan.feasible,
            )
        )
    return TrialResult(tuple(out), stored, format_learn_summary(learned))


def _emissions(cfg: CitytrackConfig, point_ids: Sequence[str]) -> Emissions:
    if cfg.routes.emissions_csv is None:
        raise RoutingError("the trial needs routes.emissions_csv")
    return read_emissions_csv(Path(cfg.routes.emissions_csv), point_ids)


def _plan_courses(plan: Plan, disposal_id: str, depot_id: str) -> dict[str, list[str]]:
    """Per truck, its plan as a simulator course: points in order, the disposal site's id
    where a trip ends there (the simulator empties there at the end of the day anyway)."""
    return {route.vehicle: _course(route, disposal_id, depot_id) for route in plan.routes}


def _course(route: PlannedRoute, disposal_id: str, depot_id: str) -> list[str]:
    items: list[str] = []
    for trip in route.trips:
        items.extend(v.client for v in trip.visits)
        if trip.end != depot_id:
            items.append(disposal_id)
    return items


def _store(conn: psycopg.Connection[Any], traces: Mapping[date, list[DayTrace]]) -> int:
    fixes: list[Fix] = [f for day in traces.values() for t in day for f in t.fixes]
    repo, now = FixRepository(conn), datetime.now(UTC)
    new = 0
    for i in range(0, len(fixes), INSERT_CHUNK):
        new += len(repo.insert_batch(fixes[i : i + INSERT_CHUNK], now))
    conn.commit()
    return new


def _next_seqs(traces: Mapping[date, list[DayTrace]]) -> dict[str, int]:
    return {t.device_id: t.next_seq for day in sorted(traces) for t in traces[day]}


def _model(plan: Plan) -> Figures:
    t = plan_totals(plan, final_unload=True)
    return Figures(t.distance_m / 1000, t.duration_s / 3600, t.trucks)


def _driven(conn: psycopg.Connection[Any], cfg: CitytrackConfig, day: date) -> Figures:
    trucks = [t for t in actual_day(conn, cfg, day) if t.drove]
    return Figures(
        sum(t.distance_m for t in trucks) / 1000,
        sum(t.working_s for t in trucks) / 3600,
        len(trucks),
    )


def _pct(before: float, after: float) -> float:
    return 100.0 * (before - after) / before if before else 0.0


def _day_dict(d: TrialDay) -> dict[str, Any]:
    def figures(f: Figures) -> dict[str, Any]:
        return {"km": round(f.km, 2), "hours": round(f.hours, 3), "trucks": f.trucks}

    return {
        "weekday": d.after_day.strftime("%a"),
        "before_day": d.before_day.isoformat(),
        "after_day": d.after_day.isoformat(),
        "model_courses": figures(d.model_courses),
        "model_plan": figures(d.model_plan),
        "driven_courses": figures(d.driven_courses),
        "driven_plan": figures(d.driven_plan),
        "plan_feasible": d.plan_feasible,
    }
