"""A real serial port for tests: a fresh pty (as gpsd's ``FakePTY``), and reading a source
through a decoder until enough has come out."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

T = TypeVar("T")


class ByteSource(Protocol):
    def read(self, timeout_s: float) -> bytes: ...


class Decoder(Protocol[T]):
    def feed(self, data: bytes) -> list[T]: ...


@contextmanager
def open_pty() -> Iterator[tuple[int, str]]:
    """(master fd, slave device path) of a fresh pseudo-terminal; the master is closed
    afterwards unless the test closed it (an unplugged device)."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)  # pyserial opens the slave itself, by its path
    try:
        yield master, path
    finally:
        try:
            os.close(master)
        except OSError:
            pass  # the test closed it


def decode_until(
    source: ByteSource, decoder: Decoder[T], count: int, timeout_s: float = 10.0
) -> list[T]:
    """What ``decoder`` makes of ``source``'s bytes, read until ``count`` items came out
    (fewer only after ``timeout_s``)."""
    out: list[T] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < count and time.monotonic() < deadline:
        out += decoder.feed(source.read(timeout_s=0.2))
    return out
