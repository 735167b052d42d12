"""The replay and gpsd byte sources, against a real file and a real TCP peer."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.nmea import NmeaFixDecoder
from edge_agent.sources import (
    GPSD_WATCH,
    GnssSource,
    GpsdSource,
    ReplaySource,
    SourceOpenError,
    SourceReadError,
)

RMC = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"
GGA = b"$GPGGA,123520,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*4D\r\n"


def test_replay_a_file_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "drive.nmea"
    path.write_bytes(RMC * 3)
    with ReplaySource(path, chunk=50) as source:
        assert isinstance(source, GnssSource) and source.source == str(path)
        chunks = []
        while not source.eof:
            chunks.append(source.read(timeout_s=0.0))
        assert b"".join(chunks) == RMC * 3 and max(map(len, chunks)) <= 50
        assert chunks[-1] == b"" and source.read(timeout_s=0.0) == b""
    closed = ReplaySource(path)
    closed.close()  # it owns the file it opened
    with pytest.raises(SourceReadError):
        closed.read(timeout_s=0.0)


def test_replay_a_stream_it_does_not_own() -> None:
    stream = io.BytesIO(RMC)
    source = ReplaySource(stream, chunk=4096)
    assert source.read(0.0) == RMC and source.read(0.0) == b"" and source.eof
    source.close()
    assert not stream.closed


def test_replay_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceOpenError) as caught:
        ReplaySource(tmp_path / "missing.nmea")
    assert caught.value.source.endswith("missing.nmea")
    with pytest.raises(ValueError, match="chunk"):
        ReplaySource(io.BytesIO(), chunk=0)


class FakeGpsd:
    """A TCP peer that talks like gpsd: greets, waits for ?WATCH, then relays NMEA."""

    GREETING = (
        b'{"class":"VERSION","release":"3.25","rev":"3.25","proto_major":3,"proto_minor":15}\r\n'
    )
    WATCHING = (
        b'{"class":"DEVICES","devices":[{"class":"DEVICE","path":"/dev/ttyACM0",'
        b'"driver":"NMEA0183","activated":"2024-04-01T09:30:00.000Z"}]}\r\n'
        b'{"class":"WATCH","enable":true,"json":false,"nmea":true,"raw":0}\r\n'
    )

    def __init__(self, relay: list[bytes]) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.watch = b""
        self.hang_up = threading.Event()
        self._relay = relay
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._server.accept()
        with conn:
            conn.sendall(self.GREETING)
            while not self.watch.endswith(b"\n"):
                self.watch += conn.recv(1024)
            conn.sendall(self.WATCHING)
            for piece in self._relay:
                conn.sendall(piece)
                time.sleep(0.01)  # pieces as gpsd relays them, apart (coalesced or not: same fixes)
            self.hang_up.wait(10)

    def close(self) -> None:
        self.hang_up.set()
        self._thread.join(10)
        self._server.close()


@pytest.fixture
def gpsd() -> Iterator[FakeGpsd]:
    relay = [RMC[:25], RMC[25:] + GGA[:10], GGA[10:]]
    server = FakeGpsd(relay)
    yield server
    server.close()


def test_gpsd_relays_nmea_without_its_json(gpsd: FakeGpsd) -> None:
    with GpsdSource("127.0.0.1", gpsd.port) as source:
        assert source.source == f"gpsd://127.0.0.1:{gpsd.port}"
        received = b""
        deadline = time.monotonic() + 5
        while received != RMC + GGA and time.monotonic() < deadline:
            received += source.read(timeout_s=0.2)
        assert received == RMC + GGA
        assert gpsd.watch == GPSD_WATCH
        assert source.read(timeout_s=0.1) == b""  # nothing more yet: a timeout, not an error
        decoder = NmeaFixDecoder()
        assert len(decoder.feed(received) + decoder.flush()) == 2
        assert decoder.counters.garbage == 0
        gpsd.hang_up.set()
        with pytest.raises(SourceReadError, match="closed the connection"):
            while True:
                source.read(timeout_s=1.0)


def test_gpsd_not_running_is_an_open_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with pytest.raises(SourceOpenError) as caught:
        GpsdSource("127.0.0.1", port, connect_timeout_s=1.0)
    assert caught.value.source == f"gpsd://127.0.0.1:{port}"
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
