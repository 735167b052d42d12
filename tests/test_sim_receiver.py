"""The simulated receiver on a real pty (read with pyserial), and its command line."""

from __future__ import annotations

import itertools
import os
import select
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pynmea2
import pytest
import serial
from typer.testing import CliRunner

from app.cli import app
from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, CitytrackConfig, load_config
from firmware_sim.gps import TruckSimulator
from firmware_sim.labels import EpisodeLabel
from firmware_sim.receiver import PtyGpsReceiver, iter_nmea
from firmware_sim.run import SimRequestError, run_gps

CONFIG_PATH = REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME
CITYTRACK = str(Path(sys.executable).with_name("citytrack"))
START = datetime(2025, 6, 3, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def cfg() -> CitytrackConfig:
    return load_config(CONFIG_PATH)


def make_sim(cfg: CitytrackConfig, device: str = "truck-01", **overrides: float) -> TruckSimulator:
    truck = cfg.city.truck(device)
    assert truck is not None
    sim_cfg = cfg.sim.model_copy(update=overrides)
    return TruckSimulator(truck, cfg.city, sim_cfg, seed=1, start_time=START, rate_hz=10.0)


def valid_lines(data: bytes) -> list[pynmea2.NMEASentence]:
    """Parse every CR LF terminated line; the data must end on a line boundary."""
    text = data.decode("ascii")
    assert text.endswith("\r\n")
    return [pynmea2.parse(line, check=True) for line in text.split("\r\n")[:-1]]


def test_pty_serves_paced_nmea_to_pyserial_and_writes_labels(
    cfg: CitytrackConfig, tmp_path: Path
) -> None:
    sim = make_sim(cfg, dropout_prob=0.0)
    # fast-forward (unpaced) into the 2-3 s standstill after truck-01's harsh stop (15-17 s),
    # so that the episode completes during the paced run
    stopped_at = None
    for truth, _ in iter_nmea(sim, 400):
        late = truth.time - START > timedelta(seconds=15)
        if stopped_at is None and late and truth.speed_mps == 0.0:
            stopped_at = truth.time
        if stopped_at is not None and truth.time - stopped_at >= timedelta(seconds=1.9):
            break
    labels, tee = tmp_path / "labels.jsonl", tmp_path / "nmea.log"
    stop = threading.Event()
    with PtyGpsReceiver(sim, labels_path=labels, tee_path=tee) as rx:
        assert rx.port.startswith("/dev/")
        with serial.Serial(rx.port, 9600, timeout=0.3) as port:
            runner = threading.Thread(target=rx.run, args=(stop, 1.5))
            began = time.monotonic()
            runner.start()
            received = b""
            while runner.is_alive() or port.in_waiting:
                received += port.read(4096)
            elapsed = time.monotonic() - began
            runner.join()
    assert 1.3 < elapsed < 2.5  # real-time pace: 15 epochs at 10 Hz
    msgs = valid_lines(received)
    rmc = [m for m in msgs if m.sentence_type == "RMC"]
    assert len(rmc) == 15 and rx.epochs == 15 and rx.dropped_epochs == 0
    stamps = [datetime.combine(m.datestamp, m.timestamp) for m in rmc]
    assert all(b - a == timedelta(seconds=0.1) for a, b in itertools.pairwise(stamps))
    assert tee.read_bytes() == received
    written = [EpisodeLabel.from_json(line) for line in labels.read_text().splitlines()]
    assert [lb.kind for lb in written] == ["harsh_braking"]
    assert written == sim.labels


def test_a_pty_nobody_reads_never_blocks_and_drops_whole_epochs(cfg: CitytrackConfig) -> None:
    sim = make_sim(cfg, dropout_prob=0.0)
    epochs = [data for _, data in iter_nmea(sim, 400)]
    with PtyGpsReceiver(sim) as rx:
        began = time.monotonic()
        accepted = [rx.write_epoch(data) for data in epochs]
        assert time.monotonic() - began < 2.0
        assert rx.dropped_epochs == accepted.count(False) > 0
        assert rx.written_bytes < sum(map(len, epochs))
        # read what is buffered (a raw read: pyserial would flush the backlog on open)
        fd = os.open(rx.port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            backlog = read_bytes(fd, rx.written_bytes)  # nobody read: all is still there
            assert rx.write_epoch(epochs[-1])  # finishes the cut epoch first, then this one
            backlog += read_bytes(fd, rx.written_bytes - len(backlog))
        finally:
            os.close(fd)
    msgs = valid_lines(backlog)
    assert len(msgs) > 20
    assert backlog.endswith(epochs[-1])


def read_bytes(fd: int, n: int, timeout_s: float = 5.0) -> bytes:
    """``n`` bytes from a non-blocking ``fd``, each chunk awaited as the pty passes it on
    (fewer only after ``timeout_s``)."""
    out = b""
    deadline = time.monotonic() + timeout_s
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        out += os.read(fd, n - len(out))
    return out


def test_runner_writes_an_unpaced_file_and_labels(tmp_path: Path) -> None:
    out, labels = tmp_path / "truck-02.nmea", tmp_path / "labels.jsonl"
    began = time.monotonic()
    run_gps(
        cfg=load_config(CONFIG_PATH),
        truck_id="truck-02",
        pty=False,
        out=out,
        rate_hz=10.0,
        seed=3,
        duration_s=40.0,
        labels=labels,
        talker="GN",
    )
    assert time.monotonic() - began < 10.0  # 40 s of driving, written as fast as possible
    msgs = valid_lines(out.read_bytes())
    rmc = [m for m in msgs if m.sentence_type == "RMC"]
    assert 380 <= len(rmc) <= 400
    assert {m.talker for m in msgs if m.sentence_type != "GSV"} == {"GN"}
    written = [EpisodeLabel.from_json(line) for line in labels.read_text().splitlines()]
    assert [(lb.device_id, lb.kind) for lb in written] == [("truck-02", "harsh_acceleration")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"truck_id": "truck-99"}, "no truck"),
        ({"talker": "XX"}, "talker"),
        ({"rate_hz": 50.0}, "rate"),
    ],
)
def test_runner_refuses_unusable_requests(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "cfg": load_config(CONFIG_PATH),
        "truck_id": "truck-01",
        "pty": False,
        "out": tmp_path / "x.nmea",
        "rate_hz": 1.0,
        "seed": 1,
        "duration_s": 1.0,
        "labels": None,
        "talker": "GP",
    }
    args.update(kwargs)
    with pytest.raises(SimRequestError, match=message):
        run_gps(**args)  # type: ignore[arg-type]
    assert not (tmp_path / "x.nmea").exists()  # refused before writing anything


