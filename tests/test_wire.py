"""The wire contract: topics, validation, and what is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citytrack import wire

T = datetime(2026, 11, 26, 7, 42, tzinfo=UTC)
FIX_TOPIC = "citytrack/v1/vehicle/truck-01/fix"


def fix(**over: object) -> wire.Fix:
    fields: dict[str, object] = {
        "device_id": "truck-01",
        "seq": 7,
        "fix_time": T,
        "recv_time": T,
        "lat_deg": 34.66,
        "lon_deg": 135.50,
        "speed_mps": 8.3,
        "hdop": 0.9,
    }
    fields.update(over)
    return wire.Fix.model_validate(fields)


def test_topics_round_trip() -> None:
    topic = wire.topic_for(wire.Role.VEHICLE, "truck-01", wire.Kind.FIX)
    assert topic == FIX_TOPIC
    assert wire.parse_topic(topic) == (wire.Role.VEHICLE, "truck-01", wire.Kind.FIX)
    assert wire.subscription(wire.Role.STATION) == "citytrack/v1/station/+/+"


@pytest.mark.parametrize(
    "topic",
    [
        "citytrack/v2/vehicle/truck-01/fix",
        "citytrack/v1/vehicle/truck-01",
        "other/v1/vehicle/a/fix",
        "citytrack/v1/lorry/truck-01/fix",
        "citytrack/v1/vehicle/truck-01/selfie",
    ],
)
def test_foreign_topics_are_refused(topic: str) -> None:
    with pytest.raises(wire.ContractError) as err:
        wire.parse_topic(topic)
    assert err.value.topic == topic


def test_fix_round_trips_with_schema_version_and_no_nulls() -> None:
    body = wire.encode(fix(alt_m=None))
    doc = json.loads(body)
    assert doc["schema"] == 1 and doc["kind"] == "fix" and "alt_m" not in doc
    assert wire.decode(FIX_TOPIC, body) == fix(alt_m=None)


def test_device_may_speak_only_as_itself() -> None:
    body = wire.encode(fix(device_id="truck-02"))
    with pytest.raises(wire.ContractError, match="differs from topic"):
        wire.decode(FIX_TOPIC, body)


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"not json", "invalid fix"),
        (b'{"schema": 2}', "schema"),
        (wire.encode(fix()).replace(b'"seq":7', b'"seq":0'), "seq"),
        (wire.encode(fix()).replace(b'"lat_deg":34.66', b'"lat_deg":134.66'), "lat_deg"),
        (wire.encode(fix()).replace(b'"kind":"fix"', b'"kind":"fix","colour":"red"'), "colour"),
        (wire.encode(fix()).replace(b"2026-11-26T07:42:00Z", b"2026-11-26T07:42:00"), "fix_time"),
    ],
)
def test_invalid_payloads_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(wire.ContractError) as err:
        wire.decode(FIX_TOPIC, body)
    assert reason in err.value.reason


def test_each_role_sends_only_its_own_kinds() -> None:
    with pytest.raises(wire.ContractError, match="a vehicle does not send 'passage'"):
        wire.decode("citytrack/v1/vehicle/truck-01/passage", b"{}")
    with pytest.raises(wire.ContractError, match="a station does not send 'fix'"):
        wire.decode("citytrack/v1/station/gate-1/fix", wire.encode(fix(device_id="gate-1")))


def passage(**over: object) -> wire.Passage:
    fields: dict[str, object] = {
        "device_id": "gate-1",
        "seq": 3,
        "beacon_kind": "eddystone_eid",
        "beacon_id": "4144413e45fefa58",
        "first_seen": T,
        "last_seen": T,
        "closest_time": T,
        "peak_rssi_dbm": -61.5,
        "adv_count": 9,
    }
    fields.update(over)
    return wire.Passage.model_validate(fields)


def test_passage_and_sighting_round_trip() -> None:
    p = passage()
    assert wire.decode("citytrack/v1/station/gate-1/passage", wire.encode(p)) == p
    s = wire.Sighting.model_validate(
        {**p.model_dump(), "kind": "sighting", "lat_deg": 34.66, "lon_deg": 135.5}
    )
    assert wire.decode("citytrack/v1/station/gate-1/sighting", wire.encode(s)) == s


def test_sighting_needs_the_detector_position_and_passage_times_in_order() -> None:
    body = wire.encode(passage()).replace(b'"kind":"passage"', b'"kind":"sighting"')
    with pytest.raises(wire.ContractError, match="lat_deg"):
        wire.decode("citytrack/v1/station/gate-1/sighting", body)
    late = wire.encode(passage()).replace(
        b'"closest_time":"2026-11-26T07', b'"closest_time":"2026-11-26T08'
    )
    with pytest.raises(wire.ContractError, match="first_seen <= closest_time"):
        wire.decode("citytrack/v1/station/gate-1/passage", late)


@given(st.binary(max_size=300))
def test_no_payload_crashes_decode(body: bytes) -> None:
    try:
        wire.decode(FIX_TOPIC, body)
    except wire.ContractError:
        pass
