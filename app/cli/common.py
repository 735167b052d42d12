"""What every ``citytrack`` sub-command shares: options, the error exit, config loading,
logging set-up and the database URL (or an embedded server)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from citytrack.config import CitytrackConfig, ConfigError, load_config

DATA_DIR = Path(".citytrack")
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config (default config/osaka.toml)")
]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="PostgreSQL URL (default: hub.db_url, else the embedded one)"),
]
BrokerOpt = Annotated[str | None, typer.Option("--broker", help="MQTT URL, mqtt://host:1883")]


def fail(message: str) -> NoReturn:
    typer.echo(f"citytrack: {message}", err=True)
    raise typer.Exit(2)


def load_or_fail(path: Path | None) -> CitytrackConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(f"bad configuration: {exc}")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def db_url(cfg: CitytrackConfig, db: str | None, data_dir: Path = DATA_DIR) -> tuple[str, object]:
    """The database URL to use, and the embedded server started for it (or None)."""
    url = db or os.environ.get("CITYTRACK_DB") or cfg.hub.db_url
    if url:
        return url, None
    from app.services import EmbeddedPostgres

    server = EmbeddedPostgres(data_dir / "pg").start()
    return server.url, server
