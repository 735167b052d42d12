"""Collection-route trial: a simulated week on today's courses, plans learned from its
traces, and a second week driving those plans, on the demo city (``config/osaka.toml``).

    .venv/bin/python bench/routes_week.py [--seconds 10] [--seed 1] [--days 7] [--quick]
                                          [--db URL] [--json PATH]

A private PostgreSQL (or the scratch database ``--db`` names) holds the fixes;
``evaluation.route_trial`` runs the trial (see its doc). Prints per weekday: today's
courses and the plan, as the planning model predicts them and as the simulated trucks
drove them (from the stored fixes), how far the driven working time is from the model's
and how long the trucks stood waiting for windows; then the week's savings. ``--json``
writes ``driven_distance_saving_pct``, ``driven_time_saving_pct``,
``predicted_distance_saving_pct``, ``predicted_time_saving_pct``, ``courses_time_gap_pct``,
``plan_time_gap_pct`` (driven working time minus the model's, % of the model's),
truck-days before and after, and the per-day figures. ``--quick`` is a smoke run
(``QUICK``: one day, a short solver budget), not a measurement; the simulated day's
100,000 fixes still take most of a minute.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from datetime import date

import harness  # bench/harness.py, beside this script
import psycopg

from citytrack.config import load_config
from evaluation.route_trial import Figures, TrialResult, run_trial
from hub.storage import schema

START = date(2026, 11, 2)  # a Monday
QUICK = {"days": 1, "seconds": 1.0}
"""What --quick runs: Monday alone, planned in a second."""


def _row(name: str, f: Figures) -> str:
    return f"{name:>15} {f.km:8.1f} km {f.hours:6.2f} h {f.trucks:2d} trucks"


def report(result: TrialResult) -> None:
    for d in result.days:
        print(f"{d.after_day:%a} (learned from {d.before_day}, planned for {d.after_day})")
        print(_row("model courses", d.model_courses), "|", _row("model plan", d.model_plan))
        print(_row("driven courses", d.driven_courses), "|", _row("driven plan", d.driven_plan))
        gap = d.time_gap_pct()
        print(
            f"{'driven - model':>15} {gap[0]:+8.1f} % time, waited {d.courses_wait_h:.2f} h"
            f" | {'driven - model':>15} {gap[1]:+8.1f} % time, waited {d.plan_wait_h:.2f} h"
        )
    figures = result.as_dict()
    print("week totals:")
    print(_row("driven courses", result.total("driven_courses")))
    print(_row("driven plan", result.total("driven_plan")))
    for key, value in figures.items():
        if key != "days":
            print(f"  {key:<32} {value}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="solver budget per day, s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=int, default=7)
    args = harness.parse(ap, QUICK, broker=False)
    with ExitStack() as stack:
        db_url = harness.database_url(args.db, harness.scratch("citytrack-routes-"), stack)
        cfg = load_config()
        with psycopg.connect(db_url) as conn:
            schema.upgrade(conn)
            began = time.perf_counter()
            result = run_trial(
                conn, cfg, START, seed=args.seed, plan_seconds=args.seconds, days=args.days
            )
            elapsed = time.perf_counter() - began
    print(result.learned)
    report(result)
    print(f"  {'elapsed_s':<32} {elapsed:.1f}")
    if args.json:
        figures = result.as_dict() | {"elapsed_s": round(elapsed, 1)}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
