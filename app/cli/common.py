"""What the ``citytrack`` sub-commands share: options, the CLI's own errors, logging set-up,
waiting for a signal, input files and times from the command line (read by
``citytrack.times``), the database a command uses (:func:`database`: which one, whether a
new embedded one may be made, and one line when it cannot be reached), and stored records
shown as a table or JSON lines.

Size: the one home of what every command shares; split, each command would import five
modules for one option set.

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
import re
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

from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, CitytrackConfig
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


DB_HOME_ENV = "CITYTRACK_HOME"


def project_dir() -> Path | None:
    """The citytrack checkout this command runs from (where ``config/osaka.toml`` is), or
    None for an installed package."""
    return REPO_CONFIG_DIR.parent if (REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME).exists() else None


def embedded_home(data_dir: Path | None = None) -> tuple[Path, bool]:
    """Where the embedded database lives, and whether a new one may be created there.

    ``data_dir`` (the demo's ``--data-dir``), else ``$CITYTRACK_HOME``: asked for, so a
    new one may be made. Else ``./.citytrack``, which may be made only in the project
    folder: anywhere else a command would silently start on an empty database.
    """
    if data_dir is not None:
        return data_dir, True
    if os.environ.get(DB_HOME_ENV):
        return Path(os.environ[DB_HOME_ENV]), True
    project = project_dir()
    return DATA_DIR, project is not None and Path.cwd().resolve() == project.resolve()


def configured_url(cfg: CitytrackConfig, db: str | None) -> tuple[str, str]:
    """The database URL given (``--db``, else ``$CITYTRACK_DB``, else ``hub.db_url``; ""
    for none) and where it came from, for messages.

    Raises:
        UsageError: the URL given is not a PostgreSQL URL or connection string.
    """
    for url, source in ((db, "--db"), (os.environ.get("CITYTRACK_DB"), "$CITYTRACK_DB"),
                        (cfg.hub.db_url, "hub.db_url")):  # fmt: skip
        if url:
            check_db_url(url, source)
            return url, source
    return "", ""


def check_db_url(url: str, source: str) -> None:
    """Refuse what is not a PostgreSQL URL (``postgresql://...``) or a libpq connection
    string (``host=... dbname=...``).

    Raises:
        UsageError: naming ``source`` and the form expected.
    """
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    scheme, sep, _ = url.partition("://")
    try:
        if sep and scheme not in ("postgresql", "postgres"):
            raise ValueError(f"not a PostgreSQL scheme: {scheme}")
        conninfo_to_dict(url)
    except (psycopg.ProgrammingError, ValueError) as exc:
        raise UsageError(
            f"{source} is not a PostgreSQL URL: {redacted(url)!r}; "
            "give postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
        ) from exc


def redacted(url: str) -> str:
    """``url`` without its password, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


@contextmanager
def reaching(url: str, source: str) -> Iterator[None]:
    """Inside the block, a database that cannot be reached or whose schema cannot be
    brought up to date is one :class:`CommandError` that says which database, why, and
    what to do.
    """
    from hub.storage.db import MigrationError, StoreUnavailableError

    where = redacted(url) + (f" ({source})" if source else "")
    try:
        yield
    except StoreUnavailableError as exc:
        reason = _first_line(exc)
        raise CommandError(
            f"cannot reach the database {where}: {reason}; start it or give another with "
            "--db or $CITYTRACK_DB"
        ) from exc
    except MigrationError as exc:
        raise CommandError(
            f"cannot bring the schema of {where} up to date: step {exc.step} failed: "
            f"{_first_line(exc)}; fix it (docs/storage.md) and run citytrack db upgrade"
        ) from exc


def _first_line(exc: Exception) -> str:
    """What psycopg said (the cause's first line: libpq adds hints and SQL excerpts)."""
    text = str(exc.__cause__ or exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.removeprefix("connection failed: ")


@contextmanager
def embedded(home: Path, *, may_create: bool) -> Iterator[str]:
    """The embedded PostgreSQL in ``home/pg``, started for the block and stopped after it;
    its URL. Says on stderr which database it is (and that it is new).

    Raises:
        UsageError: there is none and ``may_create`` is false.
        ServiceError: the server did not start.
    """
    from app.services import EmbeddedPostgres

    pg = home.resolve() / "pg"
    exists = (pg / "PG_VERSION").exists()
    if not exists and not may_create:
        project = project_dir()
        use = f"{DB_HOME_ENV}={project / DATA_DIR} for the project's, " if project else ""
        raise UsageError(
            f"no database in {pg}: give --db URL, or set {use}or create an empty one here "
            "with citytrack db upgrade"
        )
    server = EmbeddedPostgres(pg).start()
    try:
        what = "the embedded database" if exists else "a new embedded database"
        typer.echo(f"citytrack: using {what} in {pg}", err=True)
        yield server.url
    finally:
        server.stop()


@contextmanager
def database(
    cfg: CitytrackConfig,
    db: str | None,
    *,
    migrate: bool = True,
    create: bool = False,
    data_dir: Path | None = None,
) -> Iterator[str]:
    """The URL of the database this command uses, for the ``with`` block.

    ``db`` (``--db``), else ``$CITYTRACK_DB``, else ``hub.db_url``, else the embedded
    PostgreSQL of :func:`embedded_home`, started here and stopped when the block ends,
    also on an exception; a new one is made there only where that allows it, or with
    ``create`` (``db upgrade``). With ``migrate`` (every command but ``db upgrade``,
    which reports what it applies) the schema is brought up to date first; else the
    database is only reached once.

    Raises:
        UsageError: a URL that is not PostgreSQL's, or no embedded database to use.
        CommandError: the database cannot be reached, or its schema not upgraded.
        ServiceError: the embedded server did not start.
    """
    url, source = configured_url(cfg, db)
    with ExitStack() as stack:
        if not url:
            home, may_create = embedded_home(data_dir)
            url = stack.enter_context(embedded(home, may_create=may_create or create))
        with reaching(url, source):
            if migrate:
                upgrade_schema(cfg, url)
            else:
                connect(url).close()
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
