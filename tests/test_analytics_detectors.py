"""VehicleDetectors (fix filter, harsh, cornering, speeding per device), DetectedEvent and
its wire form; end-to-end properties: GNSS glitches never become harsh events."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from analytics.driving.detectors import VehicleDetectors, harsh_events_track
from analytics.driving.findings import DetectedEvent, to_alert
from analytics.driving.zones import Limit, ZoneIndex
from citytrack.alerts import Alert, HarshDetails, SpeedingDetails
from citytrack.config import QualityConfig, VehicleClass, load_config
from citytrack.geo import EARTH_RADIUS_M
from citytrack.wire import EventKind, Fix, encode
from tests import gnss_tracks as g

CONFIG = load_config()
ZONES = ZoneIndex(CONFIG.city.speed_zones, CONFIG.city.default_road_limit_kmh)
CLASSES = CONFIG.city.vehicle_classes
HEAVY = CLASSES["heavy"]
T0 = g.T0
IN_ZONE = (34.6620, 135.4985)  # zone30-naniwa, 30 km/h
HARSH_KINDS = {EventKind.HARSH_BRAKING, EventKind.HARSH_ACCELERATION, EventKind.HARSH_CORNERING}
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def detectors(cfg: VehicleClass = HEAVY) -> VehicleDetectors:
    return VehicleDetectors(cfg, CONFIG.detectors.speeding, ZONES)


def track(
    times_s: Sequence[float], speeds: Sequence[float | None], device_id: str = "truck-03"
) -> list[Fix]:
    """Fixes at T0 + times_s driving north from IN_ZONE, where the speeds (m/s) take them."""
    out, north_m = [], 0.0
    for i, (t, v) in enumerate(zip(times_s, speeds, strict=True)):
        if i:
            v0 = speeds[i - 1] or 0.0
            north_m += (v0 + (v or 0.0)) / 2 * (t - times_s[i - 1])
        at = T0 + timedelta(microseconds=round(t * 1e6))
        out.append(
            Fix(
                device_id=device_id,
                seq=i + 1,
                fix_time=at,
                recv_time=at,
                lat_deg=IN_ZONE[0] + math.degrees(north_m / EARTH_RADIUS_M),
                lon_deg=IN_ZONE[1],
                speed_mps=v,
            )
        )
    return out


def run(fixes: Sequence[Fix], cfg: VehicleClass = HEAVY) -> list[DetectedEvent]:
    det = detectors(cfg)
    return [e for f in fixes for e in det.step(f)] + det.flush()


def harsh(events: Sequence[DetectedEvent]) -> list[DetectedEvent]:
    return [e for e in events if e.kind in HARSH_KINDS]


def braking_in_zone(rate_hz: int) -> list[Fix]:
    """12.5 m/s (45 km/h) in a 30 km/h zone for 10 s, then a 5 m/s^2 stop, then 5 s still."""
    t = np.arange(0, 17.5, 1 / rate_hz)
    v = np.clip(12.5 - 5 * np.clip(t - 10, 0, None), 0, None)
    return track([float(x) for x in t], [float(x) for x in v])


@pytest.mark.parametrize("rate_hz", [1, 10])
def test_braking_while_speeding_gives_both_events(rate_hz: int) -> None:
    det, per_fix = detectors(), []
    for f in braking_in_zone(rate_hz):
        per_fix.append(det.step(f))
    found = [e for events in per_fix for e in events]
    assert sorted(e.kind for e in found) == [EventKind.HARSH_BRAKING, EventKind.SPEEDING]
    assert det.flush() == []
    speeding = next(e for e in found if e.kind == EventKind.SPEEDING)
    assert speeding.details.zone_id == "zone30-naniwa"
    assert speeding.start == T0
    assert det.quality_counts.accepted == len(braking_in_zone(rate_hz))


def test_harsh_events_come_before_speeding_events_of_the_same_fix() -> None:
    # 16 m/s in the zone, a hard but brief slowdown to 12.5 m/s (still over), then a data
    # gap of 6 s, which ends both episodes at the fix after it
    fixes = track([*range(8), 13, 14], [16.0] * 7 + [12.5] * 3)
    det = detectors()
    per_fix = [det.step(f) for f in fixes]
    assert [[e.kind for e in events] for events in per_fix if events] == [
        [EventKind.HARSH_BRAKING, EventKind.SPEEDING]
    ]
    assert det.quality_counts.gaps == 1


def test_flush_reports_open_episodes_of_every_detector() -> None:
    det = detectors()
    fixes = track(range(9), [16.0] * 8 + [12.5])
    assert [e for f in fixes for e in det.step(f)] == []
    assert sorted(e.kind for e in det.flush()) == [EventKind.HARSH_BRAKING, EventKind.SPEEDING]
    assert det.flush() == []


def test_a_fix_from_another_device_is_refused() -> None:
    det = detectors()
    det.step(track([0], [5.0])[0])
    with pytest.raises(ValueError, match="truck-09"):
        det.step(track([1], [5.0], device_id="truck-09")[0])


def test_vectorised_agrees_with_the_detectors_on_a_drive() -> None:
    fixes = braking_in_zone(10)
    det = detectors()
    found = [e for f in fixes for e in det.step(f) if e.kind != EventKind.SPEEDING]
    found += [e for e in det.flush() if e.kind != EventKind.SPEEDING]
    t = np.array([f.fix_time.timestamp() for f in fixes])
    v = np.array([f.speed_mps for f in fixes], dtype=float)
    lat = np.array([f.lat_deg for f in fixes])
    lon = np.array([f.lon_deg for f in fixes])
    assert found and harsh_events_track(t, v, HEAVY, lat, lon) == found


def test_the_speed_limit_comes_from_limit_for() -> None:
    looked_up: list[Fix] = []

    def limit_for(fix: Fix) -> Limit:
        looked_up.append(fix)
        return Limit(20.0, "seg-42", "road")

    det = VehicleDetectors(HEAVY, CONFIG.detectors.speeding, ZONES, limit_for=limit_for)
    fixes = g.fixes(g.cruise(10.0, 10, 1))  # 36 km/h where the zones say 60
    events = [e for f in fixes for e in det.step(f)] + det.flush()
    assert [e.details.zone_id for e in events if e.kind == EventKind.SPEEDING] == ["seg-42"]
    assert looked_up == fixes


def test_a_stale_hold_then_the_real_speed_is_not_harsh_braking() -> None:
    # Traccar's complaint: the receiver repeats its last fix while the truck slows calmly
    # from 11 to 2 m/s; the first fresh fix would look like -9 m/s^2 in one second
    fixes = g.fixes(g.motion([(5, 0, 0), (6, -1.5, 0), (5, 0, 0)], v0=11, course0=0, rate_hz=1))
    held = [fixes[5].model_copy(update={"seq": f.seq, "fix_time": f.fix_time}) for f in fixes[6:11]]
    det = detectors()
    events = [e for f in [*fixes[:6], *held, *fixes[11:]] for e in det.step(f)] + det.flush()
    assert harsh(events) == []
    assert det.quality_counts.stale == 5 and det.quality_counts.gaps == 1


def test_poor_fixes_are_counted_and_skipped() -> None:
    fixes = g.fixes(g.brake(12.0, 5.0, 1))
    bad = [f.model_copy(update={"hdop": 8.0}) for f in fixes[5:8]]  # the whole braking
    det = VehicleDetectors(HEAVY, CONFIG.detectors.speeding, ZONES, quality=QualityConfig())
    events = [e for f in [*fixes[:5], *bad, *fixes[8:]] for e in det.step(f)] + det.flush()
    assert harsh(events) == []
    assert det.quality_counts.high_hdop == 3


# --- properties: glitches never make a harsh event, real ones still do --------------------


def noisy(m: g.Motion, seed: int, position_sigma_m: float = 3.0) -> list[Fix]:
    rng = np.random.default_rng(seed)
    return g.fixes(m, rng=rng, speed_sigma=0.1, position_sigma_m=position_sigma_m)


classes = st.sampled_from(sorted(CLASSES))
rates = st.sampled_from([1, 10])
seeds = st.integers(0, 2**32 - 1)


@PROPERTY
@given(speed=st.floats(0, 25), course=st.floats(0, 359), rate_hz=rates, seed=seeds, cls=classes)
def test_constant_speed_with_noise_is_never_harsh(
    speed: float, course: float, rate_hz: int, seed: int, cls: str
) -> None:
    fixes = noisy(g.cruise(speed, 40, rate_hz, course0=course), seed)
    assert harsh(run(fixes, CLASSES[cls])) == []


@PROPERTY
@given(jitter=st.floats(0, 0.6), wander_m=st.floats(0, 8), rate_hz=rates, seed=seeds, cls=classes)
def test_parking_drift_is_never_harsh(
    jitter: float, wander_m: float, rate_hz: int, seed: int, cls: str
) -> None:
    # a parked truck: speed jitter, a wandering position and a course that means nothing
    rng = np.random.default_rng(seed)
    fixes = [
        f.model_copy(
            update={
                "speed_mps": float(rng.uniform(0, jitter)),
                "course_deg": float(rng.uniform(0, 360)),
            }
        )
        for f in noisy(g.cruise(0.0, 40, rate_hz), seed, position_sigma_m=wander_m)
    ]
    assert harsh(run(fixes, CLASSES[cls])) == []


def glitched(
    rate_hz: int, speed: float, turning: bool, course0: float, seed: int, glitch: str, size: float
) -> list[Fix]:
    """A steady drive (straight, or a calm turn) with one glitched fix in its middle part:
    ``glitch`` "jump" moves it ``size`` m, "speed" adds ``size`` m/s to its speed, "course"
    adds ``size`` degrees to its course; the direction of a jump comes from ``seed``."""
    yaw_dps = math.degrees(0.8 / speed) if turning else 0.0  # 0.8 m/s^2 lateral
    fixes = noisy(g.motion([(30, 0.0, yaw_dps)], v0=speed, course0=course0, rate_hz=rate_hz), seed)
    rng = np.random.default_rng(seed)
    k = int(rng.integers(5, len(fixes) - 5))
    if glitch == "jump":
        bearing = rng.uniform(0, 2 * math.pi)
        fixes[k] = g.moved(fixes[k], size * math.sin(bearing), size * math.cos(bearing))
    elif glitch == "speed":
        fixes[k] = fixes[k].model_copy(update={"speed_mps": max(speed + size, 0.0)})
    else:
        course = fixes[k].course_deg or 0.0
        fixes[k] = fixes[k].model_copy(update={"course_deg": (course + size) % 360.0})
    return fixes


glitches = st.one_of(
    st.tuples(st.just("jump"), st.floats(50, 500)),
    st.tuples(st.just("speed"), st.floats(2, 20) | st.floats(-20, -2)),
    st.tuples(st.just("course"), st.floats(15, 180) | st.floats(-180, -15)),
)


@PROPERTY
@given(
    rate_hz=rates,
    speed=st.floats(3, 20),
    turning=st.booleans(),
    course0=st.floats(0, 359),
    seed=seeds,
    glitch=glitches,
    cls=classes,
)
def test_a_single_glitched_fix_is_never_harsh(
    rate_hz: int,
    speed: float,
    turning: bool,
    course0: float,
    seed: int,
    glitch: tuple[str, float],
    cls: str,
) -> None:
    fixes = glitched(rate_hz, speed, turning, course0, seed, *glitch)
    assert harsh(run(fixes, CLASSES[cls])) == []


@PROPERTY
@given(v0=st.floats(9, 16), decel=st.floats(4.5, 6.5), rate_hz=rates, seed=seeds, cls=classes)
def test_a_real_harsh_brake_is_still_detected(
    v0: float, decel: float, rate_hz: int, seed: int, cls: str
) -> None:
    events = harsh(run(noisy(g.brake(v0, decel, rate_hz), seed), CLASSES[cls]))
    assert [e.kind for e in events] == [EventKind.HARSH_BRAKING]
    assert events[0].details.peak_mps2 == pytest.approx(decel, abs=1.0)


@pytest.mark.parametrize("rate_hz", [1, 10])
def test_turns_through_the_detectors(rate_hz: int) -> None:
    normal = noisy(g.turn(20 / 3.6, 90, 5, rate_hz), seed=4)
    harsh_turn = noisy(g.turn(40 / 3.6, -90, 2, rate_hz), seed=5)
    assert harsh(run(normal)) == []
    assert [e.kind for e in harsh(run(harsh_turn))] == [EventKind.HARSH_CORNERING]


def shuffled(rate_hz: int, seed: int) -> tuple[list[Fix], list[Fix]]:
    """A drive with a harsh turn, brake and launch, and the same drive as it may arrive:
    neighbours swapped on the way, then exact duplicates and late replays of fixes."""
    segs = [(4, 0, 0), (2, 0, 45), (4, 0, 0), (2.2, -5, 0), (3, 0, 0), (4, 3.2, 0), (3, 0, 0)]
    clean = noisy(g.motion(segs, v0=11.1, course0=0, rate_hz=rate_hz), seed, 2.0)
    rng = np.random.default_rng(seed)
    order, i = list(range(len(clean))), 0
    while i < len(order) - 1:
        if rng.random() < 0.15:
            order[i], order[i + 1] = order[i + 1], order[i]
            i += 1
        i += 1
    arrived = [clean[k] for k in order]
    for _ in range(int(rng.integers(0, 13))):
        at = int(rng.integers(1, len(arrived) + 1))
        arrived.insert(at, arrived[int(rng.integers(0, at))])
    return clean, arrived


@PROPERTY
@given(rate_hz=rates, seed=seeds)
def test_duplicates_and_out_of_order_fixes_do_not_change_the_events(
    rate_hz: int, seed: int
) -> None:
    clean, arrived = shuffled(rate_hz, seed)
    expected = run(clean)
    assert sorted(e.kind for e in expected) == [
        EventKind.HARSH_ACCELERATION,
        EventKind.HARSH_BRAKING,
        EventKind.HARSH_CORNERING,
    ]
    assert run(arrived) == expected


# --- DetectedEvent and to_alert -------------------------------------------------------------


def event(**details: float | str | None) -> DetectedEvent:
    return DetectedEvent(
        kind=EventKind.SPEEDING,
        severity="medium",
        start=T0,
        end=T0 + timedelta(seconds=9),
        lat_deg=IN_ZONE[0],
        lon_deg=IN_ZONE[1],
        details=SpeedingDetails(**details),
    )


def test_event_details_are_frozen() -> None:
    ev = event(max_speed_kmh=43.0, zone_id="zone30-naniwa")
    assert ev.details.max_speed_kmh == 43.0
    with pytest.raises(ValidationError, match="frozen"):
        ev.details.max_speed_kmh = 1.0  # type: ignore[misc]
    assert hash(ev) == hash(event(max_speed_kmh=43.0, zone_id="zone30-naniwa"))
    assert ev != event(max_speed_kmh=44.0, zone_id="zone30-naniwa")
    assert ev.duration_s == 9.0


def test_event_rejects_unknown_kind_and_reversed_times() -> None:
    with pytest.raises(ValueError, match="kind"):
        DetectedEvent("tailgating", "low", T0, T0, 0.0, 0.0, SpeedingDetails())
    with pytest.raises(ValueError, match="before"):
        DetectedEvent(
            EventKind.SPEEDING, "low", T0, T0 - timedelta(seconds=1), 0.0, 0.0, SpeedingDetails()
        )


def test_event_rejects_details_of_another_kind() -> None:
    with pytest.raises(ValueError, match="speeding event takes SpeedingDetails, not HarshDetails"):
        DetectedEvent(EventKind.SPEEDING, "low", T0, T0, 0.0, 0.0, HarshDetails(peak_mps2=4.0))
    with pytest.raises(ValueError, match="takes CorneringDetails, not HarshDetails"):
        DetectedEvent(EventKind.HARSH_CORNERING, "low", T0, T0, 0.0, 0.0, HarshDetails())


def test_to_alert_carries_everything_over() -> None:
    ev = event(max_speed_kmh=43.0, limit_kmh=30.0, zone_id="zone30-naniwa", duration_s=9.0)
    alert = to_alert(ev, "truck-03", "drv-yamamoto")
    assert alert.device_id == "truck-03" and alert.driver_id == "drv-yamamoto"
    assert (alert.kind, alert.severity) == (EventKind.SPEEDING, "medium")
    assert (alert.start_time, alert.end_time) == (ev.start, ev.end)
    assert (alert.lat_deg, alert.lon_deg) == IN_ZONE
    assert alert.details == ev.details
    assert alert.details.model_dump() == {
        "duration_s": 9.0,
        "max_speed_kmh": 43.0,
        "limit_kmh": 30.0,
        "zone_id": "zone30-naniwa",
    }
    assert Alert.model_validate_json(encode(alert)) == alert
    assert to_alert(ev, "truck-03", None).driver_id is None
