"""One truck's simulated GPS receiver, on a pty or into a file: what ``citytrack sim gps`` runs.

Modes of :func:`run_gps`:

- ``pty=True``: open a pty, hand ``PTY <slave path>`` to ``announce`` (the command prints
  it as the first line of stdout, for a parent process to read), and write NMEA at
  real-time pace until ``duration_s`` or SIGINT/SIGTERM. ``out``, when given, receives a
  copy of every byte (a log).
- ``pty=False``: write NMEA to the file ``out``. With ``duration_s`` the file
  is written unpaced, as fast as possible, covering ``duration_s`` seconds of simulated
  time (a test or benchmark input); without it, at real-time pace until SIGINT/SIGTERM.

With ``imu_rate_hz`` the truck also carries an accelerometer (``firmware_sim.accelerometer``, its
``$PCTIM`` line protocol): in pty mode on a second pty, announced as ``IMU <slave path>``
(``imu_out``, when given, gets a copy), otherwise into ``imu_out``. The samples of each
epoch's interval are written right after that epoch's NMEA. An accelerometer feels every
turn, so with it the truck turns along arcs at its corners
(``firmware_sim.corners.RoundedRoute``) instead of on the spot.

Ground-truth labels are appended to ``labels`` (JSON lines) as episodes complete.
Returns when done, also when stopped by a signal; raises :class:`SimRequestError` (or
``ScenarioError``) for an unusable request (unknown truck, impossible episode, bad rate or
talker) before writing anything.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from citytrack.config import CitytrackConfig
from citytrack.errors import InvalidInputError
from firmware_sim.accelerometer import MAX_RATE_HZ as IMU_MAX_HZ
from firmware_sim.accelerometer import MIN_RATE_HZ as IMU_MIN_HZ
from firmware_sim.accelerometer import ImuSimulator, format_samples
from firmware_sim.corners import RoundedRoute
from firmware_sim.gps import TruckSimulator
from firmware_sim.nmea_out import TALKERS
from firmware_sim.receiver import LabelWriter, PtyGpsReceiver, epochs_in, iter_nmea, run_paced

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


class SimRequestError(InvalidInputError):
    """A simulator run that cannot be done as asked (truck, talker, rates, outputs)."""


def _no_announce(line: str) -> None:
    """The default ``announce``: the pty paths are not told to anyone."""


def run_gps(
    *,
    cfg: CitytrackConfig,
    truck_id: str,
    pty: bool,
    out: Path | None,
    rate_hz: float | None,
    seed: int,
    duration_s: float | None,
    labels: Path | None,
    talker: str = "GP",
    imu_rate_hz: float | None = None,
    imu_out: Path | None = None,
    announce: Callable[[str], None] = _no_announce,
) -> None:
    """Run one truck's simulated receiver (see the module docstring).

    ``announce`` is called with ``PTY <path>`` (and ``IMU <path>``) in pty mode.

    Raises:
        SimRequestError: an unknown truck or talker, a rate out of range, an IMU with
            nowhere to write, or no file for the NMEA without a pty.
        ScenarioError: the truck's scripted episodes cannot be driven.
    """
    truck = cfg.city.truck(truck_id)
    if truck is None:
        known = ", ".join(t.device_id for t in cfg.city.trucks)
        raise SimRequestError(f"no truck {truck_id!r} in the configuration (trucks: {known})")
    if talker not in TALKERS:
        raise SimRequestError(f"talker must be one of {', '.join(TALKERS)}, not {talker!r}")
    if rate_hz is not None and not 0 < rate_hz <= MAX_RATE_HZ:
        raise SimRequestError(
            f"rate must be in (0, {MAX_RATE_HZ:g}] epochs per second, not {rate_hz}"
        )
    if imu_rate_hz is not None and not IMU_MIN_HZ <= imu_rate_hz <= IMU_MAX_HZ:
        raise SimRequestError(
            f"IMU rate must be in [{IMU_MIN_HZ:g}, {IMU_MAX_HZ:g}] Hz, not {imu_rate_hz}"
        )
    if imu_rate_hz is not None and not pty and imu_out is None:
        raise SimRequestError("an IMU without a pty needs an output file")
    if not pty and out is None:
        raise SimRequestError("without a pty the NMEA needs an output file")
    start = datetime.now(UTC).replace(microsecond=0)
    geometry = RoundedRoute if imu_rate_hz is not None else None
    sim = TruckSimulator(
        truck, cfg.city, cfg.sim, seed=seed, start_time=start, rate_hz=rate_hz, geometry=geometry
    )
    imu = ImuSimulator(sim, imu_rate_hz, seed=seed) if imu_rate_hz is not None else None
    stop = threading.Event()
    with _stop_on_signals(stop), ExitStack() as files:
        imu_file = files.enter_context(imu_out.open("wb")) if imu_out is not None else None
        if pty:
            _run_pty(
                sim,
                stop,
                announce,
                out=out,
                duration_s=duration_s,
                labels=labels,
                talker=talker,
                imu=imu,
                imu_file=imu_file,
            )
        elif out is not None:  # checked above: without a pty there is a file
            after = _imu_writer(imu, _file_sink(imu_file)) if imu and imu_file else None
            f = files.enter_context(out.open("wb"))
            _run_stream(sim, f, stop, duration_s, labels, talker, after)


def _imu_writer(imu: ImuSimulator, *sinks: Callable[[bytes], object]) -> Callable[[], None]:
    """What to do after each epoch: hand the IMU samples of its interval to ``sinks``."""

    def after_epoch() -> None:
        data = format_samples(*imu.collect())
        for sink in sinks:
            sink(data)

    return after_epoch


def _file_sink(f: BinaryIO) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        f.write(data)
        f.flush()

    return write


def _run_pty(
    sim: TruckSimulator,
    stop: threading.Event,
    announce: Callable[[str], None],
    *,
    out: Path | None,
    duration_s: float | None,
    labels: Path | None,
    talker: str,
    imu: ImuSimulator | None = None,
    imu_file: BinaryIO | None = None,
) -> None:
    with ExitStack() as stack:
        receiver = stack.enter_context(
            PtyGpsReceiver(sim, talker=talker, labels_path=labels, tee_path=out)
        )
        announce(f"PTY {receiver.port}")
        after: Callable[[], None] | None = None
        if imu is not None:
            # a second receiver used only for its non-blocking pty: its write_epoch drops a
            # whole interval rather than cut a line when the reader falls behind
            imu_pty = stack.enter_context(PtyGpsReceiver(sim))
            announce(f"IMU {imu_pty.port}")
            copies = [_file_sink(imu_file)] if imu_file is not None else []
            after = _imu_writer(imu, imu_pty.write_epoch, *copies)
        receiver.run(stop, duration_s, after_epoch=after)


def _run_stream(
    sim: TruckSimulator,
    f: BinaryIO,
    stop: threading.Event,
    duration_s: float | None,
    labels_path: Path | None,
    talker: str,
    after_epoch: Callable[[], None] | None = None,
) -> None:
    """Unpaced when ``duration_s`` is given, else real-time until ``stop``; ``after_epoch``
    runs after each epoch."""
    labels = LabelWriter(labels_path)

    def write(data: bytes) -> None:
        f.write(data)
        f.flush()

    try:
        n = epochs_in(duration_s, sim.rate_hz)
        if n is None:
            run_paced(
                sim,
                write,
                stop,
                duration_s=None,
                talker=talker,
                labels=labels,
                after_epoch=after_epoch,
            )
            return
        for _, data in iter_nmea(sim, n, talker=talker):
            if stop.is_set():
                break
            f.write(data)
            if after_epoch is not None:
                after_epoch()
            for label in sim.pop_labels():
                labels.write(label)
    except BrokenPipeError:
        log.info("output closed by the reader")
    finally:
        labels.close()
