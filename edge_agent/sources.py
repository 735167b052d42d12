"""Byte sources for the vehicle agent's GNSS receiver: serial port, gpsd, replayed file.

Thin I/O shells behind one interface, :class:`GnssSource`: ``read(timeout_s)`` returns the
bytes that arrived (b"" when none did within ``timeout_s`` seconds) and ``close()`` releases
the device. They do not parse NMEA (:class:`edge_agent.nmea.NmeaFixDecoder` does; the gpsd
source only drops gpsd's own JSON lines). The agent is
handed the source it should talk to, so tests give it a real pty, a real TCP peer or a file.

Errors (pyserial and socket errors are translated here, the original kept as ``__cause__``)::

    SourceError(OSError)            a GNSS source failed
      .source                       which one: serial port path, gpsd://host:port, file path
      SourceOpenError               it could not be opened (no such port, refused, no file)
      SourceReadError               it failed or went away while reading (unplugged device,
                                    gpsd closed the connection, read after close)

A receiver on USB comes and goes: :class:`HotplugSerialSource` opens its port at the first
read and again after it failed, so an agent started before the receiver is plugged in (or
one whose receiver is unplugged and plugged back) waits for it, as gpsd does for
hot-plugged devices, instead of exiting.
"""

from __future__ import annotations

import os
import socket
import time
from types import TracebackType
from typing import BinaryIO, Protocol, Self, runtime_checkable

import serial

from citytrack.errors import RetryableError

GPSD_WATCH = b'?WATCH={"enable":true,"nmea":true};\n'
_MAX_PARTIAL = 4096


class SourceError(RetryableError, OSError):
    """A GNSS source failed; ``source`` names it."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class SourceOpenError(SourceError):
    """The source could not be opened."""


class SourceReadError(SourceError):
    """The source failed or went away while reading."""


@runtime_checkable
class GnssSource(Protocol):
    """Where the receiver's bytes come from."""

    def read(self, timeout_s: float) -> bytes:
        """Bytes that arrived within ``timeout_s`` seconds; b"" if none did.

        Raises:
            SourceReadError: the source failed or went away.
        """
        ...

    def close(self) -> None:
        """Release the device; idempotent."""
        ...


