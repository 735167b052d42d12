"""``citytrack broadcast``: an emergency notice to every guardian of a school or ward.

Before anything is queued, the scope is looked up (a ward by its name in any case, a
school by its id; an unknown one lists the valid ones) and every channel its guardians
need must be usable: a LINE or webhook channel whose secret's environment variable is
unset is refused, naming the variable (exit 2). The command prints the delivery counts
and exits 1 when a notice was not delivered within ``--wait``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from app.cli.common import CommandError, ConfigOpt, DbOpt, UsageError, database
from citytrack.config import load_config

if TYPE_CHECKING:
    from citytrack.config.watch import WatchConfig

Scope = Literal["school", "ward"]


def broadcast(
    text_ja: Annotated[str, typer.Option("--ja", help="the notice in Japanese")],
    text_en: Annotated[str, typer.Option("--en", help="the notice in English")],
    school: Annotated[str | None, typer.Option(help="every guardian of this school (id)")] = None,
    ward: Annotated[str | None, typer.Option(help="every guardian of this ward's schools")] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for deliveries")] = 30.0,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """An emergency notice to every guardian of a school or ward, with delivery counts."""
    from hub.notify.service import NotificationService

    cfg = load_config(config)
    scope, scope_id = resolve_scope(cfg.watch, school, ward)
    check_channels(cfg.watch, scope, scope_id, os.environ)
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
    undelivered = sum(n for status, n in counts.items() if status != "delivered")
    if undelivered:
        raise CommandError(
            f"{undelivered} of {sum(counts.values())} notice(s) not delivered within "
            f"{wait:g} s; the hub's log says why (citytrack_watch_* counters)"
        )


def resolve_scope(cfg: WatchConfig, school: str | None, ward: str | None) -> tuple[Scope, str]:
    """The scope and its id as configured: a ward matched in any case, a school by id.

    Raises:
        UsageError: not exactly one of the two, or one the configuration does not have
            (the message lists the valid ones).
    """
    if (school is None) == (ward is None):
        raise UsageError("give exactly one of --school ID or --ward NAME")
    if ward is not None:
        wards = sorted({s.ward for s in cfg.schools})
        found = [w for w in wards if w.casefold() == ward.strip().casefold()]
        if not found:
            raise UsageError(f"no ward {ward!r} in [[watch.schools]]: one of {', '.join(wards)}")
        return "ward", found[0]
    ids = sorted(s.id for s in cfg.schools)
    found = [i for i in ids if i.casefold() == str(school).strip().casefold()]
    if not found:
        raise UsageError(f"no school {school!r} in [[watch.schools]]: one of {', '.join(ids)}")
    return "school", found[0]


def check_channels(
    cfg: WatchConfig, scope: Scope, scope_id: str, environ: Mapping[str, str]
) -> None:
    """Refuse a broadcast some of whose guardians need a channel with no secret set.

    Raises:
        UsageError: names the environment variable and how many guardians need it.
    """
    schools = {s.id for s in cfg.schools if (s.ward if scope == "ward" else s.id) == scope_id}
    guardian_ids = {g for c in cfg.children if c.school_id in schools for g in c.guardian_ids}
    needs: Counter[str] = Counter(
        ch.kind for g in cfg.guardians if g.id in guardian_ids for ch in g.channels
    )
    secrets = {
        "line": (cfg.notify.line_token_env, "the LINE channel access token"),
        "webhook": (cfg.notify.webhook_secret_env, "the webhook signing secret"),
    }
    for kind, (variable, what) in secrets.items():
        if needs[kind] and not environ.get(variable):
            raise UsageError(
                f"${variable} is not set: {needs[kind]} guardian(s) of {scope_id} are "
                f"reached by {kind}; set it to {what} and try again"
            )
