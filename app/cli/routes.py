"""``citytrack routes``: collection-route planning (see docs/routing.md).

citytrack routes solve INSTANCE     solve a VRPLIB instance
citytrack routes learn --from --to  service and travel times from stored fixes
citytrack routes import-emissions   expected garbage per point and weekday (CSV)
citytrack routes plan --date D      plan a collection day (JSON, GeoJSON, HTML)
citytrack routes compare --date D   a day's plan against what the trucks drove

``plan`` and ``compare`` exit 1 for whatever stops them, the input's infeasibility
included, with the day in the message (``cannot plan 2026-11-26: ...``). When they answer
from too little data (``hub.routes.thin``: service times mostly defaulted, far less
driving stored than planned) they still answer, with one ``citytrack: warning: ...`` line
per reason on standard error and ``inputs_too_thin`` in plan.json and the JSON output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import (
    CommandError,
    ConfigOpt,
    DbOpt,
    UsageError,
    connect,
    database,
    failing_as,
)
from citytrack.config import load_config
from citytrack.times import parse_day

if TYPE_CHECKING:
    from hub.routes.plan import DayPlan
    from hub.routes.thin import ThinInput

app = typer.Typer(no_args_is_help=True, help="Collection-route planning.")


@app.command("solve")
def routes_solve(
    instance: Annotated[Path, typer.Argument(help="VRPLIB .vrp (CVRP) or Solomon .txt (VRPTW)")],
    seconds: Annotated[float, typer.Option(help="solver time budget")] = 10.0,
    seed: Annotated[int, typer.Option(help="solver seed")] = 1,
) -> None:
    """Solve a VRPLIB instance; prints the routes and the cost (CVRPLIB convention)."""
    from analytics.routing.solve import format_solution, solve_instance

    solution = solve_instance(instance, seconds=seconds, seed=seed)
    if not solution.feasible:
        raise CommandError(f"No feasible solution found in {seconds:g} s")
    typer.echo(format_solution(solution), nl=False)


@app.command("learn")
def routes_learn(
    start: Annotated[str, typer.Option("--from", help="first day, 2026-03-02")],
    end: Annotated[str, typer.Option("--to", help="last day, 2026-03-27")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Learn stops, service and travel times from the stored fixes of these days."""
    from hub.routes.stats import RouteStatsRepository, format_learn_summary

    cfg = load_config(config)
    first, last = parse_day(start, name="--from"), parse_day(end, name="--to")
    with database(cfg, db) as url, connect(url) as conn:
        summary = RouteStatsRepository(conn).learn(cfg, first, last)
    typer.echo(format_learn_summary(summary))


@app.command("import-emissions")
def routes_import_emissions(
    csv: Annotated[
        Path | None, typer.Argument(help="point_id,weekday,kg (default routes.emissions_csv)")
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Store the expected garbage per collection point and weekday; planning uses it."""
    from hub.routes.stats import RouteStatsRepository

    cfg = load_config(config)
    path = csv or (Path(cfg.routes.emissions_csv) if cfg.routes.emissions_csv else None)
    if path is None:
        raise UsageError("give a CSV file: routes.emissions_csv is not set")
    with database(cfg, db) as url, connect(url) as conn:
        stored = RouteStatsRepository(conn).import_emissions(path, cfg)
    typer.echo(f"stored {stored} emission row(s) from {path}")


DayOpt = Annotated[str, typer.Option("--date", help="the day, 2026-11-26")]
SecondsOpt = Annotated[
    float | None, typer.Option(help="solver time budget, s (default routes.plan_seconds)")
]


@app.command("plan")
def routes_plan(
    day: DayOpt,
    out: Annotated[Path | None, typer.Option(help="output directory (plans/<date>/)")] = None,
    seconds: SecondsOpt = None,
    seed: Annotated[int, typer.Option(help="solver seed")] = 1,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Plan a collection day: plan.json, plan.geojson and plan.html, and the saving."""
    from analytics.routing.model import RoutingError
    from hub.routes.plan import default_loader, load_day, plan_day, summary

    cfg = load_config(config)
    date = parse_day(day, name="--date")
    budget = cfg.routes.plan_seconds if seconds is None else seconds
    with failing_as(f"cannot plan {date}", RoutingError), database(cfg, db) as url:
        result = plan_day(load_day(url, cfg, date, default_loader()), budget, seed)
    paths = write_checked_plan(result, out or Path("plans") / date.isoformat())
    typer.echo(summary(result))
    typer.echo(f"wrote {', '.join(str(p) for p in paths)}")
    warn_thin(result.thin)


def warn_thin(found: list[ThinInput]) -> None:
    """One line on standard error per reason the answer stands on too little data."""
    for thin in found:
        typer.echo(f"citytrack: warning: inputs too thin: {thin.message}", err=True)


def write_checked_plan(result: DayPlan, out_dir: Path) -> list[Path]:
    """Write the plan's three files into ``out_dir`` if it passed its check; their paths.

    Raises:
        CommandError: the plan breaks a rule (each violation listed), or the files cannot
            be written.
    """
    from hub.routes.plan import write_plan

    if result.violations:
        broken = "; ".join(str(v) for v in result.violations)
        raise CommandError(f"the plan for {result.day.day} fails its check: {broken}")
    with failing_as(f"cannot write the plan to {out_dir}", OSError):
        return write_plan(result, out_dir)


@app.command("compare")
def routes_compare(
    day: DayOpt,
    plan: Annotated[Path | None, typer.Option(help="plan.json (default: plan now)")] = None,
    seconds: SecondsOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """A day's plan against what the trucks drove: distance, working time, trucks."""
    from analytics.routing.compare import comparison_json, format_comparison
    from analytics.routing.model import RoutingError
    from hub.routes.compare import compare_plan
    from hub.routes.thin import comparison_thin_inputs, thin_json

    cfg = load_config(config)
    date = parse_day(day, name="--date")
    budget = cfg.routes.plan_seconds if seconds is None else seconds
    with failing_as(f"cannot compare {date}", RoutingError), database(cfg, db) as url:
        comparison = compare_plan(url, cfg, date, plan, budget)
    thin = comparison_thin_inputs(comparison)
    if json_out:
        doc = comparison_json(comparison) | thin_json(thin)
        typer.echo(json.dumps(doc, ensure_ascii=False))
    else:
        typer.echo(format_comparison(comparison), nl=False)
    warn_thin(thin)
