"""VehicleDetectors (harsh + speeding per device), DetectedEvent and its wire form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics.detectors import VehicleDetectors, harsh_events_track
from analytics.events import HARSH_BRAKING, SPEEDING, DetectedEvent, to_alert
from analytics.zones import ZoneIndex
from citytrack.config import load_config
from citytrack.wire import Alert, Fix, encode

CONFIG = load_config()
ZONES = ZoneIndex(CONFIG.city.speed_zones, CONFIG.city.default_road_limit_kmh)
PACKER = CONFIG.city.vehicle_classes["packer_truck"]
T0 = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
IN_ZONE = (34.6620, 135.4985)  # zone30-naniwa, 30 km/h


def detectors() -> VehicleDetectors:
    return VehicleDetectors(PACKER, CONFIG.detectors.speeding, ZONES)


def fix(t_s: float, speed_mps: float | None, device_id: str = "truck-03") -> Fix:
    at = T0 + timedelta(microseconds=round(t_s * 1e6))
    return Fix(
        device_id=device_id,
        seq=1 + round(t_s * 10),
        fix_time=at,
        recv_time=at,
        lat_deg=IN_ZONE[0],
        lon_deg=IN_ZONE[1],
        speed_mps=speed_mps,
    )


def braking_in_zone(rate_hz: int) -> list[Fix]:
    """12.5 m/s (45 km/h) in a 30 km/h zone for 10 s, then a 5 m/s^2 stop, then 5 s still."""
    t = np.arange(0, 17.5, 1 / rate_hz)
    v = np.clip(12.5 - 5 * np.clip(t - 10, 0, None), 0, None)
    return [fix(float(ti), float(vi)) for ti, vi in zip(t, v, strict=True)]


@pytest.mark.parametrize("rate_hz", [1, 10])
def test_braking_while_speeding_gives_both_events(rate_hz: int) -> None:
    det, per_fix = detectors(), []
    for f in braking_in_zone(rate_hz):
        per_fix.append(det.step(f))
    found = [e for events in per_fix for e in events]
    assert sorted(e.kind for e in found) == [HARSH_BRAKING, SPEEDING]
    assert det.flush() == []
    speeding = next(e for e in found if e.kind == SPEEDING)
    assert speeding.details["zone_id"] == "zone30-naniwa"
    assert speeding.start == T0


def test_harsh_events_come_before_speeding_events_of_the_same_fix() -> None:
    # 16 m/s in the zone, a hard but brief slowdown to 12.5 m/s (still over), then a data
    # gap of 6 s, which ends both episodes at the same fix
    track = [fix(i, 16.0) for i in range(7)] + [fix(7, 12.5), fix(13, 12.5)]
    det = detectors()
    per_fix = [det.step(f) for f in track]
    assert [[e.kind for e in events] for events in per_fix if events] == [[HARSH_BRAKING, SPEEDING]]


def test_flush_reports_open_episodes_of_every_detector() -> None:
    det = detectors()
    track = [fix(i, 16.0) for i in range(8)] + [fix(8, 12.5)]
    assert [e for f in track for e in det.step(f)] == []
    assert sorted(e.kind for e in det.flush()) == [HARSH_BRAKING, SPEEDING]
    assert det.flush() == []


def test_a_fix_from_another_device_is_refused() -> None:
    det = detectors()
    det.step(fix(0, 5.0))
    with pytest.raises(ValueError, match="truck-09"):
        det.step(fix(1, 5.0, device_id="truck-09"))


def test_vectorised_agrees_with_the_detectors_on_a_drive() -> None:
    track = braking_in_zone(10)
    det = detectors()
    harsh = [e for f in track for e in det.step(f) if e.kind != SPEEDING]
    harsh += [e for e in det.flush() if e.kind != SPEEDING]
    t = np.array([f.fix_time.timestamp() for f in track])
    v = np.array([f.speed_mps for f in track], dtype=float)
    lat = np.array([f.lat_deg for f in track])
    lon = np.array([f.lon_deg for f in track])
    assert harsh and harsh_events_track(t, v, PACKER, lat, lon) == harsh


# --- DetectedEvent and to_alert -------------------------------------------------------------


def event(**details: float | str | None) -> DetectedEvent:
    return DetectedEvent(
        kind=SPEEDING,
        severity="medium",
        start=T0,
        end=T0 + timedelta(seconds=9),
        lat_deg=IN_ZONE[0],
        lon_deg=IN_ZONE[1],
        details=details,
    )


def test_event_details_are_read_only_and_copied() -> None:
    source: dict[str, float | str | None] = {"max_speed_kmh": 43.0, "zone_id": "zone30-naniwa"}
    ev = event(**source)
    source["max_speed_kmh"] = 99.0
    assert ev.details["max_speed_kmh"] == 43.0
    with pytest.raises(TypeError):
        ev.details["max_speed_kmh"] = 1.0  # type: ignore[index]
    assert hash(ev) == hash(event(max_speed_kmh=43.0, zone_id="zone30-naniwa"))
    assert ev != event(max_speed_kmh=44.0, zone_id="zone30-naniwa")
    assert ev.duration_s == 9.0


def test_event_rejects_unknown_kind_and_reversed_times() -> None:
    with pytest.raises(ValueError, match="kind"):
        DetectedEvent("tailgating", "low", T0, T0, 0.0, 0.0)
    with pytest.raises(ValueError, match="before"):
        DetectedEvent(SPEEDING, "low", T0, T0 - timedelta(seconds=1), 0.0, 0.0)


def test_to_alert_carries_everything_over() -> None:
    ev = event(max_speed_kmh=43.0, limit_kmh=30.0, zone_id="zone30-naniwa", duration_s=9.0)
    alert = to_alert(ev, "truck-03", "drv-yamamoto")
    assert alert.device_id == "truck-03" and alert.driver_id == "drv-yamamoto"
    assert (alert.kind, alert.severity) == (SPEEDING, "medium")
    assert (alert.start_time, alert.end_time) == (ev.start, ev.end)
    assert (alert.lat_deg, alert.lon_deg) == IN_ZONE
    assert alert.details == dict(ev.details)
    assert Alert.model_validate_json(encode(alert)) == alert
    assert to_alert(ev, "truck-03", None).driver_id is None
