"""``citytrack routes``: collection-route planning (see docs/routing.md).

citytrack routes solve INSTANCE     solve a VRPLIB instance
citytrack routes learn --from --to  service and travel times from stored fixes
citytrack routes import-emissions   expected garbage per point and weekday (CSV)
citytrack routes plan --date D      plan a collection day (JSON, GeoJSON, HTML)
citytrack routes compare --date D   a day's plan against what the trucks drove
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import ConfigOpt, DbOpt, db_url, fail, load_or_fail
from citytrack.config import CitytrackConfig

routes_app = typer.Typer(no_args_is_help=True, help="Collection-route planning.")


@routes_app.command("solve")
def routes_solve(
    instance: Annotated[Path, typer.Argument(help="VRPLIB .vrp (CVRP) or Solomon .txt (VRPTW)")],
    seconds: Annotated[float, typer.Option(help="solver time budget")] = 10.0,
    seed: Annotated[int, typer.Option(help="solver seed")] = 1,
) -> None:
    """Solve a VRPLIB instance; prints the routes and the cost (CVRPLIB convention)."""
    from analytics.routing.solve import solve_main

    raise typer.Exit(solve_main(instance, seconds, sys.stdout, seed=seed))


@routes_app.command("learn")
def routes_learn(
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="first day")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="last day")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Learn stops, service and travel times from the stored fixes of these days."""
    import psycopg

    from hub.routes.stats import RouteStatsRepository, format_learn_summary
    from hub.storage import schema
    from hub.storage.fleet import StoreError

    cfg = load_or_fail(config)
    url, server = db_url(cfg, db)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            schema.upgrade(conn)
            summary = RouteStatsRepository(conn).learn(cfg, start.date(), end.date())
    except (ValueError, StoreError) as exc:  # RouteDataError, RoutingError are ValueErrors
        fail(str(exc))
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    typer.echo(format_learn_summary(summary))


@routes_app.command("import-emissions")
def routes_import_emissions(
    csv: Annotated[
        Path | None, typer.Argument(help="point_id,weekday,kg (default routes.emissions_csv)")
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Store the expected garbage per collection point and weekday; planning uses it."""
    import psycopg

    from hub.routes.stats import RouteStatsRepository
    from hub.storage import schema
    from hub.storage.fleet import StoreError

    cfg = load_or_fail(config)
    path = csv or (Path(cfg.routes.emissions_csv) if cfg.routes.emissions_csv else None)
    if path is None:
        fail("give a CSV file: routes.emissions_csv is not set")
    url, server = db_url(cfg, db)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            schema.upgrade(conn)
            stored = RouteStatsRepository(conn).import_emissions(path, cfg)
    except (ValueError, StoreError) as exc:
        fail(str(exc))
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    typer.echo(f"stored {stored} emission row(s) from {path}")


def _routes_db(cfg: CitytrackConfig, db: str | None) -> tuple[str, object]:
    """``db_url``, with the schema created when the embedded database may be brand new."""
    import psycopg

    from hub.storage import schema

    url, server = db_url(cfg, db)
    if server is not None:
        with psycopg.connect(url, autocommit=True) as conn:
            schema.upgrade(conn)
    return url, server


DayOpt = Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="YYYY-MM-DD")]
SecondsOpt = Annotated[
    float | None, typer.Option(help="solver time budget, s (default routes.plan_seconds)")
]


@routes_app.command("plan")
def routes_plan(
    day: DayOpt,
    out: Annotated[Path | None, typer.Option(help="output directory (plans/<date>/)")] = None,
    seconds: SecondsOpt = None,
    seed: Annotated[int, typer.Option(help="solver seed")] = 1,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Plan a collection day: plan.json, plan.geojson and plan.html, and the saving."""
    from hub.routes.plan import plan_main

    cfg = load_or_fail(config)
    url, server = _routes_db(cfg, db)
    try:
        code = plan_main(
            db_url=url,
            cfg=cfg,
            day=day.date(),
            out_dir=out or Path("plans") / day.date().isoformat(),
            seconds=cfg.routes.plan_seconds if seconds is None else seconds,
            seed=seed,
            out=sys.stdout,
            err=sys.stderr,
        )
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    raise typer.Exit(code)


@routes_app.command("compare")
def routes_compare(
    day: DayOpt,
    plan: Annotated[Path | None, typer.Option(help="plan.json (default: plan now)")] = None,
    seconds: SecondsOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """A day's plan against what the trucks drove: distance, working time, trucks."""
    from hub.routes.compare import compare_main

    cfg = load_or_fail(config)
    url, server = _routes_db(cfg, db)
    try:
        code = compare_main(
            db_url=url,
            cfg=cfg,
            day=day.date(),
            plan=plan,
            seconds=cfg.routes.plan_seconds if seconds is None else seconds,
            as_json=json_out,
            out=sys.stdout,
            err=sys.stderr,
        )
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    raise typer.Exit(code)
