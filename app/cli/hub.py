"""``citytrack hub``: MQTT ingest, detectors, storage and the HTTP API, until a signal."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Annotated

import typer

from app.cli.common import (
    BrokerOpt,
    ConfigOpt,
    DbOpt,
    database,
    setup_logging,
    wait_for_signal,
)
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress


def hub(
    config: ConfigOpt = None,
    broker: BrokerOpt = None,
    db: DbOpt = None,
    api_port: Annotated[int | None, typer.Option(help="HTTP API port")] = None,
    verbose: bool = False,
) -> None:
    """Run the hub: MQTT ingest, detectors, storage and the HTTP API."""
    from hub.api.server import ApiServer
    from hub.ingest.service import HubService
    from hub.storage.drivers import score_weights

    setup_logging(verbose)
    cfg = load_config(config)
    address = BrokerAddress.parse(broker or cfg.hub.broker_url)
    # the hub migrates only once it holds the database (one hub per database)
    with database(cfg, db, migrate=False) as url, ExitStack() as running:
        service = HubService(cfg, address, url)
        port = api_port if api_port is not None else cfg.hub.api_port
        # bound first: a port in use is refused before anything else is touched
        api = ApiServer(
            url,
            cfg.hub.api_host,
            port,
            timezone=cfg.city.timezone,
            metrics=service.metrics,
            readiness=service.readiness,
            weights=score_weights(cfg.scores),
        )
        running.callback(api.close)
        service.start()
        running.callback(service.stop)
        api.start()
        typer.echo(f"hub running; API on http://{api.host}:{api.port}/api/alerts (Ctrl-C stops)")
        wait_for_signal()
