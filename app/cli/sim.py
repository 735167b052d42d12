"""``citytrack sim gps``: a truck's GPS receiver (and accelerometer) simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import CommandError, ConfigOpt, UsageError
from citytrack.config import load_config

app = typer.Typer(no_args_is_help=True, help="Device simulators.")


def _announce(line: str) -> None:
    """Print a pty's path at once: a parent process is reading our stdout for it."""
    print(line, flush=True)


@app.command("gps")
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
    from firmware_sim.run import run_gps

    if not pty and out is None:
        raise UsageError("give --pty or --out FILE")
    if imu_rate is not None and not pty and imu_out is None:
        raise UsageError("--imu-rate without --pty needs --imu-out FILE")
    try:
        run_gps(
            cfg=load_config(config),
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
            announce=_announce,
        )
    except OSError as exc:
        raise CommandError(f"cannot write the simulator's output: {exc}") from exc
