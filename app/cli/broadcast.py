"""``citytrack broadcast``: an emergency notice to every guardian of a school or ward."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer

from app.cli.common import ConfigOpt, DbOpt, UsageError, database
from citytrack.config import load_config


def broadcast(
    text_ja: Annotated[str, typer.Option("--ja", help="the notice in Japanese")],
    text_en: Annotated[str, typer.Option("--en", help="the notice in English")],
    school: Annotated[str | None, typer.Option(help="every guardian of this school")] = None,
    ward: Annotated[str | None, typer.Option(help="every guardian of this ward's schools")] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for deliveries")] = 30.0,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """An emergency notice to every guardian of a school or ward, with delivery counts."""
    from hub.notify.service import NotificationService

    scope: Literal["school", "ward"]
    if school is not None and ward is None:
        scope, scope_id = "school", school
    elif ward is not None and school is None:
        scope, scope_id = "ward", ward
    else:
        raise UsageError("give exactly one of --school ID or --ward NAME")
    cfg = load_config(config)
    with database(cfg, db) as url:
        service = NotificationService(cfg.watch, url, timezone=cfg.city.timezone)
        service.start()
        try:
            result = service.broadcast(scope, scope_id, text_ja, text_en)
            service.wait_idle(wait)
            counts = service.delivery_counts(result.broadcast_id)
        finally:
            service.stop()
    typer.echo(f"broadcast to {result.guardians} guardian(s): {json.dumps(counts)}")
