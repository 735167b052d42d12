"""The child-watch station agent: BLE advertisements -> passages -> outbox -> broker.

    BleSource (bleak / simulated) -> decode_fields (pure) -> Advertisement
      -> PassageDetector (pure) -> Visit -> Passage | Sighting -> Outbox -> OutboxPublisher

One reader thread owns the detector: it reads records, decodes their beacon frames, feeds
the id-bearing ones to the detector and, every ``tick_interval_s``, closes the visits of
beacons gone silent (time from the agent's clock, which must share the records' time
line). Each finished visit becomes one message in the outbox before anything is sent: a
``Passage`` from a fixed station, a ``Sighting`` (with the detector's own position at the
closest approach) from a mobile one. Eddystone-TLM telemetry heard from a BLE address is
attached to the next passage of a beacon that advertised from that address.

The heartbeat is the retained ``DeviceStatus`` with the agent's counters.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import ValidationError

from analytics.device.passages import (
    Advertisement,
    BeaconKey,
    LatLon,
    PassageDetector,
    PositionTrack,
    Visit,
)
from citytrack import wire
from citytrack.ble.frames import (
    AltBeacon,
    EddystoneEid,
    EddystoneTlm,
    EddystoneUid,
    IBeacon,
    decode_fields,
)
from citytrack.config.watch import PassageDetectorConfig
from citytrack.mqtt import BrokerAddress
from citytrack.retry import Backoff
from edge_agent.ble_sources import BleRecord, BleSource
from edge_agent.device import DeviceAgent
from edge_agent.nmea import NmeaFixDecoder
from edge_agent.outbox import Outbox
from edge_agent.sources import GpsdSource, SourceError

log = logging.getLogger(__name__)

IdFrame = IBeacon | AltBeacon | EddystoneUid | EddystoneEid
_ID_FRAMES = (IBeacon, AltBeacon, EddystoneUid, EddystoneEid)
COUNTERS = (
    "advertisements",  # records read from the source
    "beacon_frames",  # id-bearing frames (iBeacon, AltBeacon, Eddystone-UID/EID)
    "telemetry_frames",  # Eddystone-TLM frames
    "non_beacon",  # records with no beacon frame at all (phones, headphones, ...)
    "malformed_frames",  # beacon-like payloads that did not fit their format
    "passages",  # Passage messages queued in the outbox
    "sightings",  # Sighting messages queued in the outbox
    "no_position",  # visits of a mobile detector dropped for want of a position
    "invalid",  # visits that would break the contract (not sent)
    "agent_errors",  # reader failures (resumed after a backoff)
)
"""The agent's own counters, as published in its status (beside the publisher's and the
source's: published, outbox_depth, connects, scanner_restarts, scanner_errors)."""
MEMORY_S = 600.0
"""How long an address's telemetry and a beacon's last address are kept unheard, s."""


def _render(message: wire.Passage, seq: int) -> bytes:
    return wire.encode(message.model_copy(update={"seq": seq}))


def _tx_power(frame: IdFrame) -> int | None:
    """The frame's calibrated power (dBm) if the wire can carry it (-127..20)."""
    tx = frame.ref_rssi_dbm if isinstance(frame, AltBeacon) else frame.tx_power_dbm
    return tx if -127 <= tx <= 20 else None


