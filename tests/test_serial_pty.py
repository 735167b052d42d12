"""A real serial port: NMEA written to a pty's master, read by SerialSource (pyserial) on
its slave, decoded by the agent's decoder (as gpsd's FakePTY regression tests do)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.nmea import NmeaFixDecoder
from edge_agent.sources import (
    GnssSource,
    HotplugSerialSource,
    SerialSource,
    SourceOpenError,
    SourceReadError,
)
from tests.nmea_text import nmea
from tests.serial_ports import decode_until, open_pty


def receiver_cycle(second: int) -> list[bytes]:
    tod = f"0930{second:02d}.00"
    return [
        nmea(f"GNRMC,{tod},A,3441.2350,N,13530.1500,E,12.5,90.0,010424,,,A"),
        nmea("GNVTG,90.0,T,,M,12.5,N,23.2,K,A"),
        nmea(f"GNGGA,{tod},3441.2350,N,13530.1500,E,1,09,0.8,12.3,M,37.2,M,,"),
        nmea("GNGSA,A,3,01,03,08,11,14,17,22,,,,,,1.5,0.8,1.2,1"),
        nmea("GPGSV,1,1,04,01,40,083,46,03,27,261,42,08,10,309,38,11,65,071,47"),
    ]


def test_fixes_through_a_real_serial_port(pty: tuple[int, str]) -> None:
    master, path = pty
    with SerialSource(path, 9600) as source:
        assert isinstance(source, GnssSource)
        decoder = NmeaFixDecoder()
        for second in range(3):
            for line in receiver_cycle(second):
                os.write(master, line[:20])  # a UART hands over bytes as they come
                os.write(master, line[20:])
        epochs = decode_until(source, decoder, 3)  # the 3rd as soon as its cycle ends
    assert [e.fix_time for e in epochs] == [
        datetime(2024, 4, 1, 9, 30, s, tzinfo=UTC) for s in range(3)
    ]
    e = epochs[-1]
    assert (e.lat_deg, e.lon_deg) == pytest.approx((34 + 41.235 / 60, 135 + 30.15 / 60))
    assert (e.speed_mps, e.sats_used, e.mode) == (pytest.approx(12.5 * 1852 / 3600), 9, 3)
    assert decoder.counters.unsupported == 3 and decoder.counters.garbage == 0


def test_line_noise_on_the_wire_is_counted(pty: tuple[int, str]) -> None:
    master, path = pty
    with SerialSource(path, 4800) as source:
        decoder = NmeaFixDecoder()
        noisy = [b"\x00\xff\xfe", *receiver_cycle(0), b"\xb5\x62\x01\x07$", *receiver_cycle(1)]
        os.write(master, b"".join(noisy) + b"".join(receiver_cycle(2)))
        epochs = decode_until(source, decoder, 3)
    assert [e.fix_time.second for e in epochs] == [0, 1, 2]
    assert decoder.counters.garbage == 3  # the NULs, the UBX header, the first "$" of "$$"


def test_read_times_out_with_nothing(pty: tuple[int, str]) -> None:
    _, path = pty
    with SerialSource(path) as source:
        start = time.monotonic()
        assert source.read(timeout_s=0.2) == b""
        assert time.monotonic() - start >= 0.15


def test_a_vanished_device_is_a_read_error(pty: tuple[int, str]) -> None:
    master, path = pty
    source = SerialSource(path)
    os.close(master)  # the receiver is unplugged
    with pytest.raises(SourceReadError) as caught:
        source.read(timeout_s=1.0)
    assert caught.value.source == path and isinstance(caught.value, OSError)
    source.close()
    with pytest.raises(SourceReadError):
        source.read(timeout_s=0.0)


def test_a_missing_port_is_an_open_error(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(tmp_path, "ttyUSB9")
    with pytest.raises(SourceOpenError) as caught:
        SerialSource(missing)
    assert caught.value.source == missing and caught.value.__cause__ is not None


def test_a_hotplug_port_is_waited_for_and_reopened(tmp_path: Path) -> None:
    """Not there yet: an open error each read. Plugged in: read. Unplugged: a read error,
    then open errors again. Plugged back (another pty behind the same path): read again."""
    port = tmp_path / "ttyUSB0"
    source = HotplugSerialSource(str(port))
    assert isinstance(source, GnssSource)
    with pytest.raises(SourceOpenError, match="No such file or directory"):
        source.read(timeout_s=0.0)
    for plug in range(2):
        with open_pty() as (master, path):
            port.symlink_to(path)
            assert source.read(timeout_s=0.0) == b""  # opened (pyserial flushes on open)
            os.write(master, b"".join(receiver_cycle(10 * plug) + receiver_cycle(10 * plug + 1)))
            epochs = decode_until(source, NmeaFixDecoder(), 2)
            assert [e.fix_time.second for e in epochs] == [10 * plug, 10 * plug + 1]
            os.close(master)  # unplugged
            port.unlink()
            with pytest.raises(SourceReadError):
                source.read(timeout_s=1.0)
            with pytest.raises(SourceOpenError):
                source.read(timeout_s=0.0)
    source.close()
    with pytest.raises(SourceReadError, match="after close"):
        source.read(timeout_s=0.0)
