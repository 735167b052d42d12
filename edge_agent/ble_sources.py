"""Where a station's BLE advertisements come from: a real scanner (bleak) or a simulation.

Size: the bleak shell with its error classification and watchdog, and the simulated
source behind the same interface; they are kept together so the interface has one home.

Thin shells behind one interface, :class:`BleSource`: ``start()``, then ``read(timeout_s)``
returns the :class:`BleRecord` s heard since the last call (``[]`` when none arrived within
``timeout_s`` seconds), ``counters()`` says how the scanner fares, ``close()`` stops it.
``read`` never raises: a scanner that fails is the source's business, not the agent's.

- :class:`BleakSource` scans with bleak (BlueZ on Linux) in a thread of its own, passive
  where BlueZ allows it, and keeps scanning through everything a roadside box meets: no
  D-Bus yet at boot, bluetoothd restarting, an adapter unplugged or powered off, "operation
  already in progress", a scan that silently stops delivering. Each failure is one log line
  with the reason and the next retry; retries back off exponentially with jitter, capped.
- :class:`SimulatedBleSource` plays records from an iterable (the beacon simulator) or
  from ``put()``, as fast as the agent takes them or paced in real time.

Record times are the station's clock at reception (UTC); a simulation must keep its records
on the time line of the agent's clock, since the agent closes silent visits with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern, OrPatternLike
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError

from citytrack import wire
from citytrack.ble.adstructs import AdFields
from citytrack.retry import Backoff

log = logging.getLogger(__name__)

ScanningMode = Literal["passive", "active"]

BEACON_OR_PATTERNS: tuple[OrPattern, ...] = (
    # iBeacon: Apple's company id (0x004C, little-endian), type 0x02, length 0x15
    OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\x4c\x00\x02\x15"),
    # AltBeacon: any company id, then the 0xBEAC beacon code
    OrPattern(2, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\xbe\xac"),
    # Eddystone: service data for the 16-bit UUID 0xFEAA (little-endian)
    OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xaa\xfe"),
)
"""What passive scanning asks BlueZ to pass on (org.bluez.AdvertisementMonitor1 patterns)."""


class BleRecord(NamedTuple):
    """One advertisement as heard: station time (UTC), the sender's BLE address, RSSI
    (dBm) and the advertisement's decoded AD fields."""

    time: datetime
    address: str
    rssi_dbm: float
    fields: AdFields


@runtime_checkable
class BleSource(Protocol):
    """Where a station's advertisements come from."""

    def start(self) -> None:
        """Begin listening (returns at once; a scanner that cannot start keeps retrying)."""
        ...

    def read(self, timeout_s: float) -> list[BleRecord]:
        """Records heard since the last call, oldest first; [] if none within timeout_s s."""
        ...

    def counters(self) -> dict[str, int]:
        """``scanner_restarts`` and ``scanner_errors``, monotonic."""
        ...

    def close(self) -> None:
        """Stop listening and release the adapter."""
        ...


@dataclass(frozen=True)
class ScanFailure:
    """Why a scan could not start, in words for the log, and what to do about it.

    ``action``: ``retry`` after a backoff, or ``fall_back`` to active scanning at once
    (BlueZ refused passive scanning).
    """

    reason: str
    action: Literal["retry", "fall_back"] = "retry"


_PASSIVE_REFUSED = ("org.bluez.Error.NotSupported", "org.freedesktop.DBus.Error.UnknownMethod")


def classify_scan_error(exc: BaseException, mode: ScanningMode) -> ScanFailure:
    """Turn what bleak raised when a scan was started into a :class:`ScanFailure`."""
    if isinstance(exc, TimeoutError):  # an OSError too
        return ScanFailure("BlueZ did not answer in time")
    if isinstance(exc, OSError):  # bleak lets the socket error through: FileNotFoundError
        bus = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/dbus/system_bus_socket")
        return ScanFailure(f"no D-Bus system bus at {bus} (is dbus running?): {exc!r}")
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return ScanFailure(f"no usable Bluetooth adapter ({exc.reason.name.lower()}): {exc}")
    if isinstance(exc, BleakDBusError):
        return _classify_dbus(exc, mode)
    if isinstance(exc, BleakError) and mode == "passive" and "passive" in str(exc):
        return ScanFailure(f"BlueZ refused passive scanning: {exc}", "fall_back")
    if isinstance(exc, BleakError):
        return ScanFailure(f"bleak: {exc}")
    return ScanFailure(f"unexpected {type(exc).__name__}: {exc}")


def _classify_dbus(exc: BleakDBusError, mode: ScanningMode) -> ScanFailure:
    name = exc.dbus_error
    if name in ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NoReply"):
        return ScanFailure(f"BlueZ (bluetoothd) is not running: {exc}")
    if name == "org.bluez.Error.InProgress" or "in progress" in str(exc).lower():
        return ScanFailure(f"another scan is in progress on the adapter: {exc}")
    if name == "org.bluez.Error.NotReady":
        return ScanFailure(f"the adapter is not ready (powered off?): {exc}")
    if mode == "passive" and name in _PASSIVE_REFUSED:
        return ScanFailure(f"BlueZ refused passive scanning: {exc}", "fall_back")
    return ScanFailure(f"BlueZ: {exc}")


