"""``citytrack broker config|acl``: what a production Mosquitto needs, printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.broker import BrokerSettings, TlsFiles
from app.services import device_acl

app = typer.Typer(no_args_is_help=True, help="The MQTT broker's configuration.")

ETC = Path("/etc/mosquitto")


@app.command("config")
def broker_config(
    data_dir: Annotated[
        Path, typer.Option(help="where the broker keeps its persistence file")
    ] = Path("/var/lib/mosquitto"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="the devices' listener")] = 8883,
    tls_dir: Annotated[
        Path | None,
        typer.Option(help="ca.crt, server.crt and server.key (default /etc/mosquitto/certs)"),
    ] = None,
    no_tls: Annotated[
        bool, typer.Option("--no-tls", help="plain MQTT on --port (a closed network only)")
    ] = False,
    password_file: Annotated[Path, typer.Option(help="mosquitto_passwd file")] = ETC
    / "citytrack.passwd",
    acl_file: Annotated[Path, typer.Option(help="the ACL (`citytrack broker acl`)")] = ETC
    / "citytrack.acl",
    local_port: Annotated[
        int | None, typer.Option(help="also plain MQTT on 127.0.0.1:PORT for a local hub")
    ] = None,
) -> None:
    """Print a production mosquitto.conf: persistence, no queue limit, no anonymous access,
    password file and ACL, TLS."""
    certs = tls_dir or ETC / "certs"
    tls = None if no_tls else TlsFiles(certs / "ca.crt", certs / "server.crt", certs / "server.key")
    settings = BrokerSettings(
        data_dir=data_dir,
        port=port,
        tls=tls,
        password_file=password_file,
        acl_file=acl_file,
        local_port=local_port,
    )
    typer.echo(settings.render(), nl=False)


@app.command("acl")
def broker_acl(
    hub_user: Annotated[str, typer.Option(help="the hub's broker user name")] = "citytrack-hub",
) -> None:
    """Print the ACL: each device (user name = device id) writes only its own topics and
    reads its own watermark; the hub reads every device and writes citytrack/v1/hub/#."""
    typer.echo("\n".join(device_acl(hub_user)))
