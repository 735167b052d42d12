"""``citytrack demo``: simulated garbage trucks through the real pipeline (``app.demo``)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import (
    DATA_DIR,
    DB_HOME_ENV,
    BrokerOpt,
    CommandError,
    ConfigOpt,
    DbOpt,
    check_db_url,
    connect,
    reaching,
)
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress


def _reach_broker(address: BrokerAddress, timeout_s: float = 10.0) -> None:
    """Refuse a broker nothing answers at (a TCP connection is enough to tell).

    Raises:
        CommandError: it cannot be reached; says which and what to do.
    """
    try:
        socket.create_connection((address.host, address.port), timeout=timeout_s).close()
    except OSError as exc:
        raise CommandError(
            f"cannot reach the MQTT broker at {address.host}:{address.port}: "
            f"{exc.strerror or exc}; start it or give another with --broker"
        ) from exc


def demo(
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    broker: BrokerOpt = None,
    db: DbOpt = None,
    summary_json: Annotated[Path | None, typer.Option(help="write the summary as JSON")] = None,
    config: ConfigOpt = None,
    data_dir: Annotated[
        Path,
        typer.Option(envvar=DB_HOME_ENV, help="where the demo keeps its data"),
    ] = DATA_DIR,
    live: Annotated[bool, typer.Option(help="live terminal view")] = True,
    seed: Annotated[int, typer.Option(help="simulator seed")] = 1,
) -> None:
    """Simulated garbage trucks through the real pipeline, with a live view."""
    from app.demo.fleet import DemoOptions, run_demo

    cfg = load_config(config)
    if db is not None:  # an external database: refuse a bad or unreachable one up front
        check_db_url(db, "--db")
        with reaching(db, "--db"):
            connect(db).close()
    if broker is not None:  # the same for an external broker, which would leave it idle
        _reach_broker(BrokerAddress.parse(broker))
    data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, filename=str(data_dir / "demo.log"))
    opts = DemoOptions(
        duration_s=duration,
        broker_url=broker,
        db_url=db,
        data_dir=data_dir,
        summary_json=summary_json,
        live=live,
        seed=seed,
    )
    raise typer.Exit(run_demo(cfg, opts))
