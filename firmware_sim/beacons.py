"""Simulated beacon tags on a school morning: what each roadside station hears, with truth.

``SchoolMorning`` plays the morning that ``firmware_sim.school_morning.plan_morning``
plans (homes, ways, who is absent or late) through the radio of ``firmware_sim.tag_radio``
and yields every advertisement some station heard, in global time order, as a
``SimAdvertisement``: simulated UTC time, station, the tag's BLE address, RSSI, and the
advertisement's decoded fields (``citytrack.ble.adstructs.AdFields``, as bleak reports
them), plus ground truth a station cannot see (tag, counter, true distance).

What the tags broadcast:

- Eddystone-EID tags: the EID of the current rotation period (``EidResolver.eid_at``, the
  hub's own computation), every ``tlm_every``-th advertisement an Eddystone-TLM frame
  instead (battery mV, temperature, advertisement count, uptime; plain, not encrypted).
  Their address is random and resolvable-private-like (top bits 0b01), derived from the
  identity key and the EID, so it changes exactly when the EID rotates.
- iBeacon tags: their fixed uuid/major/minor from a fixed static random address (top bits
  0b11). Calibrated power: iBeacon at 1 m (``rssi_at_1m_dbm``), Eddystone at 0 m (+41 dB).

Stations hear a tag only while its child walks: at home and in class, walls and distance
keep it out of range (a station next to a home would, in reality, hear it). Mobile stations
have no fixed position and hear nothing here.

Deterministic for a seed: the plan, each tag's state and each (trip, tag) radio draw from
their own named streams. Pure: ``advertisements()`` uses no clock and does no I/O; only
``paced`` sleeps, to play records at a chosen speed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from citytrack.ble.adstructs import AdFields
from citytrack.ble.eid import EidResolver
from citytrack.ble.frames import (
    EddystoneEid,
    EddystoneTlm,
    IBeacon,
    encode_eddystone,
    encode_ibeacon,
)
from citytrack.config.watch import Tag, WatchConfig
from firmware_sim.school_morning import GroundTruth, MorningPlan, Trip, TruePassage, plan_morning
from firmware_sim.tag_radio import Heard, RadioModel, eid_per_time, hear_trip
from firmware_sim.walks import WalkModel

STREAM_TAGS, STREAM_WEATHER, STREAM_RADIO = 3, 4, 5  # seed streams (after the plan's 0 and 1)
EDDYSTONE_0M_OFFSET_DB = 41.0  # Eddystone calibrates at 0 m: about 41 dB above the 1 m RSSI
WARMING_C_PER_H = 0.8  # a summer morning warms up, and so do the tags


@dataclass(frozen=True)
class SimAdvertisement:
    """One advertisement as one station heard it.

    ``time`` is simulated UTC time; ``rssi_dbm`` whole dBm. ``tag_id``, ``adv_count`` (the
    tag's advertisement counter) and ``distance_m`` (true slant distance, m) are ground
    truth, for tests and evaluation: a station knows only the first five fields.
    """

    time: dt.datetime
    station_id: str
    address: str
    rssi_dbm: float
    fields: AdFields
    tag_id: str
    adv_count: int
    distance_m: float


@dataclass(frozen=True)
class TagState:
    """A tag's hidden state: switched on ``boot_s`` s after t0 (negative: days before)."""

    tag: Tag
    index: int
    boot_s: float
    battery_mv: int
    temperature_offset_c: float


def _address(digest: bytes, top_bits: int) -> str:
    """A BLE address from a digest, with the two top bits set to ``top_bits``."""
    b = bytearray(digest[:6])
    b[0] = (b[0] & 0x3F) | (top_bits << 6)
    return ":".join(f"{x:02X}" for x in b)


def eid_address(identity_key: bytes, eid_hex: str) -> str:
    """The random address an EID tag uses while it broadcasts ``eid_hex``."""
    return _address(hashlib.sha256(b"rpa" + identity_key + bytes.fromhex(eid_hex)).digest(), 1)


def static_address(tag_id: str) -> str:
    """The fixed (static random) address of an iBeacon tag."""
    return _address(hashlib.sha256(b"static" + tag_id.encode()).digest(), 3)


@dataclass(frozen=True)
class _Records:
    """Everything heard, sorted by time: one row per (advertisement, station)."""

    t_s: np.ndarray
    adv: np.ndarray
    station: np.ndarray
    rssi_dbm: np.ndarray
    distance_m: np.ndarray
    tag: np.ndarray
    eid: np.ndarray  # index into SchoolMorning's EID table; -1 for iBeacon tags


def _tag_states(watch: WatchConfig, seed: int) -> list[TagState]:
    out = []
    for i, tag in enumerate(watch.tags):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAM_TAGS, i)))
        boot_s = -float(rng.uniform(1.0, 60.0)) * 86400.0
        battery = int(rng.integers(2650, 3101))
        out.append(TagState(tag, i, boot_s, battery, float(rng.normal(0.0, 0.5))))
    return out


