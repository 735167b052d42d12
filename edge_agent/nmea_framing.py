"""Cutting a GNSS receiver's byte stream into candidate NMEA sentences (sans-I/O).

A sentence starts at ``$`` and ends at CR or LF (CR, LF and CRLF all work). A ``$`` inside
a line restarts the sentence there, so what came before it (binary UBX, NUL padding, the
first ``$`` of ``$$``, a log's ``#`` comment) is dropped and counted as garbage, unless it
already ends in ``*hh`` (a complete sentence whose line end was lost). A sentence longer
than ``max_line_bytes`` is counted as overlong and dropped up to the next ``$`` or line end.
Chunking never matters: every decision is made at a delimiter byte.
"""

from __future__ import annotations

import re
from typing import Protocol

DELIMITER = re.compile(rb"[$\r\n]")
CHECKSUM = re.compile(rb"\*([0-9A-Fa-f]{2})\Z")


class FramingCounts(Protocol):
    """Where the framer counts what it drops."""

    garbage: int
    overlong: int


class NmeaFramer:
    """Cuts a byte stream into candidate sentences (``$`` to line end), counting the rest."""

    def __init__(self, max_line_bytes: int, counters: FramingCounts) -> None:
        self._max = max_line_bytes
        self._counters = counters
        self._line = bytearray()  # the candidate sentence, starting with "$", or empty
        self._junk = False  # non-whitespace seen outside a candidate
        self._skipping = False  # inside an overlong line

    def feed(self, data: bytes) -> list[bytes]:
        """The candidate sentences ``data`` completed, each from ``$`` to before its line end."""
        lines: list[bytes] = []
        start = 0
        for match in DELIMITER.finditer(data):
            self._add(data[start : match.start()])
            self._delimit(match.group(), lines)
            start = match.end()
        self._add(data[start:])
        return lines

    def flush(self) -> list[bytes]:
        """End of stream: the last candidate, even without a line end."""
        lines: list[bytes] = []
        self._delimit(b"\n", lines)
        return lines

    def _add(self, segment: bytes) -> None:
        if not segment or self._skipping:
            return
        if self._line:
            self._line += segment
            if len(self._line) > self._max:
                self._counters.overlong += 1
                self._line.clear()
                self._skipping = True
        elif segment.strip():
            self._junk = True

    def _delimit(self, delimiter: bytes, lines: list[bytes]) -> None:
        line, self._line = bytes(self._line), bytearray()
        if delimiter == b"$" and line and not CHECKSUM.search(line.rstrip()):
            self._counters.garbage += 1  # cut short by a new "$": resync there
        elif line:
            lines.append(line)
        elif self._junk:
            self._counters.garbage += 1
        self._junk = self._skipping = False
        if delimiter == b"$":
            self._line += b"$"
