"""``citytrack db upgrade|rollups``: the hub database's schema and scheduled rollups, now."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import (
    CommandError,
    ConfigOpt,
    DbOpt,
    connect,
    database,
    failing_as,
    reaching,
    upgrade_schema,
)
from citytrack.config import load_config

app = typer.Typer(no_args_is_help=True, help="Database administration.")


@app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Create or migrate the hub's schema."""
    cfg = load_config(config)
    with database(cfg, db, migrate=False, create=True) as url, reaching(url, ""):
        applied = upgrade_schema(cfg, url)
    typer.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")


@app.command("rollups")
def db_rollups(
    days: Annotated[
        int, typer.Option(min=1, help="refresh driver_daily for this many local days to today")
    ] = 2,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Build every truck's trips and refresh driver_daily once (the hub does this every
    hub.maintenance_interval_s)."""
    from citytrack import wire
    from hub.storage.rollups import RollupJob

    cfg = load_config(config)
    job = RollupJob.for_city(cfg.city, cfg.detectors.quality, days=days)
    with failing_as("rollups failed"), database(cfg, db) as url, connect(url) as conn:
        result = job.run(conn, wire.utcnow())
    typer.echo(result.summary())
    if result.failed or result.daily_rows is None:
        undone = [f"trips of {', '.join(result.failed)} not built"] if result.failed else []
        if result.daily_rows is None:
            undone.append("driver_daily not refreshed")
        raise CommandError(f"rollups failed: {'; '.join(undone)}")
