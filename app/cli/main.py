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

Heavy imports happen inside each command, so a device installs only its extra.
Configuration and usage errors print one clear line and exit 2.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import (
    DATA_DIR,
    BrokerOpt,
    ConfigOpt,
    DbOpt,
    db_url,
    fail,
    load_or_fail,
    setup_logging,
)
from app.cli.routes import routes_app
from citytrack.config import ConfigError
from citytrack.mqtt import BrokerAddress

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n\n")[0])
agent_app = typer.Typer(no_args_is_help=True, help="Device agents.")
sim_app = typer.Typer(no_args_is_help=True, help="Device simulators.")
db_app = typer.Typer(no_args_is_help=True, help="Database administration.")
nmea_app = typer.Typer(no_args_is_help=True, help="NMEA tools.")
ble_app = typer.Typer(no_args_is_help=True, help="BLE beacon tools.")
report_app = typer.Typer(no_args_is_help=True, help="Reports for supervisors.")
app.add_typer(agent_app, name="agent")
app.add_typer(sim_app, name="sim")
app.add_typer(db_app, name="db")
app.add_typer(nmea_app, name="nmea")
app.add_typer(ble_app, name="ble")
app.add_typer(report_app, name="report")
app.add_typer(routes_app, name="routes")


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


@app.command()
def demo(
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    broker: BrokerOpt = None,
    db: DbOpt = None,
    summary_json: Annotated[Path | None, typer.Option(help="write the summary as JSON")] = None,
    config: ConfigOpt = None,
    data_dir: Annotated[Path, typer.Option(help="where the demo keeps its data")] = DATA_DIR,
    live: Annotated[bool, typer.Option(help="live terminal view")] = True,
    seed: Annotated[int, typer.Option(help="simulator seed")] = 1,
) -> None:
    """Simulated garbage trucks through the real pipeline, with a live view."""
    from app.demo.fleet import DemoOptions, run_demo

    cfg = load_or_fail(config)
    logging.basicConfig(level=logging.WARNING, filename=str(_ensure(data_dir) / "demo.log"))
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


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@app.command()
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

    setup_logging(verbose)
    cfg = load_or_fail(config)
    url, server = db_url(cfg, db)
    service = HubService(cfg, _address(broker or cfg.hub.broker_url), url)
    service.start()
    api = ApiServer(url, cfg.hub.api_host, api_port if api_port is not None else cfg.hub.api_port)
    api.start()
    typer.echo(f"hub running; API on http://{api.host}:{api.port}/api/alerts (Ctrl-C stops)")
    _wait_for_signal()
    api.stop()
    service.stop()
    if server is not None:
        server.stop()  # type: ignore[attr-defined]


def _address(url: str) -> BrokerAddress:
    try:
        return BrokerAddress.parse(url)
    except ValueError as exc:
        fail(str(exc))


