"""``citytrack nmea decode``: what the vehicle agent makes of a raw NMEA log."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from app.cli.common import input_stream

app = typer.Typer(no_args_is_help=True, help="NMEA tools.")


@app.command("decode")
def nmea_decode(
    file: Annotated[str, typer.Argument(help="raw NMEA log, or - for standard input")],
    device_id: Annotated[str, typer.Option(help="device id to stamp on the fixes")] = "decode",
) -> None:
    """Decode a raw NMEA log as the agent would: one JSON fix per line, counters on stderr."""
    from citytrack.wire import encode
    from edge_agent.nmea import NmeaFixDecoder
    from edge_agent.nmea_tool import decode_fixes

    decoder = NmeaFixDecoder()
    with input_stream(file) as stream:
        for fix in decode_fixes(stream, decoder, device_id=device_id):
            sys.stdout.write(encode(fix).decode() + "\n")
    sys.stderr.write(json.dumps(decoder.counters.as_dict()) + "\n")