def ad_fields(adv: AdvertisementData) -> AdFields:
    """bleak's advertisement data as codec input (service-data UUIDs lower-cased)."""
    return AdFields(
        manufacturer_data=dict(adv.manufacturer_data),
        service_data={uuid.lower(): bytes(data) for uuid, data in adv.service_data.items()},
        service_uuids=tuple(u.lower() for u in adv.service_uuids),
        local_name=adv.local_name,
        tx_power_dbm=adv.tx_power,
    )


class BleakSource:
    """A BLE scanner (bleak) that never gives up; see the module docstring.

    ``adapter``: "hci0" etc., None for BlueZ's default. ``silence_watchdog_s``: restart the
    scan after this long without an advertisement, s. Backoff after a failed start:
    ``backoff_initial_s`` doubling per failure up to ``backoff_max_s``, plus up to 25 %
    jitter, never above ``backoff_max_s``. ``backend`` is bleak's scanner backend override.
    """

    def __init__(
        self,
        adapter: str | None = None,
        *,
        silence_watchdog_s: float = 300.0,
        scanning_mode: ScanningMode = "passive",
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        start_timeout_s: float = 30.0,
        max_queued: int = 10_000,
        clock: Callable[[], datetime] = wire.utcnow,
        rng: random.Random | None = None,
        backend: type[BaseBleakScanner] | None = None,
    ) -> None:
        self.adapter = adapter
        self.silence_watchdog_s = silence_watchdog_s
        self.scanning_mode: ScanningMode = scanning_mode
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.start_timeout_s = start_timeout_s
        self.clock = clock
        self.backend = backend
        self.restarts = 0  # scans restarted by the silence watchdog
        self.errors = 0  # failed scan starts and stops
        self.starts = 0  # scans started
        self.dropped = 0  # records lost because nobody read them
        self.retry_delays_s: deque[float] = deque(maxlen=32)  # the latest backoff delays
        self._rng = rng or random.Random()
        self._retry = Backoff(backoff_initial_s, backoff_max_s, rng=self._rng)
        self._records: queue.Queue[BleRecord] = queue.Queue(max_queued)
        self._last_heard = time.monotonic()
        self._closing = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._where = f"adapter {adapter}" if adapter else "the default adapter"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def counters(self) -> dict[str, int]:
        return {"scanner_restarts": self.restarts, "scanner_errors": self.errors}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ble-scanner", daemon=True)
        self._thread.start()

    def read(self, timeout_s: float) -> list[BleRecord]:
        try:
            out = [self._records.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while len(out) < 1000:
                out.append(self._records.get_nowait())
        return out

    def close(self, timeout_s: float = 15.0) -> None:
        """Stop scanning; waits up to ``timeout_s`` s for the scanner thread to end."""
        self._closing.set()
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout_s)

    # scanner thread

    def _run(self) -> None:
        try:
            asyncio.run(self._supervise())
        except Exception:  # the supervisor catches everything; this is the last guard
            log.exception("BLE scanner thread failed")

    async def _supervise(self) -> None:
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        if self._closing.is_set():
            return
        mode, failures = self.scanning_mode, 0
        while not self._stopping.is_set():
            try:
                scanner = BleakScanner(
                    self._on_advertisement,
                    scanning_mode=mode,
                    bluez=self._bluez_args(mode),
                    backend=self.backend,
                )
                await asyncio.wait_for(scanner.start(), self.start_timeout_s)
            except Exception as exc:
                failures, mode = await self._failed(exc, mode, failures)
                continue
            failures = 0
            await self._scan(scanner, mode)

    def _bluez_args(self, mode: ScanningMode) -> BlueZScannerArgs:
        args: BlueZScannerArgs = {"adapter": self.adapter} if self.adapter else {}
        if mode == "passive":
            patterns: list[OrPatternLike] = list(BEACON_OR_PATTERNS)
            args["or_patterns"] = patterns
        return args

    async def _failed(
        self, exc: Exception, mode: ScanningMode, failures: int
    ) -> tuple[int, ScanningMode]:
        """Log and count a failed start; back off. Returns (failures so far, next mode)."""
        self.errors += 1
        failure = classify_scan_error(exc, mode)
        if failure.action == "fall_back":
            log.warning("%s; scanning actively on %s instead", failure.reason, self._where)
            return failures, "active"
        failures += 1
        delay = self._backoff(failures)
        self.retry_delays_s.append(delay)
        msg = "BLE scan on %s could not start: %s; retry %d in %.2f s"
        log.warning(msg, self._where, failure.reason, failures, delay)
        await self._sleep(delay)
        return failures, mode

    def _backoff(self, failures: int) -> float:
        """Delay before retry number ``failures`` (1, 2, ...), s."""
        return self._retry.delay(failures)

    async def _sleep(self, delay_s: float) -> None:
        """Sleep ``delay_s`` s, or less if the source is closed meanwhile."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay_s)

    async def _scan(self, scanner: BleakScanner, mode: ScanningMode) -> None:
        """Run one started scan until the source closes or the scan goes silent."""
        assert self._stopping is not None
        self.starts += 1
        self._last_heard = time.monotonic()
        log.info("BLE scan (%s) running on %s", mode, self._where)
        try:
            while not self._stopping.is_set():
                silent_s = time.monotonic() - self._last_heard
                if silent_s >= self.silence_watchdog_s:
                    self.restarts += 1
                    msg = "no advertisement on %s for %.0f s; restarting the scan"
                    log.warning(msg, self._where, silent_s)
                    return
                await self._sleep(min(1.0, self.silence_watchdog_s - silent_s))
        finally:
            await self._stop_scanner(scanner)

    async def _stop_scanner(self, scanner: BleakScanner) -> None:
        try:
            await asyncio.wait_for(scanner.stop(), self.start_timeout_s)
        except Exception as exc:  # the scan may already be gone with bluetoothd
            self.errors += 1
            log.warning("BLE scan on %s did not stop cleanly: %r", self._where, exc)

    def _on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        self._last_heard = time.monotonic()
        record = BleRecord(self.clock(), device.address, float(adv.rssi), ad_fields(adv))
        try:
            self._records.put_nowait(record)
        except queue.Full:
            self.dropped += 1


SimulatorRecord = tuple[datetime, str, str, float, AdFields]
"""What the beacon simulator produces: (time, station_id, address, rssi_dbm, fields)."""


class SimulatedBleSource:
    """Records from an iterable (consumed lazily) and then from ``put()``.

    ``realtime``: release each record when as much time has passed since the first one as
    separates their ``time`` s (divided by ``speed``); otherwise as fast as read. Never
    fails: its scanner counters stay 0.
    """

    def __init__(
        self,
        records: Iterable[BleRecord] = (),
        *,
        realtime: bool = False,
        speed: float = 1.0,
        batch: int = 1000,
    ) -> None:
        self.realtime = realtime
        self.speed = speed
        self.batch = batch
        self.released = 0
        self._iter: Iterator[BleRecord] = iter(records)
        self._live: queue.Queue[BleRecord] = queue.Queue()
        self._next: BleRecord | None = None
        self._anchor: tuple[datetime, float] | None = None  # (record time, monotonic s)
        self._closed = threading.Event()

    @classmethod
    def for_station(
        cls,
        records: Iterable[SimulatorRecord],
        station_id: str,
        *,
        realtime: bool = False,
        speed: float = 1.0,
    ) -> SimulatedBleSource:
        """The simulator's records that ``station_id`` hears."""
        mine = (BleRecord(t, a, r, f) for t, s, a, r, f in records if s == station_id)
        return cls(mine, realtime=realtime, speed=speed)

    def put(self, record: BleRecord) -> None:
        """Add a record after those of the iterable (thread-safe)."""
        self._live.put(record)

    def start(self) -> None:
        """Nothing to start: records are released as they are read."""

    def counters(self) -> dict[str, int]:
        return {"scanner_restarts": 0, "scanner_errors": 0}

    def close(self) -> None:
        self._closed.set()

    def read(self, timeout_s: float) -> list[BleRecord]:
        deadline = time.monotonic() + timeout_s
        out: list[BleRecord] = []
        while len(out) < self.batch and not self._closed.is_set():
            record = self._peek(0.0 if out else timeout_s)
            if record is None:
                break
            wait_s = self._due(record) - time.monotonic()
            if wait_s > 0 and out:
                break
            if wait_s > deadline - time.monotonic():
                self._closed.wait(max(0.0, deadline - time.monotonic()))
                break
            if wait_s > 0:
                self._closed.wait(wait_s)
            out.append(record)
            self._next = None
        self.released += len(out)
        return out

    def _peek(self, timeout_s: float) -> BleRecord | None:
        """The next record without taking it; waits up to ``timeout_s`` s for a put()."""
        if self._next is None:
            self._next = next(self._iter, None)
        if self._next is None:
            try:
                self._next = (
                    self._live.get(timeout=timeout_s) if timeout_s > 0 else self._live.get_nowait()
                )
            except queue.Empty:
                return None
        return self._next

    def _due(self, record: BleRecord) -> float:
        """Monotonic time (s) at which ``record`` may be released."""
        if not self.realtime:
            return 0.0
        if self._anchor is None:
            self._anchor = (record.time, time.monotonic())
        first_time, first_mono = self._anchor
        return first_mono + (record.time - first_time).total_seconds() / self.speed