class _Closing:
    """Context-manager support for the sources."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SerialSource(_Closing):
    """A receiver on a serial port (or a pty), through pyserial; 8N1 at ``baud`` bit/s.

    Raises:
        SourceOpenError: the port does not exist, is busy, or rejects the settings.
    """

    def __init__(self, port: str, baud: int = 9600) -> None:
        self.source = port
        try:
            self._serial = serial.Serial(port, baud, timeout=0)
        except (serial.SerialException, ValueError) as exc:
            # pyserial repeats the path and errno: say only why, e.g. "No such file or directory"
            errno = getattr(exc, "errno", None)
            reason = os.strerror(errno) if isinstance(errno, int) else str(exc)
            raise SourceOpenError(port, f"cannot open at {baud} bit/s: {reason}") from exc

    def read(self, timeout_s: float) -> bytes:
        """Wait up to ``timeout_s`` s for a first byte, then take all that are waiting.

        Raises:
            SourceReadError: the port failed (device unplugged, pty closed) or is closed.
        """
        try:
            if self._serial.timeout != timeout_s:
                self._serial.timeout = timeout_s
            first: bytes = self._serial.read(1)
            if not first:
                return b""
            waiting = self._serial.in_waiting
            rest: bytes = self._serial.read(waiting) if waiting else b""
            return first + rest
        except (serial.SerialException, OSError) as exc:
            raise SourceReadError(self.source, f"read failed: {exc}") from exc

    def close(self) -> None:
        self._serial.close()


class HotplugSerialSource(_Closing):
    """A receiver on a serial port that may not be there yet, or may go and come back.

    The port is opened at the first ``read`` and, after a read failed (the device was
    unplugged), at the next one. While it cannot be opened, ``read`` raises
    :class:`SourceOpenError`; the caller retries with backoff. After ``close()`` reads
    fail with :class:`SourceReadError` and nothing is reopened.
    """

    def __init__(self, port: str, baud: int = 9600) -> None:
        self.source = port
        self.baud = baud
        self._port: SerialSource | None = None
        self._closed = False

    def read(self, timeout_s: float) -> bytes:
        """As :meth:`SerialSource.read`, opening the port first if it is not open.

        Raises:
            SourceOpenError: the port cannot be opened (not plugged in, busy).
            SourceReadError: the port failed (it is closed; the next read reopens it),
                or this source was closed.
        """
        if self._closed:
            raise SourceReadError(self.source, "read after close")
        if self._port is None:
            self._port = SerialSource(self.source, self.baud)
        try:
            return self._port.read(timeout_s)
        except SourceReadError:
            self._drop_port()
            raise

    def _drop_port(self) -> None:
        if self._port is not None:
            self._port.close()
        self._port = None

    def close(self) -> None:
        self._closed = True
        self._drop_port()


class ReplaySource(_Closing):
    """A recorded capture, read ``chunk`` bytes at a time as fast as asked; for replays.

    Takes a path (opened and owned here) or a binary stream (closed by its owner; a
    stream with ``read1``, such as stdin's buffer, hands over what is available without
    waiting to fill ``chunk``). ``eof`` turns true once the end has been read.

    Raises:
        ValueError: ``chunk`` < 1.
        SourceOpenError: the file cannot be opened.
    """

    def __init__(self, path_or_stream: str | os.PathLike[str] | BinaryIO, chunk: int = 4096):
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1 byte, got {chunk}")
        self._chunk = chunk
        self.eof = False
        if isinstance(path_or_stream, str | os.PathLike):
            self.source = os.fspath(path_or_stream)
            try:
                self._stream: BinaryIO = open(path_or_stream, "rb")  # noqa: SIM115 (kept open)
            except OSError as exc:
                raise SourceOpenError(self.source, f"cannot open: {exc}") from exc
            self._owned = True
        else:
            self.source = str(getattr(path_or_stream, "name", "<stream>"))
            self._stream, self._owned = path_or_stream, False

    def read(self, timeout_s: float) -> bytes:
        """The next chunk; b"" at the end (``timeout_s`` is unused: a file never waits).

        Raises:
            SourceReadError: the file could not be read, or the source was closed.
        """
        if self.eof:
            return b""
        read = getattr(self._stream, "read1", self._stream.read)
        try:
            data: bytes = read(self._chunk)
        except (OSError, ValueError) as exc:  # ValueError: I/O on a closed file
            raise SourceReadError(self.source, f"read failed: {exc}") from exc
        self.eof = not data
        return data

    def close(self) -> None:
        if self._owned:
            self._stream.close()


class GpsdSource(_Closing):
    """Raw NMEA relayed by a gpsd daemon over TCP (``?WATCH={"enable":true,"nmea":true};``).

    gpsd's own JSON reports (VERSION, DEVICES, WATCH) are dropped here, so only the
    receiver's sentences reach the decoder.

    Raises:
        SourceOpenError: gpsd cannot be reached within ``connect_timeout_s`` seconds.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 2947, *, connect_timeout_s: float = 5.0
    ) -> None:
        self.source = f"gpsd://{host}:{port}"
        self._partial = b""
        try:
            self._sock = socket.create_connection((host, port), timeout=connect_timeout_s)
            self._sock.sendall(GPSD_WATCH)
        except OSError as exc:
            raise SourceOpenError(self.source, f"cannot connect: {exc}") from exc

    def read(self, timeout_s: float) -> bytes:
        """Complete NMEA lines that arrived within ``timeout_s`` s; b"" if none did.

        Raises:
            SourceReadError: gpsd closed the connection or the socket failed.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            chunk = self._recv(max(0.0, deadline - time.monotonic()))
            nmea = self._drop_json(chunk)
            if nmea or not chunk or time.monotonic() >= deadline:
                return nmea

    def _recv(self, timeout_s: float) -> bytes:
        try:
            self._sock.settimeout(timeout_s)
            data = self._sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            return b""
        except OSError as exc:
            raise SourceReadError(self.source, f"read failed: {exc}") from exc
        if not data:
            raise SourceReadError(self.source, "gpsd closed the connection")
        return data

    def _drop_json(self, chunk: bytes) -> bytes:
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > _MAX_PARTIAL:  # no line end in sight: let the decoder judge
            lines.append(self._partial)
            self._partial = b""
        kept = (line for line in lines if not line.lstrip().startswith(b"{"))
        return b"".join(line + b"\n" for line in kept)

    def close(self) -> None:
        self._sock.close()
