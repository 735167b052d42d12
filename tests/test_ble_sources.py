"""BLE sources: the real bleak path on a machine without D-Bus (logs, backoff, clean stop),
bleak's scanner facade over an in-memory backend (passive fallback, "in progress",
watchdog), failure classification, and the simulated source."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)

from citytrack.ble.adstructs import AdFields
from edge_agent.ble_sources import (
    BEACON_OR_PATTERNS,
    BleakSource,
    BleRecord,
    BleSource,
    SimulatedBleSource,
    classify_scan_error,
)
from tests.waiting import wait_until

T0 = datetime(2026, 5, 11, 7, 30, tzinfo=UTC)
EDDYSTONE = "0000feaa-0000-1000-8000-00805f9b34fb"
IN_PROGRESS = BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"])
PASSIVE_REFUSED = BleakError(
    "passive scanning on Linux requires BlueZ >= 5.56 with --experimental enabled and "
    "Linux kernel >= 5.10"
)


# the real bleak path on this machine


def test_bleak_source_without_dbus_logs_backs_off_and_stops_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="edge_agent.ble_sources")
    source = BleakSource("hci0", backoff_initial_s=0.05, backoff_max_s=0.4)
    assert isinstance(source, BleSource)
    source.start()
    assert source.read(1.0) == []  # nothing heard; read waits, never raises
    wait_until(lambda: source.errors >= 4, 5, "four failed scanner starts")
    began = time.monotonic()
    source.close()
    assert time.monotonic() - began < 1.0  # close interrupts the backoff sleep
    assert not source.running

    failures = source.counters()["scanner_errors"]
    assert failures >= 4 and source.starts == 0
    delays = list(source.retry_delays_s)
    assert len(delays) == failures
    assert all(b >= a for a, b in itertools.pairwise(delays))  # grows ...
    assert delays[0] < 0.05 * 1.25 + 1e-9 and delays[-1] == pytest.approx(0.4)  # ... to the cap
    lines = [r.getMessage() for r in caplog.records if "could not start" in r.getMessage()]
    assert len(lines) == failures
    dbus_socket = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "/run/dbus/system_bus_socket")
    if not Path(dbus_socket.removeprefix("unix:path=")).exists():
        assert "no D-Bus system bus" in lines[0] and "is dbus running?" in lines[0]
    assert "adapter hci0" in lines[0] and re.search(r"retry 1 in 0\.0[56] s$", lines[0])


def test_close_before_the_scanner_thread_runs() -> None:
    source = BleakSource(backoff_initial_s=10.0)
    source.close()
    source.start()
    source._thread.join(5)  # type: ignore[union-attr]
    assert not source.running and source.errors == 0


# classification of what bleak raises


@pytest.mark.parametrize(
    ("exc", "mode", "words", "action"),
    [
        (FileNotFoundError(2, "No such file or directory"), "passive", "no D-Bus", "retry"),
        (ConnectionRefusedError(111, "refused"), "active", "no D-Bus", "retry"),
        (
            BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", ["org.bluez unknown"]),
            "active",
            "bluetoothd",
            "retry",
        ),
        (IN_PROGRESS, "active", "in progress", "retry"),
        (
            BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]),
            "active",
            "powered off",
            "retry",
        ),
        (
            BleakBluetoothNotAvailableError(
                "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
            ),
            "passive",
            "no usable Bluetooth adapter (no_bluetooth)",
            "retry",
        ),
        (PASSIVE_REFUSED, "passive", "refused passive", "fall_back"),
        (BleakDBusError("org.bluez.Error.NotSupported", []), "passive", "refused", "fall_back"),
        (BleakDBusError("org.bluez.Error.NotSupported", []), "active", "NotSupported", "retry"),
        (BleakError("adapter 'hci1' not found"), "active", "hci1", "retry"),
        (TimeoutError(), "active", "did not answer", "retry"),
        (RuntimeError("boom"), "active", "unexpected RuntimeError: boom", "retry"),
    ],
)
def test_scan_failures_are_classified(
    exc: BaseException, mode: Any, words: str, action: str
) -> None:
    failure = classify_scan_error(exc, mode)
    assert words in failure.reason
    assert failure.action == action


# bleak's BleakScanner over an in-memory backend (bleak's own backend= override)

Step = BaseException | Sequence[tuple[str, AdvertisementData]]


def twin_backend(script: list[Step], started: list[dict[str, Any]]) -> type[BaseBleakScanner]:
    """A bleak scanner backend playing ``script``: per start, raise or emit advertisements."""
    steps = iter(script)

    class TwinScanner(BaseBleakScanner):
        def __init__(
            self, detection_callback: Any, service_uuids: Any, scanning_mode: str, **kw: Any
        ) -> None:
            super().__init__(detection_callback, service_uuids)
            self.args = {"mode": scanning_mode, "bluez": kw.get("bluez", {})}
            self.task: asyncio.Task[None] | None = None

        async def start(self) -> None:
            started.append(self.args)
            step = next(steps, ())
            if isinstance(step, BaseException):
                raise step
            self.task = asyncio.create_task(self.emit(step))

        async def emit(self, advs: Sequence[tuple[str, AdvertisementData]]) -> None:
            for address, adv in advs:
                await asyncio.sleep(0.01)  # a radio hears advertisements one by one
                self.call_detection_callbacks(BLEDevice(address, None, None), adv)

        async def stop(self) -> None:
            if self.task is not None:
                self.task.cancel()

    return TwinScanner


def bleak_adv(rssi: int, *, tx: int | None = None) -> AdvertisementData:
    return AdvertisementData(
        local_name="tag",
        manufacturer_data={0x004C: b"\x02\x15" + bytes(16) + b"\x00\x01\x00\x02\xc5"},
        service_data={EDDYSTONE.upper(): b"\x20\x00\x0b\xb8\x16\x00" + bytes(8)},
        service_uuids=["0000FEAA-0000-1000-8000-00805F9B34FB"],
        tx_power=tx,
        rssi=rssi,
        platform_data=(),
    )  # fmt: skip


def read_all(source: BleakSource, count: int, timeout_s: float = 5.0) -> list[BleRecord]:
    out: list[BleRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < count and time.monotonic() < deadline:
        out += source.read(0.05)
    return out


def test_passive_refused_falls_back_to_active_and_records_flow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent.ble_sources")
    started: list[dict[str, Any]] = []
    advs = [("AA:BB:CC:DD:EE:01", bleak_adv(-60, tx=4)), ("AA:BB:CC:DD:EE:02", bleak_adv(-71))]
    backend = twin_backend([PASSIVE_REFUSED, advs], started)
    source = BleakSource("hci1", backend=backend, clock=lambda: T0, backoff_initial_s=5.0)
    source.start()
    try:
        records = read_all(source, 2)
    finally:
        source.close()
    assert started[0] == {
        "mode": "passive",
        "bluez": {"adapter": "hci1", "or_patterns": list(BEACON_OR_PATTERNS)},
    }
    assert started[1] == {"mode": "active", "bluez": {"adapter": "hci1"}}
    assert source.counters() == {"scanner_restarts": 0, "scanner_errors": 1}
    assert any("scanning actively on adapter hci1" in r.getMessage() for r in caplog.records)
    assert [(r.time, r.address, r.rssi_dbm) for r in records] == [
        (T0, "AA:BB:CC:DD:EE:01", -60.0),
        (T0, "AA:BB:CC:DD:EE:02", -71.0),
    ]
    fields = records[0].fields
    assert fields.manufacturer_data == {0x004C: advs[0][1].manufacturer_data[0x004C]}
    assert list(fields.service_data) == [EDDYSTONE]  # lower-cased for the codecs
    assert fields.service_uuids == (EDDYSTONE,)
    assert (fields.local_name, fields.tx_power_dbm) == ("tag", 4)


def test_operation_in_progress_is_waited_out() -> None:
    started: list[dict[str, Any]] = []
    advs = [("AA:BB:CC:DD:EE:01", bleak_adv(-60))]
    backend = twin_backend([IN_PROGRESS, IN_PROGRESS, advs], started)
    source = BleakSource(scanning_mode="active", backend=backend, backoff_initial_s=0.02)
    source.start()
    try:
        records = read_all(source, 1)
    finally:
        source.close()
    assert len(records) == 1 and len(started) == 3
    assert source.errors == 2 and source.starts == 1
    first, second = source.retry_delays_s
    assert 0.02 <= first <= 0.025 and 0.04 <= second <= 0.05


def test_silent_scan_is_restarted_by_the_watchdog(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="edge_agent.ble_sources")
    started: list[dict[str, Any]] = []
    burst = [("AA:BB:CC:DD:EE:01", bleak_adv(-60))] * 2
    backend = twin_backend([burst, burst], started)
    source = BleakSource(silence_watchdog_s=0.3, scanning_mode="active", backend=backend)
    source.start()
    try:
        records = read_all(source, 4)
        # the second burst went silent too
        wait_until(lambda: source.restarts >= 2, 5, "a second watchdog restart")
    finally:
        source.close()
    assert len(records) == 4
    assert source.starts >= 3 and source.errors == 0
    assert any("no advertisement on the default adapter" in r.getMessage() for r in caplog.records)


# the simulated source


def rec(t_s: float, address: str = "AA:BB:CC:DD:EE:01") -> BleRecord:
    return BleRecord(T0 + timedelta(seconds=t_s), address, -60.0, AdFields())


def test_simulated_source_as_fast_as_read() -> None:
    source = SimulatedBleSource([rec(t) for t in range(5)], batch=3)
    assert isinstance(source, BleSource)
    source.start()
    assert [r.time for r in source.read(1.0)] == [rec(t).time for t in range(3)]
    assert [r.time for r in source.read(1.0)] == [rec(t).time for t in (3, 4)]
    began = time.monotonic()
    assert source.read(0.1) == []
    assert time.monotonic() - began >= 0.09
    source.put(rec(9))
    assert source.read(0.1) == [rec(9)]
    assert source.released == 6 and source.counters()["scanner_errors"] == 0


def test_simulated_source_paced_in_real_time() -> None:
    source = SimulatedBleSource([rec(0), rec(0.2), rec(0.4)], realtime=True, speed=2.0)
    began = time.monotonic()
    got: list[tuple[BleRecord, float]] = []
    while len(got) < 3 and time.monotonic() - began < 3:
        got += [(r, time.monotonic() - began) for r in source.read(0.05)]
    assert [r for r, _ in got] == [rec(0), rec(0.2), rec(0.4)]
    offsets = [at for _, at in got]
    assert offsets[0] < 0.05
    assert offsets[1] == pytest.approx(0.1, abs=0.05)  # 0.2 s of record time at speed 2
    assert offsets[2] == pytest.approx(0.2, abs=0.05)


def test_simulated_source_for_one_station() -> None:
    sim = [
        (T0, "gate-1", "AA:BB:CC:DD:EE:01", -60.0, AdFields()),
        (T0, "gate-2", "AA:BB:CC:DD:EE:02", -61.0, AdFields()),
        (T0, "gate-1", "AA:BB:CC:DD:EE:03", -62.0, AdFields()),
    ]
    source = SimulatedBleSource.for_station(sim, "gate-1")
    assert [r.address for r in source.read(0.1)] == ["AA:BB:CC:DD:EE:01", "AA:BB:CC:DD:EE:03"]
