"""The accelerometer's sources: a real serial port (a pty read through pyserial) and a
recorded file, both decoded by the agent's decoder; the simulator's pty output included."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from citytrack.config import load_config
from edge_agent.pctim import ImuDecoder, ImuSample, ImuSource, ReplayImuSource, SerialImuSource
from edge_agent.sources import SourceOpenError, SourceReadError
from firmware_sim.accelerometer import ImuSimulator, checksum, format_samples
from firmware_sim.corners import RoundedRoute
from firmware_sim.gps import TruckSimulator
from firmware_sim.receiver import PtyGpsReceiver
from tests.serial_ports import decode_until

T = 1_780_000_000.0


def test_samples_and_bad_lines_through_a_real_serial_port(pty: tuple[int, str]) -> None:
    master, path = pty
    t = T + np.arange(100) / 50.0
    accel = np.tile([0.1, -0.2, 9.8], (100, 1))
    lines = format_samples(t, accel).splitlines(keepends=True)
    bad = [b"\x00\x00garbage\r\n", b"$PCTIM,1780000001.000,1,2,3*00\r\n"]
    with SerialImuSource(path) as source:
        assert isinstance(source, ImuSource)
        decoder = ImuDecoder()
        for i in range(0, 100, 10):  # in bursts, as a sensor's UART buffer empties
            os.write(master, b"".join(lines[i : i + 10]) + (bad[i // 50] if i % 50 == 0 else b""))
        samples = decode_until(source, decoder, 100)
    assert [s.t_s for s in samples] == pytest.approx(t.tolist(), abs=5e-4)
    assert decoder.counters.garbage == 1 and decoder.counters.bad_checksum == 1
    assert decoder.counters.lines_ok == 100


def test_unplugged_sensor_raises_source_errors(pty: tuple[int, str], tmp_path: Path) -> None:
    _, path = pty
    with pytest.raises(SourceOpenError):
        SerialImuSource(str(tmp_path / "ttyACM9"))
    source = SerialImuSource(path)
    source.close()
    with pytest.raises(SourceReadError):
        source.read(0.1)


def test_replay_file(tmp_path: Path) -> None:
    body = f"PCTIM,{T:.3f},0.000,0.000,9.807"
    log = tmp_path / "imu.log"
    log.write_bytes(f"# a comment\n${body}*{checksum(body)}\n".encode())
    decoder = ImuDecoder()
    with ReplayImuSource(log, chunk=7) as source:
        samples: list[ImuSample] = []
        while not source.eof:
            samples += decoder.feed(source.read(0.0))
    assert samples == [ImuSample(T, 0.0, 0.0, 9.807)]
    assert decoder.counters.garbage == 1


def test_the_simulated_sensor_on_its_own_pty() -> None:
    cfg = load_config()
    truck = cfg.city.truck("truck-01")
    assert truck is not None
    start = datetime.now(UTC).replace(microsecond=0)
    sim = TruckSimulator(
        truck, cfg.city, cfg.sim, seed=2, start_time=start, rate_hz=10.0, geometry=RoundedRoute
    )
    imu = ImuSimulator(sim, 100.0, seed=2)
    with PtyGpsReceiver(sim) as gps, PtyGpsReceiver(sim) as imu_pty:
        source = SerialImuSource(imu_pty.port)
        stop = threading.Event()
        after = lambda: imu_pty.write_epoch(format_samples(*imu.collect()))  # noqa: E731
        runner = threading.Thread(target=gps.run, args=(stop, 1.0), kwargs={"after_epoch": after})
        runner.start()
        decoder = ImuDecoder()
        samples = decode_until(source, decoder, 91)
        runner.join(5)
        source.close()
    assert len(samples) == 91  # 0.9 s at 100 Hz, plus the sample at 0
    assert decoder.counters.bad_lines == 0
    assert samples[0].t_s == pytest.approx(start.timestamp())
    assert all(b.t_s - a.t_s == pytest.approx(0.01, abs=2e-3) for a, b in pairwise(samples))