@agent_app.command("vehicle")
def agent_vehicle(
    device_id: Annotated[str, typer.Option("--device-id", help="this unit's id")] = "truck-01",
    serial: Annotated[str | None, typer.Option(help="serial port, e.g. /dev/ttyUSB0")] = None,
    baud: Annotated[int, typer.Option(help="serial speed")] = 9600,
    gpsd: Annotated[str | None, typer.Option(help="read NMEA from gpsd at HOST:PORT")] = None,
    broker: BrokerOpt = None,
    outbox: Annotated[Path | None, typer.Option(help="outbox file (SQLite)")] = None,
    imu_port: Annotated[
        str | None, typer.Option(help="accelerometer ($PCTIM lines) serial port: edge events")
    ] = None,
    imu_baud: Annotated[int, typer.Option(help="accelerometer serial speed")] = 115_200,
    vehicle_class: Annotated[
        str | None, typer.Option(help="thresholds for edge events (default: the truck's)")
    ] = None,
    config: ConfigOpt = None,
    verbose: bool = False,
) -> None:
    """Read a GNSS receiver and publish its fixes (QoS 1, durable outbox); with an
    accelerometer, also the harsh events it detects."""
    from analytics.device.imu_harsh import ImuHarshDetector
    from edge_agent.agent import VehicleAgent
    from edge_agent.outbox import Outbox
    from edge_agent.pctim import SerialImuSource
    from edge_agent.sources import GnssSource, GpsdSource, SerialSource, SourceError

    setup_logging(verbose)
    cfg = load_or_fail(config)
    if (serial is None) == (gpsd is None):
        fail("give exactly one of --serial PORT or --gpsd HOST:PORT")
    detector: ImuHarshDetector | None = None
    imu_source: SerialImuSource | None = None
    if imu_port is not None:
        truck = cfg.city.truck(device_id)
        name = vehicle_class or (truck.vehicle_class if truck else None)
        if name not in cfg.city.vehicle_classes:
            known = ", ".join(sorted(cfg.city.vehicle_classes))
            fail(f"--imu-port needs a vehicle class: --vehicle-class one of {known}")
        detector = ImuHarshDetector(cfg.city.vehicle_classes[str(name)])
        try:
            imu_source = SerialImuSource(imu_port, imu_baud)
        except SourceError as exc:
            fail(str(exc))
    source: GnssSource
    if serial is not None:
        source = SerialSource(serial, baud)
    else:
        host, _, port = (gpsd or "").partition(":")
        source = GpsdSource(host or "127.0.0.1", int(port or 2947))
    box = Outbox(outbox or Path(cfg.agent.outbox_dir) / f"{device_id}.db")
    agent = VehicleAgent(
        device_id,
        source,
        box,
        _address(broker or cfg.agent.broker_url),
        max_inflight=cfg.agent.max_inflight,
        status_interval_s=cfg.agent.status_interval_s,
        imu_source=imu_source,
        imu_detector=detector,
    )
    agent.start()
    _wait_for_signal()
    agent.stop(drain_timeout_s=2.0)


@agent_app.command("station")
def agent_station(
    station_id: Annotated[str, typer.Option("--station-id", help="this station's id")],
    broker: BrokerOpt = None,
    outbox: Annotated[Path | None, typer.Option(help="outbox file (SQLite)")] = None,
    adapter: Annotated[str | None, typer.Option(help="BlueZ adapter, e.g. hci0")] = None,
    mobile: Annotated[bool, typer.Option(help="a phone or bus: report own position")] = False,
    gpsd: Annotated[str, typer.Option(help="gpsd HOST:PORT for a mobile detector")] = (
        "127.0.0.1:2947"
    ),
    config: ConfigOpt = None,
    verbose: bool = False,
) -> None:
    """A child-watch base station: scan BLE beacons, publish one passage per visit."""
    from edge_agent.station import station_main

    setup_logging(verbose)
    cfg = load_or_fail(config)
    code = station_main(
        station_id=station_id,
        broker=broker or cfg.agent.broker_url,
        outbox=outbox or Path(cfg.agent.outbox_dir) / f"{station_id}.db",
        adapter=adapter,
        config_path=config,
        mobile=mobile,
        gpsd=gpsd,
    )
    raise typer.Exit(code)


