"""NMEA 0183 text for tests, written independently of the code under test: a sentence with
its checksum, and how many line counters the decoder should advance for some bytes."""

from __future__ import annotations

import operator
import re
from functools import reduce

from edge_agent.nmea import NmeaCounters

LINE_COUNTERS = (
    "sentences_ok",
    "bad_checksum",
    "no_checksum",
    "garbage",
    "overlong",
    "unsupported",
    "bad_field",
)
"""The decoder's counters of which each line (or ``$``-started piece of one) bumps one."""


def checksum(body: bytes) -> int:
    """XOR of the bytes between ``$`` and ``*``."""
    return reduce(operator.xor, body, 0)


def nmea(body: str, *, end: str = "\r\n") -> bytes:
    """``$body*hh`` with its checksum."""
    return f"${body}*{checksum(body.encode()):02X}{end}".encode()


def fragments(data: bytes) -> int:
    """Lines and ``$``-started pieces of lines: each is counted once by the decoder."""
    total = 0
    for line in re.split(rb"[\r\n]", data):
        head, *sentences = line.split(b"$")
        total += len(sentences) + (1 if head.strip() else 0)
    return total


def lines_counted(counters: NmeaCounters) -> int:
    """The sum of the decoder's ``LINE_COUNTERS``."""
    return sum(getattr(counters, k) for k in LINE_COUNTERS)
