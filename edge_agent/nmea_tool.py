"""``nmea decode``: run the agent's own NMEA decoder over a raw capture, like gpsd's gpsdecode.

Prints one JSON line per fix on ``out``, exactly as the vehicle agent would publish it
(:func:`citytrack.wire.encode` of :meth:`edge_agent.nmea.Epoch.to_fix`, seq 1, 2, 3...,
recv_time the moment the bytes were read), then the decoder's counters as one JSON object
on ``err``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import BinaryIO, TextIO

from citytrack.wire import DEVICE_ID_PATTERN, ContractError, encode, utcnow
from edge_agent.nmea import Epoch, NmeaFixDecoder
from edge_agent.sources import ReplaySource

READ_CHUNK = 4096


def decode_stream(stream: BinaryIO, out: TextIO, err: TextIO, *, device_id: str = "decode") -> int:
    """Decode a raw NMEA byte stream (file or pipe) to fix JSON lines; returns 0.

    Raises:
        ContractError: ``device_id`` is not a valid device id (checked before reading).
        SourceReadError: the stream could not be read.
    """
    if not re.fullmatch(DEVICE_ID_PATTERN, device_id):
        raise ContractError(f"invalid device id {device_id!r}")
    decoder = NmeaFixDecoder()
    source = ReplaySource(stream, chunk=READ_CHUNK)
    seq, recv_time = 0, utcnow()
    while data := source.read(timeout_s=0.0):
        recv_time = utcnow()
        seq = _print_fixes(decoder.feed(data), out, device_id, seq, recv_time)
    _print_fixes(decoder.flush(), out, device_id, seq, recv_time)  # its bytes came last
    err.write(json.dumps(decoder.counters.as_dict()) + "\n")
    return 0


def _print_fixes(
    epochs: list[Epoch], out: TextIO, device_id: str, seq: int, recv_time: datetime
) -> int:
    """Print ``epochs`` as fixes numbered after ``seq``; returns the last seq used."""
    for epoch in epochs:
        seq += 1
        out.write(encode(epoch.to_fix(device_id, seq, recv_time)).decode() + "\n")
    return seq
