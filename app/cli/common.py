"""What the ``citytrack`` sub-commands share: options, the CLI's own errors, logging set-up,
waiting for a signal, input files and times from the command line, the database a command
uses (:func:`database`), and stored records shown as a table or JSON lines.

Commands raise, they never print an error: the root group (``app.cli.CitytrackGroup``)
turns any ``CitytrackError`` into one line on stderr and its ``exit_code``.

    CitytrackError                  citytrack.errors
    ├── FinalError
    │   ├── InvalidInputError
    │   │   └── UsageError          options that do not go together (exit 2)
    │   └── CommandError            the command could not do its job; says what (exit 1)
    └── RetryableError

Heavy imports (psycopg, the hub) happen inside the functions that need them, so a device
installs only its extra.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from citytrack.config import CitytrackConfig
from citytrack.errors import FinalError, InvalidInputError
from citytrack.times import parse_when, zone

if TYPE_CHECKING:
    import psycopg

    from citytrack.metrics import MetricsRegistry

DATA_DIR = Path(".citytrack")
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config (default config/osaka.toml)")
]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="PostgreSQL URL (default: hub.db_url, else the embedded one)"),
]
BrokerOpt = Annotated[str | None, typer.Option("--broker", help="MQTT URL, mqtt://host:1883")]
JsonLinesOpt = Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")]
MetricsPortOpt = Annotated[
    int | None,
    typer.Option(help="serve the agent's counters at http://127.0.0.1:PORT/metrics (Prometheus)"),
]


def serve_metrics(registry: MetricsRegistry, port: int | None) -> None:
    """Serve ``registry`` on loopback ``port`` (None: not at all).

    Raises:
        UsageError: the port cannot be bound.
    """
    if port is None:
        return
    try:
        registry.serve(port)
    except OSError as exc:
        raise UsageError(f"cannot serve metrics on port {port}: {exc.strerror or exc}") from exc


class UsageError(InvalidInputError):
    """Options that cannot be used together, or one that is missing."""


class CommandError(FinalError):
    """A command could not do its job; the message says which step and why.

    For failures that are not the user's input (a plan that fails its check, a file that
    cannot be written, a run that left work undone): exit code 1.
    """


def setup_logging(verbose: bool) -> None:
    """Log to stderr, INFO (DEBUG with ``verbose``); the CLI is what configures logging."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (main thread only)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


@contextmanager
def input_stream(name: str) -> Iterator[BinaryIO]:
    """The file ``name`` opened for reading (closed after the block), or stdin for ``-``.

    Raises:
        UsageError: the file cannot be opened.
    """
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(name, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from exc
    with stream:
        yield stream


TimeOpt = Annotated[
    str | None,
    typer.Option(
        help="2026-12-07 (local midnight), 2026-12-07T08:00 (city time) or with an offset"
    ),
]


def city_zone(cfg: CitytrackConfig) -> ZoneInfo:
    """The city's time zone (``city.timezone``, checked when the configuration loaded)."""
    return zone(cfg.city.timezone)


def when(text: str, tz: ZoneInfo, option: str) -> datetime:
    """A time from the command line: a plain date is local midnight in ``tz``, a naive
    timestamp is in ``tz`` (:func:`citytrack.times.parse_when`).

    Raises:
        InvalidInputError: not a date or time; the message names ``option``.
    """
    return parse_when(text, tz, name=option)


def check_window(
    start: datetime, end: datetime, names: tuple[str, str] = ("--from", "--to")
) -> None:
    """Check a ``[start, end)`` time range from the command line.

    Raises:
        InvalidInputError: a naive time, or ``end <= start``.
    """
    if start.utcoffset() is None or end.utcoffset() is None:
        raise InvalidInputError(f"need timezone-aware times, got {start!r}, {end!r}")
    if end <= start:
        raise InvalidInputError(
            f"{names[1]} ({end.isoformat()}) must be after {names[0]} ({start.isoformat()})"
        )


@contextmanager
def failing_as(what: str, *also: type[Exception]) -> Iterator[None]:
    """Inside the block, a ``StoreError`` (and any of ``also``) becomes a
    :class:`CommandError` ``"<what>: <reason>"``: the user reads what the command could not
    do, and why.
    """
    from hub.storage.db import StoreError

    errors: tuple[type[Exception], ...] = (StoreError, *also)
    try:
        yield
    except errors as exc:
        raise CommandError(f"{what}: {exc}") from exc


def connect(url: str) -> psycopg.Connection:
    """An autocommit connection to ``url`` (close it, e.g. ``with connect(url) as conn``).

    Raises:
        StoreUnavailableError: the database cannot be reached.
    """
    import psycopg

    from hub.storage.db import translate_errors

    with translate_errors("connect"):
        return psycopg.connect(url, autocommit=True)


def upgrade_schema(cfg: CitytrackConfig, url: str) -> list[str]:
    """Bring the schema at ``url`` up to date (idempotent), with the configured retention;
    returns the steps applied.

    Raises:
        StoreUnavailableError: the database cannot be reached.
        MigrationError: a step failed.
    """
    from hub.storage import schema
    from hub.storage.retention import configured_retention

    with connect(url) as conn:
        return schema.upgrade(conn, retention=configured_retention(cfg))


@contextmanager
def database(
    cfg: CitytrackConfig, db: str | None, *, migrate: bool = True, data_dir: Path = DATA_DIR
) -> Iterator[str]:
    """The URL of the database this command uses, for the ``with`` block.

    ``db`` (``--db``), else ``$CITYTRACK_DB``, else ``hub.db_url``, else an embedded
    PostgreSQL in ``data_dir/pg``, started here and stopped when the block ends, also on
    an exception. With ``migrate`` (every command but ``db upgrade``, which reports what
    it applies) the schema is brought up to date first.

    Raises:
        ServiceError: the embedded server did not start.
        StoreUnavailableError, MigrationError: as :func:`upgrade_schema`.
    """
    url = db or os.environ.get("CITYTRACK_DB") or cfg.hub.db_url
    with ExitStack() as stack:
        if not url:
            from app.services import EmbeddedPostgres

            server = EmbeddedPostgres(data_dir / "pg").start()
            stack.callback(server.stop)
            url = server.url
        if migrate:
            upgrade_schema(cfg, url)
        yield url


def table_console(width: int) -> Console:
    """A console for tables on stdout: piped output (files, pagers, tests) is not squeezed
    into 80 columns but gets ``width``."""
    return Console(width=None if sys.stdout.isatty() else width)


Record = TypeVar("Record", bound=BaseModel)


def show_stored(
    db_url: str,
    console: Console,
    *,
    what: str,
    as_json: bool,
    query: Callable[[psycopg.Connection], list[Record]],
    table: Callable[[list[Record], Mapping[str, str], Mapping[str, str]], Table],
) -> None:
    """Read records with ``query`` and print them on ``console``: as JSON lines, or as
    ``table(records, vehicle names, driver names)``, or that none of ``what`` match.

    Raises:
        StoreError: the database cannot be read.
    """
    from hub.storage.fleet import DeviceRepository

    with connect(db_url) as conn:
        records = query(conn)
        vehicles, drivers = ({}, {}) if as_json else DeviceRepository(conn).names()
    if as_json:
        for record in records:
            console.out(record.model_dump_json(), highlight=False)
    elif not records:
        console.print(f"No {what} match.")
    else:
        console.print(table(records, vehicles, drivers))
