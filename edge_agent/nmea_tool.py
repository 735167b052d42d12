"""The agent's own NMEA decoder over a raw capture, like gpsd's gpsdecode (``citytrack nmea
decode`` prints what :func:`decode_fixes` yields).

Each fix is exactly what the vehicle agent would publish (:meth:`edge_agent.nmea.Epoch.to_fix`,
seq 1, 2, 3..., recv_time the moment its bytes were read); the decoder's counters say what
else the capture held.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from citytrack.wire import DEVICE_ID_PATTERN, ContractError, Fix, utcnow
from edge_agent.nmea import NmeaFixDecoder
from edge_agent.sources import ReplaySource

READ_CHUNK = 4096


def decode_fixes(
    stream: BinaryIO, decoder: NmeaFixDecoder, *, device_id: str = "decode"
) -> Iterator[Fix]:
    """The fixes in a raw NMEA byte stream (file or pipe), as they are decoded; afterwards
    ``decoder.counters`` counts the whole stream.

    Raises:
        ContractError: ``device_id`` is not a valid device id (at the call, before reading).
        SourceReadError: the stream could not be read.
    """
    if not re.fullmatch(DEVICE_ID_PATTERN, device_id):
        raise ContractError(f"invalid device id {device_id!r}")
    return _fixes(ReplaySource(stream, chunk=READ_CHUNK), decoder, device_id)


def _fixes(source: ReplaySource, decoder: NmeaFixDecoder, device_id: str) -> Iterator[Fix]:
    seq, recv_time = 0, utcnow()
    while data := source.read(timeout_s=0.0):
        recv_time = utcnow()
        for epoch in decoder.feed(data):
            seq += 1
            yield epoch.to_fix(device_id, seq, recv_time)
    for epoch in decoder.flush():  # its bytes came last
        seq += 1
        yield epoch.to_fix(device_id, seq, recv_time)