def default_resolver(watch: WatchConfig) -> EidResolver:
    """An EID resolver for the watch's EID tags (beacon epoch: the resolver's default)."""
    return EidResolver(
        (t.id, bytes.fromhex(t.eid_identity_key), t.eid_rotation_exponent)
        for t in watch.tags
        if t.kind == "eddystone_eid" and t.eid_identity_key is not None
    )


class SchoolMorning:
    """A school morning of the watch's children and tags, as the stations hear it."""

    def __init__(
        self,
        watch: WatchConfig,
        *,
        date: dt.date,
        seed: int,
        tz: str = "Asia/Tokyo",
        radio: RadioModel | None = None,
        walk: WalkModel | None = None,
        absent_fraction: float = 0.05,
        late_fraction: float = 0.0,
        absent: Collection[str] | None = None,
        afternoon: bool = False,
        pass_distance_m: float = 15.0,
        resolver: EidResolver | None = None,
    ) -> None:
        """Plan the morning now (cheap); the radio is simulated on first use.

        ``resolver`` computes what EID tags broadcast (default: ``default_resolver``).
        Raises: ValueError: see ``plan_morning``, ``RadioModel`` and ``WalkModel``.
        """
        self.watch = watch
        self.seed = seed
        self.radio = radio or RadioModel()
        self.plan: MorningPlan = plan_morning(
            watch,
            day=date,
            seed=seed,
            tz=tz,
            walk=walk,
            absent_fraction=absent_fraction,
            late_fraction=late_fraction,
            absent=absent,
            afternoon=afternoon,
            pass_distance_m=pass_distance_m,
        )
        self.resolver = resolver or default_resolver(watch)
        self.tags = _tag_states(watch, seed)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAM_WEATHER,)))
        self.morning_temperature_c = float(rng.uniform(14.0, 26.0))  # at 07:00 local
        self._eids: list[str] = []
        self._eid_slot: dict[str, int] = {}
        self._records: _Records | None = None

    # --- ground truth -------------------------------------------------------------------

    @property
    def truth(self) -> list[TruePassage]:
        """Every true passage (tag within ``pass_distance_m`` of a station), by time."""
        return list(self.plan.truth.passages)

    @property
    def absent(self) -> list[str]:
        """Ids of the children who stay at home."""
        return list(self.plan.truth.absent)

    @property
    def ground_truth(self) -> GroundTruth:
        """Passages, absent and late children, trips (``GroundTruth.to_json`` writes it)."""
        return self.plan.truth

    @property
    def homes(self) -> dict[str, tuple[float, float]]:
        """Child id -> home (lat, lon) degrees."""
        return self.plan.homes

    @property
    def paths(self) -> dict[str, list[tuple[float, float]]]:
        """Child id -> the way from home to the school building, (lat, lon) degrees."""
        return self.plan.paths

    @property
    def trips(self) -> tuple[Trip, ...]:
        return self.plan.trips

    # --- the radio ----------------------------------------------------------------------

    def advertisements(self) -> Iterator[SimAdvertisement]:
        """Every advertisement a station heard, by time (ties: station, then tag, registry order).

        Raises: whatever the ``citytrack.ble`` encoders or the resolver raise.
        """
        r = self._simulate()
        stations = self.plan.stations
        fields = _FieldsFactory(self)
        for k in range(len(r.t_s)):
            state = self.tags[int(r.tag[k])]
            adv = int(r.adv[k])
            address, payload = fields.get(state, adv, float(r.t_s[k]), int(r.eid[k]))
            yield SimAdvertisement(
                self.plan.at(float(r.t_s[k])),
                stations[int(r.station[k])].id,
                address,
                float(r.rssi_dbm[k]),
                payload,
                state.tag.id,
                adv + 1,
                round(float(r.distance_m[k]), 3),
            )

    def eid_of(self, slot: int) -> str:
        """The EID hex string of an EID table slot."""
        return self._eids[slot]

    def _simulate(self) -> _Records:
        """Hear every (trip, tag) and sort the rows by time; cached."""
        if self._records is not None:
            return self._records
        index = {c.id: i for i, c in enumerate(self.watch.children)}
        parts: list[tuple[Heard, int, np.ndarray]] = []
        for trip in self.plan.trips:
            for state in (s for s in self.tags if s.tag.child_id == trip.child_id):
                leg = 0 if trip.leg == "to_school" else 1
                key = (STREAM_RADIO, index[trip.child_id], leg, state.index)
                rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))
                first_adv = int((trip.depart_s - state.boot_s) / self.radio.interval_s)
                heard = hear_trip(trip, first_adv, self.radio, self.plan.station_xy_m, rng)
                parts.append((heard, state.index, self._eid_slots(state, heard)))
        self._records = _sorted_records(parts)
        return self._records

    def _eid_slots(self, state: TagState, heard: Heard) -> np.ndarray:
        """EID table slots of what an EID tag broadcast at each heard time (-1: iBeacon)."""
        tag = state.tag
        if tag.kind != "eddystone_eid" or not len(heard.t_s):
            return np.full(len(heard.t_s), -1, dtype=np.int64)
        times, inverse = np.unique(heard.t_s, return_inverse=True)

        def eid_at(i: int) -> str:
            return self.resolver.eid_at(tag.id, self.plan.at(float(times[i])))

        eids = eid_per_time(eid_at, times, 2.0**tag.eid_rotation_exponent)
        slots = np.array([self._slot_of(e) for e in eids], dtype=np.int64)
        return slots[inverse]

    def _slot_of(self, eid: str) -> int:
        """The EID table slot of ``eid``, added if new."""
        if eid not in self._eid_slot:
            self._eid_slot[eid] = len(self._eids)
            self._eids.append(eid)
        return self._eid_slot[eid]


