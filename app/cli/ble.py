"""``citytrack ble decode``: what a station's decoders make of raw advertising data."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.cli.common import CommandError

app = typer.Typer(no_args_is_help=True, help="BLE beacon tools.")


@app.command("decode")
def ble_decode(
    hex_inputs: Annotated[list[str], typer.Argument(help="advertising data (AD structures) hex")],
) -> None:
    """What the station's decoders make of raw advertising data: one JSON line per input."""
    from citytrack.ble.tool import decode_one

    failed = 0
    for text in hex_inputs:
        result = decode_one(text)
        failed += "error" in result
        typer.echo(json.dumps(result))
    if failed:
        raise CommandError(f"{failed} of {len(hex_inputs)} input(s) gave no beacon frame")
