"""Routing benchmark: the route solver on the corpus's CVRPLIB and Solomon instances, with
the gap to each instance's best-known cost.

    .venv/bin/python bench/routing.py [--budget-factor 2.4 | --quick] [--only NAME ...]
                                      [--seed 1] [--jobs 1] [--json PATH]

Each instance gets ``budget-factor x n`` seconds of wall time (n customers); ``--quick``
gives ``0.05 x n`` capped at 5 s, for CI-sized checks. Costs follow each benchmark's
convention (CVRPLIB: rounded Euclidean; Solomon: DIMACS, truncated to 0.1). Prints a table
and the average gaps on the X instances and on the A/B/P instances; ``--json`` writes
``x_avg_gap_pct``, ``a_avg_gap_pct`` (A, B and P), ``vrptw_avg_gap_pct`` and per-instance
figures. ``--jobs`` solves that many instances at once, one core each.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

from analytics.routing.instances import read_instance
from analytics.routing.solve import solve_instance

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "cvrp"
QUICK_FACTOR = 0.05
"""Seconds per customer under --quick."""
QUICK_CAP_S = 5.0
"""Longest budget per instance under --quick, s."""


@dataclass(frozen=True)
class Row:
    """One instance's figures: cost and best known in instance units, times in s."""

    instance: str
    group: str
    n: int
    budget_s: float
    cost: float | None
    best_known: float | None
    gap_pct: float | None
    time_s: float
    feasible: bool
    routes: int


def group_of(path: Path) -> str:
    """``X``, ``ABP`` (Augerat A/B, Christofides-Eilon P) or ``VRPTW``."""
    if path.suffix == ".txt":
        return "VRPTW"
    return "X" if path.name.startswith("X-") else "ABP"


def instance_paths(corpus: Path, only: list[str] | None) -> list[Path]:
    """CVRP ``.vrp`` then Solomon ``.txt`` files under ``corpus``, smallest first."""
    paths = sorted((corpus / "cvrp").glob("*.vrp")) + sorted((corpus / "vrptw").glob("*.txt"))
    if only:
        paths = [p for p in paths if p.stem in only]
    return sorted(paths, key=lambda p: (group_of(p) == "VRPTW", read_instance(p).num_clients))


def budget_s(n: int, factor: float, quick: bool) -> float:
    """Wall-time budget for an instance with n customers, s."""
    return min(QUICK_FACTOR * n, QUICK_CAP_S) if quick else factor * n


def run_one(path: Path, seconds: float, seed: int) -> Row:
    """Solve one instance and collect its figures."""
    solution = solve_instance(path, seconds=seconds, seed=seed)
    gap = solution.gap_pct
    return Row(
        instance=solution.instance,
        group=group_of(path),
        n=read_instance(path).num_clients,
        budget_s=round(seconds, 2),
        cost=solution.cost if solution.feasible else None,
        best_known=solution.best_known,
        gap_pct=round(gap, 3) if gap is not None else None,
        time_s=round(solution.runtime_s, 2),
        feasible=solution.feasible,
        routes=len(solution.routes),
    )


def average_gap(rows: list[Row], group: str) -> float | None:
    """Mean gap (%) over the group's instances that have one, or None if none has."""
    gaps = [r.gap_pct for r in rows if r.group == group and r.gap_pct is not None]
    return round(sum(gaps) / len(gaps), 3) if gaps else None


def print_table(rows: list[Row], header: str) -> None:
    """The figures as a readable table, then the averages."""
    print(header)
    print(f"  {'instance':<12} {'n':>4} {'cost':>9} {'best':>9} {'gap %':>7} {'time s':>8}")
    for r in rows:
        cost = "infeas." if r.cost is None else f"{r.cost:g}"
        best = "-" if r.best_known is None else f"{r.best_known:g}"
        gap = "-" if r.gap_pct is None else f"{r.gap_pct:.2f}"
        print(f"  {r.instance:<12} {r.n:>4} {cost:>9} {best:>9} {gap:>7} {r.time_s:>8.1f}")
    for label, group in (("X", "X"), ("A/B/P", "ABP"), ("VRPTW", "VRPTW")):
        avg = average_gap(rows, group)
        print(f"  average gap {label:<6} {'-' if avg is None else f'{avg:.2f} %'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget-factor", type=float, default=2.4, help="seconds per customer")
    ap.add_argument("--quick", action="store_true", help="0.05 s per customer, at most 5 s")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="instance names, e.g. A-n32-k5")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="instances solved at once")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="folder with cvrp/ and vrptw/")
    ap.add_argument("--json", type=Path, help="write the figures as JSON")
    args = ap.parse_args()
    paths = instance_paths(args.corpus, args.only)
    if not paths:
        print(f"no instances under {args.corpus}", file=sys.stderr)
        return 2
    budgets = [
        budget_s(read_instance(p).num_clients, args.budget_factor, args.quick) for p in paths
    ]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(run_one, paths, budgets, [args.seed] * len(paths)))
    mode = "quick" if args.quick else f"{args.budget_factor:g} x n s"
    print_table(rows, f"citytrack routing benchmark (PyVRP {version('pyvrp')}, budget {mode})")
    if args.json:
        figures = {
            "solver": f"pyvrp {version('pyvrp')}",
            "budget": mode,
            "seed": args.seed,
            "x_avg_gap_pct": average_gap(rows, "X"),
            "a_avg_gap_pct": average_gap(rows, "ABP"),
            "vrptw_avg_gap_pct": average_gap(rows, "VRPTW"),
            "instances": [asdict(r) for r in rows],
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
