"""The ``citytrack`` command: one entry point for devices, the hub and the demo.

    citytrack demo                      simulated trucks through the real pipeline
    citytrack hub                       ingest + detectors + HTTP API
    citytrack agent vehicle             a truck's GNSS edge agent
    citytrack agent station             a child-watch BLE base station
    citytrack sim gps                   a GPS receiver simulator on a pty
    citytrack db upgrade                create/migrate the schema
    citytrack db rollups                build trips, refresh driver_daily (once)
    citytrack alerts                    supervisor's alert table
    citytrack trips                     trips per truck or driver (table or JSON)
    citytrack broadcast                 emergency notice to a school's or ward's guardians
    citytrack report drivers            driving-tendency report (HTML)
    citytrack analyze FILE|-            the hub's detectors over a raw NMEA log
    citytrack routes solve INSTANCE     solve a VRPLIB instance
    citytrack routes plan --date D      plan a collection day (JSON, GeoJSON, HTML)
    citytrack routes compare --date D   a day's plan against what the trucks drove
    citytrack routes learn --from --to  service and travel times from stored fixes
    citytrack routes import-emissions   expected garbage per point and weekday (CSV)
    citytrack nmea decode FILE|-        what the agent makes of a raw NMEA log
    citytrack ble decode HEX...         what a station makes of raw advertising data

One module per command group in this package (``app.cli.demo``, ``app.cli.routes``...),
their shared options and the database context manager in ``app.cli.common``. Heavy
imports happen inside each command, so a device installs only its extra. Commands raise;
:class:`CitytrackGroup` is the one place that turns a ``CitytrackError`` into one line
``citytrack: <message>`` on stderr and the error's exit code (2 for what the user must
fix, 1 for the rest), never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer >= 0.2x carries its own click
from typer.core import TyperGroup

from app.cli import (
    agent,
    alerts,
    analyze,
    ble,
    broadcast,
    broker,
    db,
    demo,
    hub,
    nmea,
    report,
    routes,
    sim,
    trips,
)
from citytrack.config import ConfigError
from citytrack.errors import CitytrackError


def error_line(exc: CitytrackError) -> str:
    """The one line a user sees for ``exc`` (without the ``citytrack:`` prefix)."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return f"bad configuration: {text}" if isinstance(exc, ConfigError) else text


class CitytrackGroup(TyperGroup):
    """The root group: runs the command and turns a ``CitytrackError`` it raises into one
    line on stderr and ``exit_code`` (also under typer's ``CliRunner``)."""

    def invoke(self, ctx: Any) -> Any:  # the click.Context of the click that typer runs on
        try:
            return super().invoke(ctx)
        except CitytrackError as exc:
            typer.echo(f"citytrack: {error_line(exc)}", err=True)
            raise typer.Exit(exc.exit_code) from exc

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run as click does, but a command line click refuses (unknown option, a value of
        the wrong type) is one line too, exit 2, instead of a usage box."""
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except NoArgsIsHelpError as exc:  # bare "citytrack" or "citytrack agent": the help
            exc.show()
            sys.exit(exc.exit_code)
        except typer.TyperException as exc:  # click's UsageError and its kin
            ctx = getattr(exc, "ctx", None)
            see = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            typer.echo(f"citytrack: {exc.format_message()}{see}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("citytrack: interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)  # typer.Exit(n) comes back as n


app = typer.Typer(
    cls=CitytrackGroup,
    add_completion=False,
    no_args_is_help=True,
    help=__doc__.split("\n\n")[0],
)
# typer lists the commands, then the groups, each in the order they are added here
for command in (
    demo.demo,
    hub.hub,
    alerts.alerts,
    trips.trips,
    broadcast.broadcast,
    analyze.analyze,
):
    app.command()(command)
for name, group in (
    ("agent", agent.app),
    ("sim", sim.app),
    ("db", db.app),
    ("broker", broker.app),
    ("nmea", nmea.app),
    ("ble", ble.app),
    ("report", report.app),
    ("routes", routes.app),
):
    app.add_typer(group, name=name)


CONNECT_TIMEOUT_S = 10
"""How long libpq tries to reach a database server before giving up (unless
``$PGCONNECT_TIMEOUT`` says otherwise): an unreachable host fails in seconds, not minutes."""


def main() -> None:
    """The ``citytrack`` console script."""
    os.environ.setdefault("PGCONNECT_TIMEOUT", str(CONNECT_TIMEOUT_S))
    app()
