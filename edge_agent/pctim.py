"""The vehicle agent's accelerometer reader: ``$PCTIM`` lines in, ``ImuSample`` out.

Line protocol (one sample per line; what ``citytrack sim gps --imu-rate`` writes)::

    $PCTIM,<unix_time_s>,<ax_mps2>,<ay_mps2>,<az_mps2>*hh<CR><LF>
    $PCTIM,1764140520.020,0.123,-0.456,9.801*5D

A proprietary NMEA-style sentence: POSIX time of the sample (UTC seconds, any number of
decimals), then the specific force along the sensor's own x, y, z axes (m/s^2), all four
plain decimal numbers (no exponent, no NaN); ``hh`` is the NMEA checksum (XOR of the bytes
between ``$`` and ``*``, hex, either case). Lines end in LF, CR LF or CR.

Sans-I/O: :class:`ImuDecoder` is fed whatever bytes a source read (any chunking gives the
same samples and counts) and returns the samples they completed. Its error policy is
explicit: ``errors="skip"`` (the agent's) counts a bad line in :class:`ImuLineCounts` and
goes on; ``errors="raise"`` raises :class:`ImuLineError` instead. Every line counts once:
``lines_ok``, ``garbage`` (not a ``$PCTIM`` sentence: other text, binary, an empty field),
``overlong`` (over ``MAX_LINE_BYTES``), ``bad_checksum`` (missing or wrong), ``bad_field``
(a number that is not finite or out of range: a time before ``MIN_TIME_S`` or a reading
beyond ``MAX_ACCEL_MPS2``) or ``out_of_order`` (a time not after the previous sample's).
Blank lines are not counted.

Sources are the GNSS agent's byte sources under their IMU names: a serial port (pyserial,
:class:`SerialImuSource`) or a recorded file (:class:`ReplayImuSource`); they raise the
same :class:`edge_agent.sources.SourceError` tree.

Errors::

    ImuLineError(ValueError)     a bad line under errors="raise"
      .line, .reason             the line (bytes, without its line end) and the counter name
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from functools import reduce
from operator import xor
from typing import Literal

from analytics.device.imu_harsh import ImuSample
from citytrack.counters import Counters
from citytrack.errors import InvalidInputError
from edge_agent.sources import GnssSource, ReplaySource, SerialSource

__all__ = [
    "ImuDecoder",
    "ImuLineCounts",
    "ImuLineError",
    "ImuSample",
    "ImuSource",
    "ReplayImuSource",
    "SerialImuSource",
]

MAX_LINE_BYTES = 120
MIN_TIME_S = 946_684_800.0  # 2000-01-01: an earlier time is a clock that was never set
MAX_ACCEL_MPS2 = 160.0  # 16 g, the widest range of common MEMS accelerometers
IMU_BAUD = 115_200
_LINE = re.compile(rb"\$PCTIM,([^*]*)\*([0-9A-Fa-f]{2})\Z")
_NUMBER = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)\Z")

ImuSource = GnssSource
"""Where the accelerometer's bytes come from: ``read(timeout_s)`` and ``close()``."""


class SerialImuSource(SerialSource):
    """An accelerometer on a serial port or pty (pyserial), 8N1 at ``baud`` bit/s.

    Raises:
        SourceOpenError: the port does not exist, is busy, or rejects the settings.
    """

    def __init__(self, port: str, baud: int = IMU_BAUD) -> None:
        super().__init__(port, baud)


class ReplayImuSource(ReplaySource):
    """A recorded accelerometer log, read as fast as asked (see ``ReplaySource``)."""


class ImuLineError(InvalidInputError):
    """A line the decoder could not use (``errors="raise"``)."""

    def __init__(self, line: bytes, reason: str) -> None:
        super().__init__(f"{reason}: {line[:80]!r}")
        self.line = line
        self.reason = reason


@dataclass
class ImuLineCounts(Counters):
    lines_ok: int = 0
    garbage: int = 0
    overlong: int = 0
    bad_checksum: int = 0
    bad_field: int = 0
    out_of_order: int = 0

    @property
    def bad_lines(self) -> int:
        """Every line that was not used."""
        return self.lines - self.lines_ok

    @property
    def lines(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


class ImuDecoder:
    """Bytes from the accelerometer in, samples out; see the module docstring.

    Raises:
        ValueError: ``errors`` other than "skip" or "raise".
    """

    def __init__(self, errors: Literal["skip", "raise"] = "skip") -> None:
        if errors not in ("skip", "raise"):
            raise ValueError(f'errors must be "skip" or "raise", not {errors!r}')
        self.errors = errors
        self.counters = ImuLineCounts()
        self._partial = bytearray()
        self._skipping = False  # inside an overlong line
        self._last_t_s: float | None = None

    def feed(self, data: bytes) -> list[ImuSample]:
        """The samples completed by ``data``, in order.

        Raises:
            ImuLineError: a bad line, with ``errors="raise"`` (the lines after it in
                ``data`` are not read).
        """
        out: list[ImuSample] = []
        start = 0
        for match in re.finditer(rb"[\r\n]", data):
            self._add(data[start : match.start()])
            self._end_line(out)
            start = match.end()
        self._add(data[start:])
        return out

    def flush(self) -> list[ImuSample]:
        """End of stream: the last line, even without a line end."""
        out: list[ImuSample] = []
        self._end_line(out)
        return out

    def _add(self, segment: bytes) -> None:
        if self._skipping or not segment:
            return
        self._partial += segment
        if len(self._partial) > MAX_LINE_BYTES:
            line, self._partial = bytes(self._partial), bytearray()
            self._skipping = True
            self._count_bad(line, "overlong")

    def _end_line(self, out: list[ImuSample]) -> None:
        line, self._partial = bytes(self._partial).strip(), bytearray()
        if self._skipping:
            self._skipping = False
            return
        if not line:
            return
        sample = self._parse(line)
        if isinstance(sample, str):
            self._count_bad(line, sample)
            return
        self.counters.lines_ok += 1
        self._last_t_s = sample.t_s
        out.append(sample)

    def _parse(self, line: bytes) -> ImuSample | str:
        """The sample on ``line``, or the name of the counter it goes to."""
        match = _LINE.match(line)
        if match is None:
            return "bad_checksum" if line.startswith(b"$PCTIM,") else "garbage"
        body = line[1 : match.start(2) - 1]
        if reduce(xor, body, 0) != int(match.group(2), 16):
            return "bad_checksum"
        parts = match.group(1).split(b",")
        if len(parts) != 4 or not all(_NUMBER.match(p) for p in parts):
            return "garbage"
        t_s, ax, ay, az = (float(p) for p in parts)
        finite = all(math.isfinite(a) and abs(a) <= MAX_ACCEL_MPS2 for a in (ax, ay, az))
        if t_s < MIN_TIME_S or not finite:
            return "bad_field"
        if self._last_t_s is not None and t_s <= self._last_t_s:
            return "out_of_order"
        return ImuSample(t_s, ax, ay, az)

    def _count_bad(self, line: bytes, reason: str) -> None:
        setattr(self.counters, reason, getattr(self.counters, reason) + 1)
        if self.errors == "raise":
            raise ImuLineError(line, reason)