def test_command_pty_announces_the_port_and_stops_cleanly_on_sigterm() -> None:
    command = [CITYTRACK, "sim", "gps", "--pty", "--truck", "truck-05", "--rate", "10"]
    command += ["--config", str(CONFIG_PATH)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline().split()
            assert first[0] == "PTY" and first[1].startswith("/dev/")
            with serial.Serial(first[1], 9600, timeout=2.0) as port:
                port.readline()  # the first line may start mid-sentence
                lines = [port.readline().decode("ascii") for _ in range(20)]
            assert all(pynmea2.parse(line.strip(), check=True) for line in lines)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_command_refuses_options_that_do_not_fit(tmp_path: Path) -> None:
    runner = CliRunner()
    nowhere = runner.invoke(app, ["sim", "gps"])
    assert (nowhere.exit_code, nowhere.stderr) == (2, "citytrack: give --pty or --out FILE\n")
    imu = runner.invoke(app, ["sim", "gps", "--out", str(tmp_path / "x.nmea"), "--imu-rate", "50"])
    assert imu.exit_code == 2
    assert imu.stderr == "citytrack: --imu-rate without --pty needs --imu-out FILE\n"
    talker = runner.invoke(app, ["sim", "gps", "--out", str(tmp_path / "x.nmea"), "--talker", "XX"])
    assert talker.exit_code == 2 and talker.stderr.startswith("citytrack: talker must be one of")
    assert not (tmp_path / "x.nmea").exists()
