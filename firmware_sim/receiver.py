"""The simulated receiver's shells: NMEA bytes on a pty in real time, or as fast as you like.

``PtyGpsReceiver`` opens a pseudo-terminal (as gpsd's ``FakePTY`` does), puts it in raw mode
(no echo, no CR/LF translation), and writes each epoch's sentences to the master side at
the epoch's pace; the vehicle agent opens ``.port`` (the slave, e.g. ``/dev/pts/7``) with
pyserial as it would a USB receiver.

Flow control: writes to the pty master are non-blocking, so a reader that is slow or absent
never stalls the simulator (a pty buffers only a few KB). An epoch that does not fit is
kept and finished first at the next epoch; the next epoch is dropped whole if the previous
one has still not gone out. The reader therefore never sees a cut sentence, only missing
epochs, like a receiver whose serial buffer overflowed; ``dropped_epochs`` counts them.
Whatever the reader writes to the port (configuration commands) is read and discarded.
While nobody reads, the pty keeps a few KB of old output; pyserial discards that when it
opens the port, so a late reader starts with current epochs (its first line may be cut).

``iter_nmea`` is the unpaced generator for tests, benchmarks and files.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from firmware_sim.gps import TruckSimulator, TruthEpoch
from firmware_sim.labels import EpisodeLabel
from firmware_sim.nmea_out import TALKERS, format_epoch

log = logging.getLogger(__name__)


def iter_nmea(
    sim: TruckSimulator, n_epochs: int, *, talker: str = "GP"
) -> Iterator[tuple[TruthEpoch, bytes]]:
    """The next ``n_epochs`` epochs as (truth, NMEA bytes), unpaced; b"" for a lost epoch.

    Raises:
        ValueError: a talker other than those of ``nmea_out.TALKERS``.
    """
    if talker not in TALKERS:
        raise ValueError(f"talker must be one of {TALKERS}, got {talker!r}")
    for _ in range(n_epochs):
        epoch = sim.step()
        data = b"" if epoch.report is None else format_epoch(epoch.report, talker)
        yield epoch.truth, data


def epochs_in(duration_s: float | None, rate_hz: float) -> int | None:
    """Epochs in ``duration_s`` seconds at ``rate_hz`` (None = no end)."""
    if duration_s is None:
        return None
    return max(0, math.ceil(duration_s * rate_hz - 1e-9))


class LabelWriter:
    """Appends ground-truth labels to a JSON-lines file, one flushed line each.

    Appending lets several simulators share one file (each line is one small write).
    """

    def __init__(self, path: Path | None) -> None:
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def write(self, label: EpisodeLabel) -> None:
        log.info(
            "episode %s %s %s..%s peak %.2f",
            label.device_id,
            label.kind,
            label.start.time(),
            label.end.time(),
            label.peak_value,
        )
        if self._file is not None:
            self._file.write(label.to_json() + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def run_paced(
    sim: TruckSimulator,
    write: Callable[[bytes], None],
    stop: threading.Event,
    *,
    duration_s: float | None,
    talker: str,
    labels: LabelWriter,
    after_epoch: Callable[[], None] | None = None,
) -> int:
    """Write epochs at real-time pace until ``duration_s`` or ``stop``; returns epochs run.

    Epoch ``k`` is written ``k / rate_hz`` seconds after the call (monotonic clock); a late
    epoch is written at once, and the schedule is kept rather than shifted.
    ``after_epoch`` is called after each epoch's write, also for a lost epoch (an IMU
    writes its samples of the interval there).
    """
    n = epochs_in(duration_s, sim.rate_hz)
    t0 = time.monotonic()
    k = 0
    for _, data in iter_nmea(sim, n if n is not None else 2**62, talker=talker):
        delay = t0 + k / sim.rate_hz - time.monotonic()
        if (delay > 0 and stop.wait(delay)) or stop.is_set():
            break
        if data:
            write(data)
        if after_epoch is not None:
            after_epoch()
        for label in sim.pop_labels():
            labels.write(label)
        k += 1
    return k


class PtyGpsReceiver:
    """A simulated receiver on a fresh pty; ``run`` it in a thread, read ``port``."""

    def __init__(
        self,
        sim: TruckSimulator,
        *,
        talker: str = "GP",
        labels_path: Path | None = None,
        tee_path: Path | None = None,
    ) -> None:
        """Open the pty now, so ``port`` is known before ``run``.

        Raises:
            ValueError: a talker other than those of ``nmea_out.TALKERS``.
            OSError: no pty could be opened.
        """
        if talker not in TALKERS:
            raise ValueError(f"talker must be one of {TALKERS}, got {talker!r}")
        self.sim = sim
        self.talker = talker
        self.labels_path = labels_path
        self.tee_path = tee_path
        self._master, self._slave = os.openpty()
        # The slave stays open here too: the port keeps its raw settings and does not hang
        # up when the reader closes and reopens it.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._pending = b""
        self.written_bytes = 0
        self.dropped_epochs = 0
        self.epochs = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pty (both sides); the reader then sees end of file or an error."""
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def run(
        self,
        stop: threading.Event,
        duration_s: float | None = None,
        *,
        after_epoch: Callable[[], None] | None = None,
    ) -> None:
        """Write epochs at real-time pace until ``duration_s`` seconds or ``stop`` is set.

        Labels go to ``labels_path`` as episodes complete; every epoch's bytes also go to
        ``tee_path`` (the receiver's whole output, whether the reader kept up or not).
        ``after_epoch`` is called after each epoch (see ``run_paced``).

        Raises:
            ValueError: the receiver was closed.
        """
        if self._master < 0:
            raise ValueError("receiver is closed")
        labels = LabelWriter(self.labels_path)
        tee = self.tee_path.open("wb") if self.tee_path is not None else None

        def write(data: bytes) -> None:
            self.write_epoch(data)
            if tee is not None:
                tee.write(data)
                tee.flush()

        try:
            self.epochs += run_paced(
                self.sim,
                write,
                stop,
                duration_s=duration_s,
                talker=self.talker,
                labels=labels,
                after_epoch=after_epoch,
            )
        finally:
            labels.close()
            if tee is not None:
                tee.close()
        log.info(
            "%s on %s: %d epochs, %d bytes, %d dropped",
            self.sim.device_id,
            self.port,
            self.epochs,
            self.written_bytes,
            self.dropped_epochs,
        )

    def write_epoch(self, data: bytes) -> bool:
        """Queue one epoch on the pty without blocking; False when it had to be dropped."""
        self._drain_input()
        self._flush()
        if self._pending:
            self.dropped_epochs += 1
            return False
        self._pending = data
        self._flush()
        return True

    def _flush(self) -> None:
        while self._pending:
            try:
                n = os.write(self._master, self._pending)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno != errno.EIO:  # EIO: no slave side at the moment
                    raise
                self._pending = b""
                self.dropped_epochs += 1
                return
            self.written_bytes += n
            self._pending = self._pending[n:]

    def _drain_input(self) -> None:
        """Discard what the reader wrote to the port, so its writes never block."""
        while True:
            try:
                if not os.read(self._master, 4096):
                    return
            except (BlockingIOError, OSError):
                return
