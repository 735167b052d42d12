"""The beacon simulator: what stations hear of the children's tags on a school morning."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from citytrack.ble.eid import EidResolver
from citytrack.ble.frames import EddystoneEid, EddystoneTlm, IBeacon, decode_fields
from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, load_config
from citytrack.config.watch import WatchConfig
from firmware_sim.beacons import SchoolMorning, SimAdvertisement, default_resolver
from firmware_sim.tag_radio import RadioModel
from firmware_sim.watch_city import synthetic_city

DAY = date(2026, 6, 8)  # a Monday
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture(scope="module")
def demo() -> WatchConfig:
    return load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME).watch


@pytest.fixture(scope="module")
def morning(demo: WatchConfig) -> SchoolMorning:
    return SchoolMorning(demo, date=DAY, seed=1, afternoon=True)


@pytest.fixture(scope="module")
def heard(morning: SchoolMorning) -> list[SimAdvertisement]:
    return list(morning.advertisements())


def test_same_seed_same_morning(demo: WatchConfig, heard: list[SimAdvertisement]) -> None:
    again = SchoolMorning(demo, date=DAY, seed=1, afternoon=True)
    assert list(again.advertisements()) == heard
    assert list(again.advertisements()) == heard  # replayable
    other = list(SchoolMorning(demo, date=DAY, seed=2, afternoon=True).advertisements())
    assert other != heard


def test_the_radio_does_not_move_the_children(demo: WatchConfig, morning: SchoolMorning) -> None:
    lossy = SchoolMorning(demo, date=DAY, seed=1, afternoon=True, radio=RadioModel(loss=0.5))
    assert lossy.truth == morning.truth and lossy.paths == morning.paths


def test_records_are_in_time_order_within_the_walks(
    morning: SchoolMorning, heard: list[SimAdvertisement]
) -> None:
    assert heard
    assert all(a.time <= b.time for a, b in itertools.pairwise(heard))
    assert all(r.time.tzinfo is UTC for r in heard)
    walks = defaultdict(list)
    for trip in morning.trips:
        walks[trip.child_id].append((trip.depart, trip.arrive))
    child_of = {t.id: t.child_id for t in morning.watch.tags}
    for r in heard:
        assert any(dep <= r.time <= arr for dep, arr in walks[child_of[r.tag_id]]), r
    local = [r.time.astimezone(TOKYO) for r in heard]
    assert local[0] >= datetime(2026, 6, 8, 7, 0, tzinfo=TOKYO)
    assert any(t.hour == 15 for t in local)  # the afternoon walk home


def test_absent_children_are_never_heard(
    morning: SchoolMorning, heard: list[SimAdvertisement]
) -> None:
    assert len(morning.absent) == 1
    absent_tags = {t.id for t in morning.watch.tags if t.child_id in morning.absent}
    assert absent_tags
    assert not absent_tags & {r.tag_id for r in heard}
    present = {t.id for t in morning.watch.tags} - absent_tags
    assert {r.tag_id for r in heard} == present


def test_every_true_passage_is_heard_loudly_near_its_closest_time(
    morning: SchoolMorning, heard: list[SimAdvertisement]
) -> None:
    by_pair = defaultdict(list)
    for r in heard:
        by_pair[(r.tag_id, r.station_id)].append(r)
    for p in morning.truth:
        near = [
            r
            for r in by_pair[(p.tag_id, p.station_id)]
            if abs((r.time - p.closest_time).total_seconds()) <= 10.0
        ]
        assert len(near) >= 5, p
        assert max(r.rssi_dbm for r in near) >= -75.0, p
        assert min(r.distance_m for r in near) < p.closest_distance_m + 2.5


def test_rssi_follows_the_log_distance_path_loss_model(demo: WatchConfig) -> None:
    radio = RadioModel(floor_dbm=-200.0, loss=0.0)  # nothing cut off: no truncation bias
    records = list(SchoolMorning(demo, date=DAY, seed=5, radio=radio).advertisements())
    d = np.array([r.distance_m for r in records])
    rssi = np.array([r.rssi_dbm for r in records])
    slope, intercept = np.polyfit(np.log10(d), rssi, 1)
    assert slope == pytest.approx(-10 * 2.2, abs=0.3)
    assert intercept == pytest.approx(-59.0, abs=0.6)
    residual = rssi - (intercept + slope * np.log10(d))
    assert np.std(residual) == pytest.approx(4.0, abs=0.15)  # plus 1/12 dB^2 of rounding
    assert np.all(rssi == np.round(rssi))


def test_nothing_below_the_floor_and_range_is_bounded(heard: list[SimAdvertisement]) -> None:
    assert min(r.rssi_dbm for r in heard) >= -100.0
    assert max(r.distance_m for r in heard) < RadioModel().max_range_m
    assert max(r.rssi_dbm for r in heard) > -65.0


@pytest.mark.parametrize("loss", [0.2, 0.5])
def test_loss_rate_is_as_configured(demo: WatchConfig, loss: float) -> None:
    radio = RadioModel(floor_dbm=-200.0, sigma_db=0.0, loss=loss)
    records = SchoolMorning(demo, date=DAY, seed=6, radio=radio).advertisements()
    counts: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in records:
        counts[(r.tag_id, r.station_id)].append(r.adv_count)
    sent = sum(max(c) - min(c) + 1 for c in counts.values())
    received = sum(len(c) for c in counts.values())
    assert received / sent == pytest.approx(1.0 - loss, abs=0.01)


def test_advertising_interval_is_jittered_around_its_mean(demo: WatchConfig) -> None:
    radio = RadioModel(floor_dbm=-200.0, loss=0.0, interval_s=0.5)
    records = SchoolMorning(demo, date=DAY, seed=7, radio=radio).advertisements()
    times: dict[str, list[datetime]] = defaultdict(list)
    for r in records:
        if r.station_id == "gate-naniwa-es":
            times[r.tag_id].append(r.time)
    gaps = np.array(
        [(b - a).total_seconds() for t in times.values() for a, b in itertools.pairwise(t)]
    )
    assert gaps.mean() == pytest.approx(0.5, rel=0.01)
    assert 0.45 - 1e-6 <= gaps.min() < 0.46 and 0.54 < gaps.max() <= 0.55 + 1e-6


def test_eid_tags_broadcast_the_resolvers_eid_and_rotate(demo: WatchConfig) -> None:
    fast = demo.model_copy(
        update={"tags": [t.model_copy(update={"eid_rotation_exponent": 7}) for t in demo.tags]}
    )
    records = list(SchoolMorning(fast, date=DAY, seed=8).advertisements())
    resolver = default_resolver(fast)
    kinds = {t.id: t.kind for t in fast.tags}
    eids: dict[str, set[str]] = defaultdict(set)
    address_of: dict[str, str] = {}
    for r in records:
        if kinds[r.tag_id] != "eddystone_eid":
            continue
        (frame,) = decode_fields(r.fields)
        if isinstance(frame, EddystoneEid):
            assert frame.eid == resolver.eid_at(r.tag_id, r.time)
            assert resolver.resolve(frame.eid, r.time) == r.tag_id
            assert address_of.setdefault(frame.eid, r.address) == r.address
            eids[r.tag_id].add(frame.eid)
        else:
            assert isinstance(frame, EddystoneTlm) and r.adv_count % 10 == 1
            assert r.address == address_of.get(resolver.eid_at(r.tag_id, r.time), r.address)
    # 128 s periods: every tag is heard for minutes at least at its gate
    assert eids and min(map(len, eids.values())) >= 2 and max(map(len, eids.values())) >= 5
    assert len(set(address_of.values())) == len(address_of)  # a new address with each EID
    assert int(next(iter(address_of.values()))[:2], 16) >> 6 == 0b01


def test_tlm_frames_carry_plausible_telemetry(heard: list[SimAdvertisement]) -> None:
    tlm = [f for r in heard for f in decode_fields(r.fields) if isinstance(f, EddystoneTlm)]
    eid_records = [
        r for r in heard if "0000feaa-0000-1000-8000-00805f9b34fb" in r.fields.service_data
    ]
    assert len(tlm) / len(eid_records) == pytest.approx(0.1, abs=0.02)
    for f in tlm:
        assert 2650 <= f.battery_mv <= 3100
        assert f.temperature_c is not None and 10.0 < f.temperature_c < 40.0
        assert f.uptime_s > 86_400.0 and f.adv_count > 80_000


def test_ibeacon_tags_keep_their_id_and_address(
    morning: SchoolMorning, heard: list[SimAdvertisement]
) -> None:
    tags = {t.id: t for t in morning.watch.tags if t.kind == "ibeacon"}
    assert tags
    seen: dict[str, set[str]] = defaultdict(set)
    for r in heard:
        if r.tag_id in tags:
            (frame,) = decode_fields(r.fields)
            assert isinstance(frame, IBeacon)
            assert frame.beacon_id == tags[r.tag_id].ibeacon_id()
            assert frame.tx_power_dbm == -59
            seen[r.tag_id].add(r.address)
    assert set(seen) == set(tags) - {
        t.id for t in morning.watch.tags if t.child_id in morning.absent
    }
    assert all(len(a) == 1 for a in seen.values())
    assert all(int(next(iter(a))[:2], 16) >> 6 == 0b11 for a in seen.values())


def test_a_resolver_with_another_beacon_epoch_is_used(demo: WatchConfig) -> None:
    epoch = datetime(2020, 1, 1, tzinfo=UTC)
    keys = [(t.id, bytes.fromhex(t.eid_identity_key), 10) for t in demo.tags if t.eid_identity_key]
    resolver = EidResolver(keys, beacon_epoch=epoch)
    unix = default_resolver(demo)
    m = SchoolMorning(demo, date=DAY, seed=9, resolver=resolver)
    frames = ((r, decode_fields(r.fields)[0]) for r in m.advertisements() if r.fields.service_data)
    r, frame = next((r, f) for r, f in frames if isinstance(f, EddystoneEid))
    assert isinstance(frame, EddystoneEid)
    assert resolver.resolve(frame.eid, r.time) == r.tag_id
    assert frame.eid != unix.eid_at(r.tag_id, r.time)


def test_synthetic_city_morning_at_benchmark_scale() -> None:
    began = time.perf_counter()
    city = synthetic_city(200, 20, seed=3)
    assert (len(city.children), len(city.stations), len(city.tags)) == (200, 20, 200)
    assert 0.7 < sum(t.kind == "eddystone_eid" for t in city.tags) / 200 < 0.95
    m = SchoolMorning(city, date=DAY, seed=3)
    records = list(m.advertisements())
    elapsed = time.perf_counter() - began
    assert elapsed < 10.0  # about 0.5 s on a laptop core
    assert len(m.absent) == 10 and len(m.trips) == 190
    gates = {s.id for s in city.stations if s.kind == "school_gate"}
    assert sum(p.station_id in gates for p in m.truth) == 190
    assert 20_000 < len(records) < 200_000
    assert {r.station_id for r in records} == {s.id for s in city.stations}
    assert synthetic_city(200, 20, seed=3) == city
