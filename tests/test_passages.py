"""Passage detection: exact small cases, simulated walks with noise and packet loss,
properties (a tag that stays far never passes; ticks change nothing the data would not)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.device.passages import Advertisement, PassageDetector, PositionTrack, Visit
from citytrack import wire
from citytrack.config.watch import PassageDetectorConfig
from citytrack.wire import BeaconKind

T0 = datetime(2026, 5, 11, 7, 30, tzinfo=UTC)
TAG = "f7826da6-4fa2-4e98-8024-bc5b71e0893e/1/42"
CFG = PassageDetectorConfig(window=5, enter_rssi_dbm=-75, leave_rssi_dbm=-85, away_timeout_s=10)
SMALL = PassageDetectorConfig(window=3, enter_rssi_dbm=-70, leave_rssi_dbm=-80, away_timeout_s=10)
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SENSITIVITY_DBM = -100.0  # the receiver hears nothing weaker


def at(t_s: float) -> datetime:
    return T0 + timedelta(seconds=t_s)


def adv(t_s: float, rssi: float, beacon_id: str = TAG) -> Advertisement:
    return Advertisement(at(t_s), BeaconKind.IBEACON, beacon_id, rssi, tx_power_dbm=-59)


def run(det: PassageDetector, advs: Sequence[Advertisement]) -> list[Visit]:
    visits: list[Visit] = []
    for a in advs:
        visits += det.feed(a)
    return visits + det.flush()


def walk(
    distance_m: Callable[[float], float],
    duration_s: float,
    rng: np.random.Generator,
    *,
    tx_1m_dbm: float = -59.0,
    n: float = 2.2,
    sigma_db: float = 4.0,
    loss: float = 0.25,
    interval_s: float = 1.0,
) -> list[Advertisement]:
    """Advertisements every ``interval_s`` of a tag at ``distance_m(t)`` metres, through a
    log-distance path-loss model with Gaussian noise, random loss and receiver sensitivity."""
    out = []
    for t in np.arange(0.0, duration_s, interval_s):
        d = max(distance_m(float(t)), 0.3)
        rssi = tx_1m_dbm - 10 * n * math.log10(d) + rng.normal(0.0, sigma_db)
        if rng.random() >= loss and rssi >= SENSITIVITY_DBM:
            out.append(adv(float(t), round(float(rssi), 1)))
    return out


def walking_past(closest_s: float, lateral_m: float = 2.0, speed_mps: float = 1.0):
    return lambda t: math.hypot(lateral_m, speed_mps * (t - closest_s))


# exact small cases (window 3, enter -70, leave -80)


def test_one_visit_with_its_summary() -> None:
    rssi = [-95, -90, -82, -78, -72, -65, -60, -66, -74, -79, -88, -92, -95]
    visits = run(PassageDetector(SMALL), [adv(t, r) for t, r in enumerate(rssi)])
    assert len(visits) == 1
    v = visits[0]
    # medians: t2 -90, t3 -82, t4 -78 (>= leave: the approach starts, window t2..t4),
    # t5 -72, t6 -65 (enter), t7 -65, t8 -66, t9 -74, t10 -79, t11 -88 (< leave: ends)
    assert v.first_seen == at(2)
    assert v.last_seen == at(10)
    assert v.peak_rssi_dbm == -65
    assert v.closest_time == at(5)  # the middle of the window t4..t6 that first peaked
    assert v.adv_count == 9  # t2..t10
    assert v.tx_power_dbm == -59
    assert (v.beacon_kind, v.beacon_id) == (BeaconKind.IBEACON, TAG)


def test_an_approach_that_never_enters_reports_nothing() -> None:
    rssi = [-90, -84, -78, -74, -72, -74, -78, -84, -90, -95]
    assert run(PassageDetector(SMALL), [adv(t, r) for t, r in enumerate(rssi)]) == []


def test_single_spike_does_not_enter() -> None:
    rssi = [-88, -86, -60, -87, -89, -60, -88, -90]
    assert run(PassageDetector(SMALL), [adv(t, r) for t, r in enumerate(rssi)]) == []


def test_silence_shorter_than_away_timeout_does_not_split() -> None:
    near = [adv(t, -60) for t in (0, 1, 2, 3, 12, 13, 14)]  # 9 s gap
    visits = run(PassageDetector(SMALL), near)
    assert [(v.first_seen, v.last_seen, v.adv_count) for v in visits] == [(at(0), at(14), 7)]


def test_silence_longer_than_away_timeout_makes_two_visits() -> None:
    det = PassageDetector(SMALL)
    first = [det.feed(adv(t, -60)) for t in (0, 1, 2, 3)]
    assert not any(first)
    closed = det.feed(adv(13.5, -60))  # 10.5 s of silence: the first visit is over
    assert [(v.first_seen, v.last_seen) for v in closed] == [(at(0), at(3))]
    rest = [v for t in (14.5, 15.5) for v in det.feed(adv(t, -60))] + det.flush()
    assert [(v.first_seen, v.last_seen, v.adv_count) for v in rest] == [(at(13.5), at(15.5), 3)]


def test_tick_closes_silent_visits_from_the_data_time_line() -> None:
    det = PassageDetector(SMALL)
    for t in (0, 1, 2, 3):
        det.feed(adv(t, -60))
        det.feed(adv(t, -99, beacon_id="far/1/1"))
    assert det.tick(at(13)) == []  # exactly away_timeout_s: still there
    assert len(det) == 2
    visits = det.tick(at(13.001))
    assert [v.beacon_id for v in visits] == [TAG]
    assert len(det) == 0  # the far beacon is forgotten too, silently


def test_out_of_order_time_is_clamped_not_a_split() -> None:
    times = [0, 1, 2, 3, 2.5, 4]
    visits = run(PassageDetector(SMALL), [adv(t, -60) for t in times])
    assert [(v.first_seen, v.last_seen, v.adv_count) for v in visits] == [(at(0), at(4), 6)]


def test_beacons_are_independent() -> None:
    det = PassageDetector(SMALL)
    advs = [adv(t, -60, beacon_id=b) for t in range(5) for b in ("a/1/1", "b/1/1")]
    assert sorted(v.beacon_id for v in run(det, advs)) == ["a/1/1", "b/1/1"]


# simulated children: path loss, noise, packet loss


@pytest.mark.parametrize("seed", range(12))
def test_child_walking_past_is_one_visit_near_the_closest_approach(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2.0 + 0.5 * rng.random()
    loss = 0.2 + 0.1 * rng.random()
    advs = walk(walking_past(60.0), 120.0, rng, n=n, loss=loss)
    visits = run(PassageDetector(CFG), advs)
    assert len(visits) == 1, visits
    v = visits[0]
    assert abs((v.closest_time - at(60)).total_seconds()) <= 4.0
    assert v.first_seen < at(60) < v.last_seen
    assert -75 <= v.peak_rssi_dbm <= -55


@pytest.mark.parametrize("seed", range(8))
def test_standing_nearby_then_leaving_is_one_visit(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)

    def distance(t: float) -> float:  # walks up, waits 2 min at 3 m, walks away
        if t < 60:
            return math.hypot(3.0, 1.2 * (60 - t))
        return 3.0 if t < 180 else math.hypot(3.0, 1.2 * (t - 180))

    visits = run(PassageDetector(CFG), walk(distance, 260.0, rng, sigma_db=3.5))
    assert len(visits) == 1, visits
    v = visits[0]
    assert v.first_seen < at(60) and v.last_seen > at(180)
    assert at(55) <= v.closest_time <= at(185)
    assert v.adv_count > 80


@pytest.mark.parametrize("seed", range(8))
def test_walking_past_twice_is_two_visits(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)

    def distance(t: float) -> float:  # past the station at 60 s, back past it at 660 s
        return walking_past(60.0)(t) if t < 360 else walking_past(660.0)(t)

    visits = run(PassageDetector(CFG), walk(distance, 720.0, rng))
    assert len(visits) == 2, visits
    for v, closest_s in zip(visits, (60, 660), strict=True):
        assert abs((v.closest_time - at(closest_s)).total_seconds()) <= 4.0


def test_visits_make_valid_passages() -> None:
    rng = np.random.default_rng(7)
    (v,) = run(PassageDetector(CFG), walk(walking_past(60.0), 120.0, rng))
    passage = wire.Passage(
        device_id="gate-naniwa-es",
        seq=1,
        beacon_kind=v.beacon_kind,
        beacon_id=v.beacon_id,
        first_seen=v.first_seen,
        last_seen=v.last_seen,
        closest_time=v.closest_time,
        peak_rssi_dbm=v.peak_rssi_dbm,
        adv_count=v.adv_count,
        tx_power_dbm=v.tx_power_dbm,
    )
    assert (
        wire.decode(
            wire.topic_for(wire.Role.STATION, "gate-naniwa-es", wire.Kind.PASSAGE),
            wire.encode(passage),
        )
        == passage
    )


def test_position_track_answers_with_the_nearest_sample() -> None:
    track = PositionTrack(max_gap_s=5.0)
    t0 = T0
    for i in range(10):
        track.add(t0 + timedelta(seconds=2 * i), (34.0 + i, 135.0))
    track.add(t0, (0.0, 0.0))  # older than the last sample: ignored
    assert track.at(t0 + timedelta(seconds=4.9)) == (36.0, 135.0)
    assert track.at(t0 + timedelta(seconds=5.1)) == (37.0, 135.0)
    assert track.at(t0 - timedelta(seconds=5)) == (34.0, 135.0)
    assert track.at(t0 - timedelta(seconds=5.1)) is None
    assert track.at(t0 + timedelta(seconds=18 + 5.1)) is None


# properties

FAR_M = 50.0  # at 50 m the path loss of the loudest tag (-55 dBm at 1 m, n = 2) is -89 dBm
far_walks = st.lists(
    st.tuples(
        st.floats(min_value=0.05, max_value=20.0),  # interval, s
        st.floats(min_value=FAR_M, max_value=500.0),  # distance, m
        st.floats(min_value=-12.0, max_value=12.0),  # noise, dB (3 sigma of 4 dB)
    ),
    max_size=200,
)


@PROPERTY
@given(
    walk_=far_walks,
    tx_1m=st.floats(min_value=-65.0, max_value=-55.0),
    n=st.floats(min_value=2.0, max_value=2.5),
    window=st.integers(min_value=1, max_value=9),
)
def test_a_tag_that_stays_far_never_passes(
    walk_: list[tuple[float, float, float]], tx_1m: float, n: float, window: int
) -> None:
    cfg = CFG.model_copy(update={"window": window})
    det = PassageDetector(cfg)
    t = 0.0
    visits: list[Visit] = []
    for interval, d, noise in walk_:
        t += interval
        rssi = tx_1m - 10 * n * math.log10(d) + noise
        assert rssi < cfg.enter_rssi_dbm  # the premise: far means weaker than enter
        visits += det.feed(adv(t, rssi))
        visits += det.tick(at(t))
    assert visits + det.flush() == []


any_advs = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=15.0),  # interval, s
        st.sampled_from(["a/1/1", "b/1/1"]),
        st.floats(min_value=-100.0, max_value=-40.0),
    ),
    max_size=150,
)


def _timeline(steps: list[tuple[float, str, float]]) -> list[Advertisement]:
    t, out = 0.0, []
    for interval, beacon, rssi in steps:
        t += interval
        out.append(adv(t, rssi, beacon_id=beacon))
    return out


@PROPERTY
@given(steps=any_advs, window=st.integers(min_value=1, max_value=7))
def test_visits_are_well_formed_and_ticks_change_nothing(
    steps: list[tuple[float, str, float]], window: int
) -> None:
    cfg = SMALL.model_copy(update={"window": window})
    advs = _timeline(steps)
    plain = run(PassageDetector(cfg), advs)
    ticked_det = PassageDetector(cfg)
    ticked: list[Visit] = []
    for a in advs:
        ticked += ticked_det.tick(a.time)
        ticked += ticked_det.feed(a)
    ticked += ticked_det.flush()
    key = lambda v: (v.beacon_id, v.first_seen)  # noqa: E731
    assert sorted(plain, key=key) == sorted(ticked, key=key)
    assert sum(v.adv_count for v in plain) <= len(advs)
    for v in plain:
        assert v.first_seen <= v.closest_time <= v.last_seen
        assert v.peak_rssi_dbm >= cfg.enter_rssi_dbm
        assert v.adv_count >= window