class StationAgent(DeviceAgent):
    """One station's agent; ``start()`` runs it in background threads.

    Raises:
        ContractError: ``station_id`` is not a valid device id.
    """

    def __init__(
        self,
        station_id: str,
        source: BleSource,
        outbox: Outbox,
        address: BrokerAddress,
        cfg: PassageDetectorConfig,
        *,
        mobile_position: Callable[[], LatLon | None] | None = None,
        max_inflight: int = 200,
        status_interval_s: float = 10.0,
        tick_interval_s: float = 1.0,
        clock: Callable[[], datetime] = wire.utcnow,
        confirm_by: Literal["hub", "broker"] = "hub",
    ) -> None:
        super().__init__(
            station_id,
            wire.Role.STATION,
            outbox,
            address,
            max_inflight=max_inflight,
            status_interval_s=status_interval_s,
            clock=clock,
            confirm_by=confirm_by,
        )
        self.station_id = station_id
        self.source = source
        self.detector = PassageDetector(cfg)
        self.mobile_position = mobile_position
        self.positions = PositionTrack()
        self.tick_interval_s = tick_interval_s
        self.counts = dict.fromkeys(COUNTERS, 0)
        self._skipped: Counter[str] = Counter()  # beacon-like payloads that did not fit
        self._tlm: dict[str, tuple[datetime, EddystoneTlm]] = {}  # BLE address -> latest TLM
        self._address_of: dict[BeaconKey, tuple[str, datetime]] = {}  # beacon -> last address
        self._thread: threading.Thread | None = None
        kind = wire.Kind.SIGHTING if mobile_position else wire.Kind.PASSAGE
        self._topic = self.topic(kind)

    def own_counters(self) -> dict[str, int]:
        """The station's counts (``COUNTERS``) and its BLE source's."""
        return {**self.counts, **self.source.counters()}

    def start(self) -> None:
        self.publisher.start()
        self.source.start()
        self._thread = threading.Thread(
            target=self._read_loop, name=f"reader-{self.station_id}", daemon=True
        )
        self._thread.start()

    def stop(self, drain_timeout_s: float = 0.0) -> bool:
        """Stop listening, report the visits still open, optionally wait up to
        ``drain_timeout_s`` s for the outbox to drain. True if it drained."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.source.close()
        if self._thread is None or not self._thread.is_alive():
            self._queue(self.detector.flush())
        else:
            log.warning("%s: reader did not stop; open visits not reported", self.station_id)
        drained = self.publisher.wait_drained(drain_timeout_s) if drain_timeout_s else False
        self.publisher.stop()
        return drained

    # reader thread

    def _read_loop(self) -> None:
        backoff = Backoff()
        next_tick = time.monotonic() + self.tick_interval_s
        while not self._stop.is_set():
            try:
                for record in self.source.read(0.5):
                    self._handle(record)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.tick_interval_s
                    self._tick(self.clock())
            except Exception:  # a bug or a bad record must not end the station
                self.counts["agent_errors"] += 1
                delay = backoff.next_delay()
                log.exception("%s: reader failed; resuming in %.1f s", self.station_id, delay)
                self._stop.wait(delay)
                continue
            backoff.reset()

    def _handle(self, record: BleRecord) -> None:
        self.counts["advertisements"] += 1
        frames = decode_fields(record.fields, skipped=self._skipped)
        # a plain int for the status thread: it must not iterate a Counter being updated
        self.counts["malformed_frames"] = self._skipped.total()
        ids = [f for f in frames if isinstance(f, _ID_FRAMES)]
        tlms = [f for f in frames if isinstance(f, EddystoneTlm)]
        if tlms:
            self.counts["telemetry_frames"] += len(tlms)
            self._tlm[record.address] = (record.time, tlms[-1])
        if not ids and not tlms:
            self.counts["non_beacon"] += 1
        if ids and self.mobile_position is not None:
            self._sample_position(record.time)
        for frame in ids:
            self._feed(record, frame)

    def _feed(self, record: BleRecord, frame: IdFrame) -> None:
        self.counts["beacon_frames"] += 1
        adv = Advertisement(
            record.time, frame.beacon_kind, frame.beacon_id, record.rssi_dbm, _tx_power(frame)
        )
        self._address_of[adv.key] = (record.address, record.time)
        self._queue(self.detector.feed(adv))

    def _sample_position(self, when: datetime) -> None:
        last = self.positions.last_time()
        if last is not None and when - last < timedelta(seconds=1):
            return
        assert self.mobile_position is not None
        position = self.mobile_position()
        if position is not None:
            self.positions.add(when, position)

    def _tick(self, now: datetime) -> None:
        if self.mobile_position is not None:
            self._sample_position(now)
        self._queue(self.detector.tick(now))
        horizon = now - timedelta(seconds=MEMORY_S)
        self._tlm = {a: v for a, v in self._tlm.items() if v[0] >= horizon}
        self._address_of = {k: v for k, v in self._address_of.items() if v[1] >= horizon}

    # visits -> messages -> outbox

    def _queue(self, visits: list[Visit]) -> None:
        queued = 0
        for visit in visits:
            message = self._message(visit)
            if message is None:
                continue
            self.outbox.append(self._topic, functools.partial(_render, message))
            queued += 1
        if queued:
            self.publisher.notify()

    def _message(self, visit: Visit) -> wire.Passage | None:
        """The wire message for ``visit`` (seq to be set by the outbox); None if there is
        none to send (a mobile detector without a position then; counted)."""
        fields = {
            "device_id": self.station_id,
            "seq": 1,
            "beacon_kind": visit.beacon_kind,
            "beacon_id": visit.beacon_id,
            "first_seen": visit.first_seen,
            "last_seen": visit.last_seen,
            "closest_time": visit.closest_time,
            "peak_rssi_dbm": min(20.0, max(-127.0, visit.peak_rssi_dbm)),
            "adv_count": visit.adv_count,
            "tx_power_dbm": visit.tx_power_dbm,
            **self._telemetry(visit),
        }
        model: type[wire.Passage] = wire.Passage
        if self.mobile_position is not None:
            position = self.positions.at(visit.closest_time)
            if position is None:
                self.counts["no_position"] += 1
                log.info("%s: no position at %s; visit dropped", self.station_id, visit)
                return None
            model = wire.Sighting
            fields.update(lat_deg=position[0], lon_deg=position[1])
        try:
            message = model.model_validate(fields)
        except ValidationError as exc:
            self.counts["invalid"] += 1
            log.warning("%s: visit breaks the contract (%s): %s", self.station_id, exc, visit)
            return None
        self.counts["sightings" if model is wire.Sighting else "passages"] += 1
        return message

    def _telemetry(self, visit: Visit) -> dict[str, float | int]:
        heard = self._address_of.get((visit.beacon_kind, visit.beacon_id))
        tlm = self._tlm.get(heard[0]) if heard else None
        if tlm is None:
            return {}
        out: dict[str, float | int] = {}
        if tlm[1].battery_mv > 0:  # Eddystone-TLM: 0 = the tag does not measure it
            out["battery_mv"] = tlm[1].battery_mv
        if tlm[1].temperature_c is not None:
            out["temperature_c"] = tlm[1].temperature_c
        return out


class GpsdPosition:
    """The latest position a gpsd daemon reports, for a mobile detector.

    ``latest()`` is None while there is no fix, or none newer than ``max_age_s`` s.
    gpsd going away is logged and retried with backoff.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 2947, *, max_age_s: float = 5.0):
        self.host, self.port, self.max_age_s = host, port, max_age_s
        self._latest: tuple[float, LatLon] | None = None  # (monotonic s, position)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpsd-position", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def latest(self) -> LatLon | None:
        latest = self._latest
        if latest is None or time.monotonic() - latest[0] > self.max_age_s:
            return None
        return latest[1]

    def _run(self) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                self._follow(GpsdSource(self.host, self.port))
                backoff.reset()
            except SourceError as exc:
                delay = backoff.next_delay()
                log.warning("position from gpsd failed (%s); retrying in %.1f s", exc, delay)
                self._stop.wait(delay)

    def _follow(self, source: GpsdSource) -> None:
        decoder = NmeaFixDecoder()
        with source:
            while not self._stop.is_set():
                for epoch in decoder.feed(source.read(0.5)):
                    self._latest = (time.monotonic(), (epoch.lat_deg, epoch.lon_deg))
