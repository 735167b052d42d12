"""``citytrack agent vehicle|station``: the device agents, each until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import (
    BrokerOpt,
    CommandError,
    ConfigOpt,
    MetricsPortOpt,
    UsageError,
    serve_metrics,
    setup_logging,
    wait_for_signal,
)
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress

if TYPE_CHECKING:
    from analytics.device.imu_harsh import ImuHarshDetector
    from citytrack.config import CitytrackConfig
    from edge_agent.pctim import SerialImuSource
    from edge_agent.sources import GpsdSource

log = logging.getLogger(__name__)
app = typer.Typer(no_args_is_help=True, help="Device agents.")
OutboxOpt = Annotated[Path | None, typer.Option(help="outbox file (SQLite)")]


def gpsd_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (either may be left out: 127.0.0.1, 2947) as a (host, port) pair.

    Raises:
        UsageError: the port is not a number.
    """
    host, _, port = text.partition(":")
    if port and not port.isdigit():
        raise UsageError(f"gpsd address must be HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port or 2947)


@app.command("vehicle")
def agent_vehicle(
    device_id: Annotated[str, typer.Option("--device-id", help="this unit's id")] = "truck-01",
    serial: Annotated[str | None, typer.Option(help="serial port, e.g. /dev/ttyUSB0")] = None,
    baud: Annotated[int, typer.Option(help="serial speed")] = 9600,
    gpsd: Annotated[str | None, typer.Option(help="read NMEA from gpsd at HOST:PORT")] = None,
    broker: BrokerOpt = None,
    outbox: OutboxOpt = None,
    imu_port: Annotated[
        str | None, typer.Option(help="accelerometer ($PCTIM lines) serial port: edge events")
    ] = None,
    imu_baud: Annotated[int, typer.Option(help="accelerometer serial speed")] = 115_200,
    vehicle_class: Annotated[
        str | None, typer.Option(help="thresholds for edge events (default: the truck's)")
    ] = None,
    metrics_port: MetricsPortOpt = None,
    config: ConfigOpt = None,
    verbose: bool = False,
) -> None:
    """Read a GNSS receiver and publish its fixes (QoS 1, durable outbox); with an
    accelerometer, also the harsh events it detects. A serial receiver that is not plugged
    in yet is waited for."""
    from edge_agent.agent import VehicleAgent
    from edge_agent.outbox import Outbox
    from edge_agent.sources import GnssSource, HotplugSerialSource

    setup_logging(verbose)
    cfg = load_config(config)
    address = BrokerAddress.parse(broker or cfg.agent.broker_url)
    if (serial is None) == (gpsd is None):
        raise UsageError("give exactly one of --serial PORT or --gpsd HOST:PORT")
    detector, imu_source = None, None
    if imu_port is not None:
        detector, imu_source = _imu(cfg, device_id, vehicle_class, imu_port, imu_baud)
    # a serial receiver is waited for (as gpsd does for hot-plugged ones); gpsd must be up
    source: GnssSource = HotplugSerialSource(serial, baud) if serial else _gpsd(gpsd or "")
    box = Outbox(outbox or Path(cfg.agent.outbox_dir) / f"{device_id}.db")
    agent = VehicleAgent(
        device_id,
        source,
        box,
        address,
        max_inflight=cfg.agent.max_inflight,
        status_interval_s=cfg.agent.status_interval_s,
        imu_source=imu_source,
        imu_detector=detector,
    )
    serve_metrics(agent.metrics, metrics_port)
    agent.start()
    wait_for_signal()
    agent.stop(drain_timeout_s=2.0)


def _gpsd(address: str) -> GpsdSource:
    """A connection to gpsd at ``HOST:PORT``.

    Raises:
        UsageError: the address is not HOST:PORT.
        CommandError: gpsd cannot be reached.
    """
    from edge_agent.sources import GpsdSource, SourceOpenError

    host, port = gpsd_address(address)
    try:
        return GpsdSource(host, port)
    except SourceOpenError as exc:
        reason = exc.__cause__.strerror if isinstance(exc.__cause__, OSError) else None
        raise CommandError(
            f"cannot reach gpsd at {host}:{port}: {reason or exc}; start gpsd "
            "(e.g. gpsd /dev/ttyUSB0) or give its address with --gpsd HOST:PORT"
        ) from exc


def _imu(
    cfg: CitytrackConfig, device_id: str, vehicle_class: str | None, port: str, baud: int
) -> tuple[ImuHarshDetector, SerialImuSource]:
    """The edge detector for the truck's class and its accelerometer's serial port.

    Raises:
        UsageError: no vehicle class, or the port cannot be opened.
    """
    from analytics.device.imu_harsh import ImuHarshDetector
    from edge_agent.pctim import SerialImuSource
    from edge_agent.sources import SourceError

    truck = cfg.city.truck(device_id)
    name = vehicle_class or (truck.vehicle_class if truck else None)
    if name not in cfg.city.vehicle_classes:
        known = ", ".join(sorted(cfg.city.vehicle_classes))
        raise UsageError(f"--imu-port needs a vehicle class: --vehicle-class one of {known}")
    detector = ImuHarshDetector(cfg.city.vehicle_classes[str(name)])
    try:
        return detector, SerialImuSource(port, baud)
    except SourceError as exc:  # at start-up a port that cannot open is a wrong --imu-port
        raise UsageError(str(exc)) from exc


@app.command("station")
def agent_station(
    station_id: Annotated[str, typer.Option("--station-id", help="this station's id")],
    broker: BrokerOpt = None,
    outbox: OutboxOpt = None,
    adapter: Annotated[str | None, typer.Option(help="BlueZ adapter, e.g. hci0")] = None,
    mobile: Annotated[bool, typer.Option(help="a phone or bus: report own position")] = False,
    gpsd: Annotated[str, typer.Option(help="gpsd HOST:PORT for a mobile detector")] = (
        "127.0.0.1:2947"
    ),
    metrics_port: MetricsPortOpt = None,
    config: ConfigOpt = None,
    verbose: bool = False,
) -> None:
    """A child-watch base station: scan BLE beacons, publish one passage per visit."""
    from edge_agent.ble_sources import BleakSource
    from edge_agent.outbox import Outbox
    from edge_agent.station import GpsdPosition, StationAgent

    setup_logging(verbose)
    cfg = load_config(config)
    address = BrokerAddress.parse(broker or cfg.agent.broker_url)
    station = cfg.watch.station(station_id)
    if station is None:
        log.warning(
            "station %s is not in [[watch.stations]]; the hub will not place it", station_id
        )
    elif (station.kind == "mobile") != mobile:
        raise UsageError(f"station {station_id} is {station.kind} in the configuration, not run so")
    position = GpsdPosition(*gpsd_address(gpsd)) if mobile else None
    with ExitStack() as running:
        box = Outbox(outbox or Path(cfg.agent.outbox_dir) / f"{station_id}.db")
        running.callback(box.close)
        agent = StationAgent(
            station_id, BleakSource(adapter), box, address, cfg.watch.passage,
            mobile_position=position.latest if position else None,
            max_inflight=cfg.agent.max_inflight, status_interval_s=cfg.agent.status_interval_s,
        )  # fmt: skip
        serve_metrics(agent.metrics, metrics_port)
        if position is not None:
            position.start()
            running.callback(position.close)
        agent.start()
        running.callback(agent.stop, drain_timeout_s=2.0)
        wait_for_signal()