def _sorted_records(parts: list[tuple[Heard, int, np.ndarray]]) -> _Records:
    """Concatenate per-(trip, tag) rows and sort by time, station, tag."""
    if not parts:
        e = Heard.empty()
        return _Records(e.t_s, e.adv, e.station, e.rssi_dbm, e.distance_m, e.adv, e.adv)
    cols = {
        name: np.concatenate([getattr(h, name) for h, _, _ in parts])
        for name in ("t_s", "adv", "station", "rssi_dbm", "distance_m")
    }
    tag = np.concatenate([np.full(len(h.t_s), i, dtype=np.int64) for h, i, _ in parts])
    eid = np.concatenate([slots for _, _, slots in parts])
    order = np.lexsort((tag, cols["station"], cols["t_s"]))
    return _Records(**{k: v[order] for k, v in cols.items()}, tag=tag[order], eid=eid[order])


class _FieldsFactory:
    """Addresses and encoded fields of advertisements, cached while a morning is played."""

    def __init__(self, morning: SchoolMorning) -> None:
        self.m = morning
        radio = morning.radio
        self.ibeacon_power = round(radio.rssi_at_1m_dbm)
        self.eddystone_power = round(radio.rssi_at_1m_dbm + EDDYSTONE_0M_OFFSET_DB)
        self._fixed: dict[int, tuple[str, AdFields]] = {}
        self._eid: dict[int, tuple[str, AdFields]] = {}
        self._last_tlm: tuple[tuple[int, int], AdFields] | None = None

    def get(self, state: TagState, adv: int, t_s: float, slot: int) -> tuple[str, AdFields]:
        """(address, fields) of the tag's advertisement number ``adv`` at ``t_s``."""
        tag = state.tag
        if tag.kind == "ibeacon":
            if state.index not in self._fixed:
                frame = IBeacon(
                    str(tag.ibeacon_uuid).lower(),
                    int(tag.ibeacon_major or 0),
                    int(tag.ibeacon_minor or 0),
                    self.ibeacon_power,
                )
                self._fixed[state.index] = (static_address(tag.id), encode_ibeacon(frame))
            return self._fixed[state.index]
        if slot not in self._eid:
            eid = self.m.eid_of(slot)
            key = bytes.fromhex(str(tag.eid_identity_key))
            frame_eid = EddystoneEid(eid, self.eddystone_power)
            self._eid[slot] = (eid_address(key, eid), encode_eddystone(frame_eid))
        address, eid_fields = self._eid[slot]
        if adv % self.m.radio.tlm_every != 0:
            return address, eid_fields
        return address, self._tlm(state, adv, t_s)

    def _tlm(self, state: TagState, adv: int, t_s: float) -> AdFields:
        """The TLM frame of advertisement ``adv`` (the same for every station hearing it)."""
        key = (state.index, adv)
        if self._last_tlm is None or self._last_tlm[0] != key:
            hours_after_7 = t_s / 3600.0 - 7.0
            temp = self.m.morning_temperature_c + state.temperature_offset_c
            temp += WARMING_C_PER_H * hours_after_7
            frame = EddystoneTlm(
                version=0,
                battery_mv=state.battery_mv,
                temperature_c=round(temp * 256.0) / 256.0,  # TLM carries 8.8 fixed point
                adv_count=(adv + 1) % 2**32,
                uptime_s=round(t_s - state.boot_s, 1),  # TLM counts 0.1 s
            )
            self._last_tlm = (key, encode_eddystone(frame))
        return self._last_tlm[1]


class Timed(Protocol):
    """Anything with a simulated ``time``."""

    @property
    def time(self) -> dt.datetime: ...


R = TypeVar("R", bound=Timed)


def paced(
    records: Iterable[R],
    speedup: float,
    start_wall: float | None = None,
    *,
    start_sim: dt.datetime | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[R]:
    """Yield ``records`` (in time order) as simulated time runs ``speedup`` x the wall clock.

    A record at simulated time ``t`` is yielded at wall time
    ``start_wall + (t - start_sim) / speedup`` (``clock`` seconds, default monotonic):
    ``start_wall`` defaults to the clock when the first record arrives, ``start_sim`` to
    that record's time. A late record is yielded at once and the schedule is kept, not
    shifted. Records keep their simulated times. Raises: ValueError: ``speedup`` <= 0.
    """
    if not speedup > 0:
        raise ValueError(f"speedup must be positive, got {speedup}")
    for record in records:
        if start_sim is None:
            start_sim = record.time
        if start_wall is None:
            start_wall = clock()
        delay = start_wall + (record.time - start_sim).total_seconds() / speedup - clock()
        if delay > 0:
            sleep(delay)
        yield record
