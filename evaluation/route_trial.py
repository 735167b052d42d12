"""A before/after trial of optimised collection routes on the simulated demo city.

    week 1: today's courses ─► simulator ─► fixes ─► hub store ─► learn stops, service
            and travel times (``hub.routes.stats``)
    week 2: per day, the day's problem from the learned figures ─► PyVRP plan ─► the
            simulator drives the plan ─► fixes ─► hub store
    then:   each day's *driven* distance, working time and trucks, read back from the
            stored fixes (``hub.routes.compare.actual_day``), week 2 against the same
            weekday of week 1

so a saving is confirmed from traces, not only predicted by the model the plan came from.
The prediction (the plan against today's courses evaluated in the same model,
``analytics.routing.courses.course_plan``) is reported next to it, and per day how far
the driven working time is from the model's.

Both weeks keep the points' windows (the points CSV): a truck that reaches a point before
its window opens stands there until it does. Both leave the depot when their model says:
a plan's truck at its route's ``start_s``; a course's truck, in week 1, as late as it can
without arriving anywhere later, reckoned in the model with nothing learned yet (the
configured speeds and default service time: the crews' own estimate).

Both weeks see the same expected garbage (the emissions CSV by weekday); their traces
differ in everything the simulator randomises (traffic, service times, lunch breaks,
GNSS noise). ``citytrack`` uses this for ``bench/routes_week.py`` and its tests; it drives
the simulator, so like the demo it is not part of the hub.

Raises what its parts raise: ``RoutingError`` (bad data, an infeasible day), ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import psycopg

from analytics.routing.city import DayProblem, build_day_problem, configured_sites
from analytics.routing.courses import course_plan
from analytics.routing.emissions import Emissions, read_emissions_csv
from analytics.routing.model import Plan, PlannedRoute, RoutingError
from analytics.routing.observed import RouteStats
from analytics.routing.plan_io import local_time, plan_totals
from analytics.routing.points import PointsTable
from analytics.routing.solve import solve_problem
from citytrack.config import CitytrackConfig
from citytrack.wire import Fix
from firmware_sim.collection import DayTrace
from firmware_sim.collection_week import Departures, simulate_collection_week
from hub.routes.compare import actual_day
from hub.routes.stats import (
    RouteStatsRepository,
    format_learn_summary,
    load_day_problem,
    read_points,
)
from hub.storage.fleet import DeviceRepository, FixRepository

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
    """One weekday: today's courses and the plan, predicted (model) and driven (traces);
    and the hours the simulated trucks stood waiting for windows (ground truth)."""

    before_day: date
    after_day: date
    model_courses: Figures
    model_plan: Figures
    driven_courses: Figures
    driven_plan: Figures
    plan_feasible: bool
    courses_wait_h: float = 0.0
    plan_wait_h: float = 0.0

    def time_gap_pct(self) -> tuple[float, float]:
        """(courses, plan): driven working time minus the model's, % of the model's."""
        return (
            _gap_pct(self.model_courses.hours, self.driven_courses.hours),
            _gap_pct(self.model_plan.hours, self.driven_plan.hours),
        )


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
            "courses_time_gap_pct": round(_gap_pct(model_before.hours, before.hours), 2),
            "plan_time_gap_pct": round(_gap_pct(model_after.hours, after.hours), 2),
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
    DeviceRepository(conn).sync_registry(cfg.city)
    positions = {pid: (s.lat_deg, s.lon_deg) for pid, s in sites.items()}
    drive = _Driver(conn, cfg, positions, emissions)
    departures = _course_departures(cfg, points, emissions, start, days)
    opens = {pid: span[0] for pid, span in points.windows().items()}
    before = drive(points.courses(), start, days, seed, departures, opens)
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
        leave = {day_after: _departures(problem, plan)}
        driven = drive(courses, day_after, 1, seed + 1000 + k, leave, _window_opens(problem))
        out.append(
            TrialDay(
                day_before,
                day_after,
                _model(today),
                _model(plan),
                _driven(conn, cfg, day_before),
                _driven(conn, cfg, day_after),
                plan.feasible,
                _wait_h(before[day_before]),
                _wait_h(driven[day_after]),
            )
        )
    return TrialResult(tuple(out), drive.stored, format_learn_summary(learned))


@dataclass
class _Driver:
    """Drives courses in the simulator and stores their fixes; ``seq`` continues per
    device from one call to the next."""

    conn: psycopg.Connection[Any]
    cfg: CitytrackConfig
    positions: Mapping[str, tuple[float, float]]
    emissions: Emissions
    seqs: dict[str, int] = field(default_factory=dict)
    stored: int = 0

    def __call__(
        self,
        courses: Mapping[str, Sequence[str]],
        start: date,
        days: int,
        seed: int,
        departures: Departures,
        not_before: Mapping[str, time],
    ) -> dict[date, list[DayTrace]]:
        traces = simulate_collection_week(
            self.cfg, courses, self.positions, {}, start, days, seed=seed,
            kg_for_day=lambda day: self.emissions.on(day.weekday()), seq_start=self.seqs,
            departures=departures, not_before=not_before,
        )  # fmt: skip
        self.stored += _store(self.conn, traces)
        self.seqs.update(_next_seqs(traces))
        return traces


def _emissions(cfg: CitytrackConfig, point_ids: Sequence[str]) -> Emissions:
    if cfg.routes.emissions_csv is None:
        raise RoutingError("the trial needs routes.emissions_csv")
    return read_emissions_csv(Path(cfg.routes.emissions_csv), point_ids)


def _course_departures(
    cfg: CitytrackConfig, points: PointsTable, emissions: Emissions, start: date, days: int
) -> dict[date, dict[str, time]]:
    """When each truck leaves on today's courses, ``days`` days from ``start``: as
    ``course_plan`` schedules them in the model with nothing learned yet."""
    stats = RouteStats.for_config(cfg.routes)
    out = {}
    for k in range(days):
        day = start + timedelta(days=k)
        problem = build_day_problem(cfg.city, cfg.routes, day, stats, points, emissions)
        out[day] = _departures(problem, course_plan(problem.problem, problem.courses))
    return out


def _departures(day: DayProblem, plan: Plan) -> dict[str, time]:
    """Per truck, the local time its route leaves the depot."""
    return {route.vehicle: local_time(day.origin, route.start_s).time() for route in plan.routes}


def _window_opens(day: DayProblem) -> dict[str, time]:
    """Per client with a window, the local time it opens."""
    return {
        c.name: local_time(day.origin, c.window_s[0]).time()
        for c in day.problem.clients
        if c.window_s is not None
    }


def _wait_h(traces: Sequence[DayTrace]) -> float:
    return sum(v.wait_s for t in traces for v in t.visits) / 3600


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


def _gap_pct(model: float, driven: float) -> float:
    """How far ``driven`` is above ``model``, % of ``model`` (0 when the model is empty)."""
    return 100.0 * (driven - model) / model if model else 0.0


def _day_dict(d: TrialDay) -> dict[str, Any]:
    def figures(f: Figures) -> dict[str, Any]:
        return {"km": round(f.km, 2), "hours": round(f.hours, 3), "trucks": f.trucks}

    courses_gap, plan_gap = d.time_gap_pct()

    return {
        "weekday": d.after_day.strftime("%a"),
        "before_day": d.before_day.isoformat(),
        "after_day": d.after_day.isoformat(),
        "model_courses": figures(d.model_courses),
        "model_plan": figures(d.model_plan),
        "driven_courses": figures(d.driven_courses),
        "driven_plan": figures(d.driven_plan),
        "plan_feasible": d.plan_feasible,
        "courses_time_gap_pct": round(courses_gap, 2),
        "plan_time_gap_pct": round(plan_gap, 2),
        "courses_wait_h": round(d.courses_wait_h, 3),
        "plan_wait_h": round(d.plan_wait_h, 3),
    }
