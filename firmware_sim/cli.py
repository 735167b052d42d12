"""Entry point of ``citytrack sim gps``: one truck's GPS receiver, on a pty or into a file.

Modes:

- ``pty=True``: open a pty, print ``PTY <slave path>`` as the first line of stdout (flushed,
  for a parent process to read), and write NMEA at real-time pace until ``duration_s`` or
  SIGINT/SIGTERM. ``out``, when given, receives a copy of every byte (a log).
- ``pty=False``: write NMEA to ``out`` (stdout when None). With ``duration_s`` the file is
  written unpaced, as fast as possible, covering ``duration_s`` seconds of simulated time
  (a test or benchmark input); without it, at real-time pace until SIGINT/SIGTERM.

Ground-truth labels are appended to ``labels`` (JSON lines) as episodes complete.
Returns 0 on success, also when stopped by a signal; 2 for an unusable request (unknown
truck, impossible episode, bad rate or talker), with one line on stderr.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from citytrack.config import load_config
from firmware_sim.gps import TruckSimulator
from firmware_sim.nmea_out import TALKERS
from firmware_sim.receiver import LabelWriter, PtyGpsReceiver, epochs_in, iter_nmea, run_paced
from firmware_sim.scripts import ScenarioError

log = logging.getLogger(__name__)

MAX_RATE_HZ = 10.0


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (main thread only; elsewhere signals stay as they are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _error(message: str) -> int:
    print(f"citytrack sim gps: {message}", file=sys.stderr, flush=True)
    return 2


def gps_main(
    *,
    config_path: Path | None,
    truck_id: str,
    pty: bool,
    out: Path | None,
    rate_hz: float | None,
    seed: int,
    duration_s: float | None,
    labels: Path | None,
    talker: str = "GP",
) -> int:
    """Run one truck's simulated receiver (see the module docstring); returns the exit code.

    Raises:
        ConfigError: the configuration file cannot be used.
    """
    cfg = load_config(config_path)
    truck = cfg.city.truck(truck_id)
    if truck is None:
        known = ", ".join(t.device_id for t in cfg.city.trucks)
        return _error(f"no truck {truck_id!r} in the configuration (trucks: {known})")
    if talker not in TALKERS:
        return _error(f"talker must be one of {', '.join(TALKERS)}, not {talker!r}")
    if rate_hz is not None and not 0 < rate_hz <= MAX_RATE_HZ:
        return _error(f"rate must be in (0, {MAX_RATE_HZ:g}] epochs per second, not {rate_hz}")
    start = datetime.now(UTC).replace(microsecond=0)
    try:
        sim = TruckSimulator(truck, cfg.city, cfg.sim, seed=seed, start_time=start, rate_hz=rate_hz)
    except ScenarioError as exc:
        return _error(str(exc))
    stop = threading.Event()
    with _stop_on_signals(stop):
        if pty:
            _run_pty(sim, stop, out=out, duration_s=duration_s, labels=labels, talker=talker)
        elif out is None:
            _run_stream(sim, sys.stdout.buffer, stop, duration_s, labels, talker)
        else:
            with out.open("wb") as f:
                _run_stream(sim, f, stop, duration_s, labels, talker)
    return 0


def _run_pty(
    sim: TruckSimulator,
    stop: threading.Event,
    *,
    out: Path | None,
    duration_s: float | None,
    labels: Path | None,
    talker: str,
) -> None:
    with PtyGpsReceiver(sim, talker=talker, labels_path=labels, tee_path=out) as receiver:
        print(f"PTY {receiver.port}", flush=True)
        receiver.run(stop, duration_s)


def _run_stream(
    sim: TruckSimulator,
    f: BinaryIO,
    stop: threading.Event,
    duration_s: float | None,
    labels_path: Path | None,
    talker: str,
) -> None:
    """Unpaced when ``duration_s`` is given, else real-time until ``stop``."""
    labels = LabelWriter(labels_path)

    def write(data: bytes) -> None:
        f.write(data)
        f.flush()

    try:
        n = epochs_in(duration_s, sim.rate_hz)
        if n is None:
            run_paced(sim, write, stop, duration_s=None, talker=talker, labels=labels)
            return
        for _, data in iter_nmea(sim, n, talker=talker):
            if stop.is_set():
                break
            f.write(data)
            for label in sim.pop_labels():
                labels.write(label)
    except BrokenPipeError:
        log.info("output closed by the reader")
    finally:
        labels.close()