@sim_app.command("gps")
def sim_gps(
    truck: Annotated[str, typer.Option(help="device id of the truck to simulate")] = "truck-01",
    pty: Annotated[bool, typer.Option("--pty", help="write to a new pty, print its path")] = False,
    out: Annotated[Path | None, typer.Option(help="write NMEA to this file")] = None,
    rate: Annotated[float | None, typer.Option(help="epochs per second (1-10)")] = None,
    seed: Annotated[int, typer.Option(help="random seed (deterministic output)")] = 1,
    duration: Annotated[float | None, typer.Option(help="seconds of simulated driving")] = None,
    labels: Annotated[Path | None, typer.Option(help="ground-truth episodes, JSON lines")] = None,
    talker: Annotated[str, typer.Option(help="NMEA talker id (GP, GN)")] = "GP",
    imu_rate: Annotated[
        float | None,
        typer.Option(help="also an accelerometer, samples per second (10-100); see --imu-out"),
    ] = None,
    imu_out: Annotated[
        Path | None, typer.Option(help="accelerometer samples ($PCTIM lines) to this file")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """A GPS receiver simulator: NMEA for a truck driving its route; with --imu-rate also its
    accelerometer (on a second pty, printed as IMU <path>, or to --imu-out)."""
    from firmware_sim.cli import gps_main

    if not pty and out is None:
        fail("give --pty or --out FILE")
    if imu_rate is not None and not pty and imu_out is None:
        fail("--imu-rate without --pty needs --imu-out FILE")
    try:
        code = gps_main(
            config_path=config,
            truck_id=truck,
            pty=pty,
            out=out,
            rate_hz=rate,
            seed=seed,
            duration_s=duration,
            labels=labels,
            talker=talker,
            imu_rate_hz=imu_rate,
            imu_out=imu_out,
        )
    except ConfigError as exc:
        fail(f"bad configuration: {exc}")
    raise typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Create or migrate the hub's schema."""
    import psycopg

    from hub.storage import schema

    cfg = load_or_fail(config)
    url, server = db_url(cfg, db)
    with psycopg.connect(url, autocommit=True) as conn:
        applied = schema.upgrade(conn)
    typer.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")
    if server is not None:
        server.stop()  # type: ignore[attr-defined]


@db_app.command("rollups")
def db_rollups(
    days: Annotated[
        int, typer.Option(min=1, help="refresh driver_daily for this many local days to today")
    ] = 2,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Build every truck's trips and refresh driver_daily once (the hub does this every
    hub.maintenance_interval_s)."""
    from citytrack import wire
    from hub.storage.rollups import RollupJob, rollups_main

    cfg = load_or_fail(config)
    url, server = db_url(cfg, db)
    try:
        job = RollupJob.for_city(cfg.city, cfg.detectors.quality, days=days)
        code = rollups_main(db_url=url, job=job, now=wire.utcnow())
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    raise typer.Exit(code)


@app.command()
def alerts(
    vehicle: Annotated[str | None, typer.Option(help="device id")] = None,
    kind: Annotated[
        str | None, typer.Option(help="harsh_braking, harsh_acceleration, speeding")
    ] = None,
    since: Annotated[datetime | None, typer.Option(help="ISO time, e.g. 2026-11-26T09:00")] = None,
    until: Annotated[datetime | None, typer.Option(help="ISO time")] = None,
    limit: Annotated[int, typer.Option(help="max rows")] = 50,
    json_out: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """The supervisor's alert list, newest first."""
    import psycopg

    from hub.reports.alerts_table import alerts_main
    from hub.storage import schema

    cfg = load_or_fail(config)
    url, server = db_url(cfg, db)
    if server is not None:  # the embedded database may be brand new
        with psycopg.connect(url, autocommit=True) as conn:
            schema.upgrade(conn)
    code = alerts_main(
        db_url=url,
        vehicle=vehicle,
        kind=kind,
        since=since,
        until=until,
        limit=limit,
        as_json=json_out,
    )
    if server is not None:
        server.stop()  # type: ignore[attr-defined]
    raise typer.Exit(code)


@app.command()
def trips(
    vehicle: Annotated[str | None, typer.Option(help="device id")] = None,
    driver: Annotated[str | None, typer.Option(help="driver id")] = None,
    start: Annotated[
        datetime | None, typer.Option("--from", help="ISO time (city time); default: --to - 24 h")
    ] = None,
    end: Annotated[datetime | None, typer.Option("--to", help="ISO time; default: now")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Trips the hub has built (drives between stops), starting in [--from, --to)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    import psycopg

    from hub.reports.trips_table import trips_main
    from hub.storage import schema

    cfg = load_or_fail(config)
    tz = ZoneInfo(cfg.city.timezone)
    until = (end if end.tzinfo else end.replace(tzinfo=tz)) if end else datetime.now(tz)
    since = (start if start.tzinfo else start.replace(tzinfo=tz)) if start else None
    url, server = db_url(cfg, db)
    try:
        if server is not None:  # the embedded database may be brand new
            with psycopg.connect(url, autocommit=True) as conn:
                schema.upgrade(conn)
        code = trips_main(
            db_url=url, vehicle=vehicle, driver=driver, start=since or until - timedelta(days=1),
            end=until, as_json=json_out, timezone=cfg.city.timezone,
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    raise typer.Exit(code)


@app.command()
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
    import psycopg

    from hub.notify.service import NotificationService
    from hub.storage import schema

    if (school is None) == (ward is None):
        fail("give exactly one of --school ID or --ward NAME")
    cfg = load_or_fail(config)
    url, server = db_url(cfg, db)
    with psycopg.connect(url, autocommit=True) as conn:
        schema.upgrade(conn)
    service = NotificationService(cfg.watch, url, timezone=cfg.city.timezone)
    service.start()
    try:
        scope, scope_id = ("school", school) if school else ("ward", ward)
        try:
            result = service.broadcast(scope, str(scope_id), text_ja, text_en)  # type: ignore[arg-type]
        except ValueError as exc:
            fail(str(exc))
        service.wait_idle(wait)
        counts = service.delivery_counts(result.broadcast_id)
    finally:
        service.stop()
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    typer.echo(f"broadcast to {result.guardians} guardian(s): {json.dumps(counts)}")


@report_app.command("drivers")
def report_drivers(
    start: Annotated[datetime, typer.Option("--from", help="period start, ISO (city time)")],
    end: Annotated[datetime, typer.Option("--to", help="period end, ISO (exclusive)")],
    out: Annotated[Path, typer.Option(help="HTML file to write")] = Path("drivers.html"),
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Driving-tendency report: a fleet ranking and charts per driver, one HTML file."""
    from zoneinfo import ZoneInfo

    from hub.reports.drivers import report_main

    cfg = load_or_fail(config)
    tz = ZoneInfo(cfg.city.timezone)
    start, end = (t if t.tzinfo else t.replace(tzinfo=tz) for t in (start, end))
    url, server = db_url(cfg, db)
    try:
        code = report_main(db_url=url, start=start, end=end, out=out, timezone=cfg.city.timezone)
    except ValueError as exc:
        fail(str(exc))
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    typer.echo(f"wrote {out}" if code == 0 else "report failed")
    raise typer.Exit(code)


@app.command()
def analyze(
    file: Annotated[str, typer.Argument(help="raw NMEA log, or - for standard input")],
    vehicle_class: Annotated[str, typer.Option(help="thresholds to use")] = "heavy",
    config: ConfigOpt = None,
) -> None:
    """Run the hub's detectors over a raw NMEA log: one JSON event per line, then a summary."""
    from app.analyze import analyze_main

    cfg = load_or_fail(config)
    try:
        with open(file, "rb") if file != "-" else nullcontext(sys.stdin.buffer) as stream:
            code = analyze_main(
                stream, sys.stdout, sys.stderr, cfg=cfg, vehicle_class=vehicle_class
            )
    except OSError as exc:
        fail(f"cannot read {file}: {exc}")
    raise typer.Exit(code)


@nmea_app.command("decode")
def nmea_decode(
    file: Annotated[str, typer.Argument(help="raw NMEA log, or - for standard input")],
    device_id: Annotated[str, typer.Option(help="device id to stamp on the fixes")] = "decode",
) -> None:
    """Decode a raw NMEA log as the agent would: one JSON fix per line, counters on stderr."""
    from edge_agent.nmea_tool import decode_stream

    if file == "-":
        code = decode_stream(sys.stdin.buffer, sys.stdout, sys.stderr, device_id=device_id)
    else:
        try:
            with open(file, "rb") as stream:
                code = decode_stream(stream, sys.stdout, sys.stderr, device_id=device_id)
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
    raise typer.Exit(code)


@ble_app.command("decode")
def ble_decode(
    hex_inputs: Annotated[list[str], typer.Argument(help="advertising data (AD structures) hex")],
) -> None:
    """What the station's decoders make of raw advertising data: one JSON line per input."""
    from citytrack.ble.tool import decode_main

    raise typer.Exit(decode_main(hex_inputs, sys.stdout))


def main() -> None:
    app()
