"""An alert's details are typed by its kind, and their JSON is what the detectors always wrote.

The expected JSON objects below are what the hub wrote before the details had a model: the
same keys, no added nulls, times as ``datetime.isoformat()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from analytics.driving.reconcile import Finding, edge_alert, reconcile
from citytrack.alerts import Alert, CorneringDetails, HarshDetails, SpeedingDetails, details_model
from citytrack.wire import DrivingEvent, EventKind, encode
from hub.storage import schema
from hub.storage.edge_events import AlertMergeRepository
from hub.storage.fleet import AlertRepository

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)

# what the GNSS detectors wrote (harsh.py, cornering.py, speeding.py)
GNSS_BRAKING = {
    "peak_mps2": 4.973134444444445,
    "threshold_mps2": 3.0,
    "speed_from_mps": 9.027985555555556,
    "speed_to_mps": 0.09723000000000001,
    "duration_s": 2.0,
}
GNSS_CORNERING = {
    "peak_mps2": 3.926875118626314,
    "threshold_mps2": 2.5,
    "speed_mps": 7.738787777777778,
    "turn_deg": 90.06,
    "direction": "right",
    "duration_s": 4.0,
}
GNSS_SPEEDING = {
    "max_speed_kmh": 45.716620000000006,
    "limit_kmh": 30.0,
    "tolerance_kmh": 5.0,
    "zone_id": "zone30-naniwa",
    "zone_kind": "school_zone",
    "duration_s": 15.0,
}
DEFAULT_LIMIT_SPEEDING = {**GNSS_SPEEDING, "zone_id": None, "zone_kind": "default"}
# what edge_alert wrote for an edge event (and, merged, what reconciliation added)
EDGE_CORNERING = {
    "sources": ["imu"],
    "peak_mps2": 4.5,
    "threshold_mps2": 3.0,
    "duration_s": 1.25,
    "imu_peak_mps2": 4.5,
    "imu_start_time": "2026-11-26T07:00:30.250000+00:00",
    "imu_end_time": "2026-11-26T07:00:31.500000+00:00",
    "imu_seq": 3,
    "direction": "left",
    "speed_mps": 7.0,
}
EDGE_THEN_GNSS_BRAKING = {
    "sources": ["gps", "imu"],
    "peak_mps2": 4.5,
    "threshold_mps2": 3.0,
    "duration_s": 1.25,
    "imu_peak_mps2": 4.5,
    "imu_start_time": "2026-11-26T07:00:10.250000+00:00",
    "imu_end_time": "2026-11-26T07:00:11.500000+00:00",
    "imu_seq": 1,
    "speed_mps": 8.5,
    "gps_peak_mps2": 5.1,
    "gps_start_time": "2026-11-26T07:00:10.250000+00:00",
    "gps_end_time": "2026-11-26T07:00:11.500000+00:00",
}
GNSS_THEN_EDGE_ACCELERATION = {
    "peak_mps2": 5.1,
    "threshold_mps2": 3.0,
    "duration_s": 1.0,
    "imu_peak_mps2": 4.5,
    "imu_start_time": "2026-11-26T07:00:20.250000+00:00",
    "imu_end_time": "2026-11-26T07:00:21.500000+00:00",
    "imu_seq": 2,
    "sources": ["gps", "imu"],
}

OLD_SHAPES = [
    ("harsh_braking", GNSS_BRAKING, HarshDetails),
    ("harsh_acceleration", GNSS_BRAKING, HarshDetails),
    ("harsh_cornering", GNSS_CORNERING, CorneringDetails),
    ("speeding", GNSS_SPEEDING, SpeedingDetails),
    ("speeding", DEFAULT_LIMIT_SPEEDING, SpeedingDetails),
    ("harsh_cornering", EDGE_CORNERING, CorneringDetails),
    ("harsh_braking", EDGE_THEN_GNSS_BRAKING, HarshDetails),
    ("harsh_acceleration", GNSS_THEN_EDGE_ACCELERATION, HarshDetails),
    ("harsh_braking", {}, HarshDetails),
]


def alert(kind: str, details: Any = None, start_s: float = 0.0, end_s: float = 2.0) -> Alert:
    fields: dict[str, Any] = {
        "device_id": "truck-01",
        "driver_id": "drv-tanaka",
        "kind": kind,
        "severity": "high",
        "start_time": T0 + timedelta(seconds=start_s),
        "end_time": T0 + timedelta(seconds=end_s),
        "lat_deg": 34.67,
        "lon_deg": 135.49,
    }
    return Alert(**fields) if details is None else Alert(**fields, details=details)


def edge_event(seq: int, kind: str, **extra: Any) -> DrivingEvent:
    return DrivingEvent(
        device_id="truck-01",
        seq=seq,
        event_kind=kind,
        start_time=T0 + timedelta(seconds=10 * seq, microseconds=250000),
        end_time=T0 + timedelta(seconds=10 * seq + 1.5),
        peak_mps2=4.5,
        threshold_mps2=3.0,
        **extra,
    )


def old_json(kind: str, details: Any) -> str:
    """An alert's JSON as the hub stored and published it before the details had a model."""
    return json.dumps({**json.loads(encode(alert(kind))), "details": details})


def all_json_forms(a: Alert) -> list[Any]:
    """The details as the wire, the live alert topic, the HTTP API and the database see them."""
    return [
        json.loads(encode(a))["details"],
        json.loads(a.model_dump_json(exclude_none=True))["details"],  # hub.ingest publishes so
        json.loads(a.model_dump_json())["details"],  # the API's and `alerts --json`'s objects
        a.details.model_dump(mode="json"),  # the jsonb column
    ]


# --- the JSON is the old one ----------------------------------------------------------------


@pytest.mark.parametrize(("kind", "old", "model"), OLD_SHAPES)
def test_old_json_loads_typed_and_writes_back_unchanged(
    kind: str, old: dict[str, Any], model: type
) -> None:
    loaded = Alert.model_validate_json(old_json(kind, old))
    assert type(loaded.details) is model
    assert all_json_forms(loaded) == [old] * 4
    assert Alert.model_validate_json(encode(loaded)) == loaded


def test_producers_write_the_old_json() -> None:
    gnss = alert("harsh_braking", HarshDetails(**GNSS_BRAKING))
    speeding = alert("speeding", SpeedingDetails(**DEFAULT_LIMIT_SPEEDING))
    turn = edge_event(3, "harsh_cornering", direction="left", speed_mps=7.0)
    assert all_json_forms(gnss) == [GNSS_BRAKING] * 4
    assert all_json_forms(speeding) == [DEFAULT_LIMIT_SPEEDING] * 4  # zone_id null stays
    assert all_json_forms(edge_alert(turn, None, 34.67, 135.49)) == [EDGE_CORNERING] * 4

    found = {"peak_mps2": 5.1, "threshold_mps2": 3.0, "duration_s": 1.0}
    braking = edge_alert(edge_event(1, "harsh_braking", speed_mps=8.5), None, 34.67, 135.49)
    gnss = alert("harsh_braking", found, 10.25, 11.5)
    (merged,) = reconcile([], [Finding(braking, "imu"), Finding(gnss, "gps")]).created
    assert all_json_forms(merged) == [EDGE_THEN_GNSS_BRAKING] * 4

    accel = edge_alert(edge_event(2, "harsh_acceleration"), None, 34.67, 135.49)
    gnss = alert("harsh_acceleration", found, 20.25, 21.5)
    (merged,) = reconcile([], [Finding(gnss, "gps"), Finding(accel, "imu")]).created
    assert all_json_forms(merged) == [GNSS_THEN_EDGE_ACCELERATION] * 4


def test_an_alert_without_details_has_the_empty_model_of_its_kind() -> None:
    for kind in EventKind:
        a = alert(kind)
        assert type(a.details) is details_model(kind)
        assert all_json_forms(a) == [{}] * 4


def test_details_read_as_attributes_in_their_units() -> None:
    d = Alert.model_validate_json(old_json("harsh_braking", EDGE_THEN_GNSS_BRAKING)).details
    assert isinstance(d, HarshDetails)
    assert d.sources == ("gps", "imu") and d.imu_seq == 1 and d.speed_mps == 8.5
    assert d.imu_start_time == T0 + timedelta(seconds=10.25)
    assert d.gps_end_time == T0 + timedelta(seconds=11.5)
    assert d.speed_from_mps is None  # an edge event does not measure it
    with pytest.raises(ValidationError, match="frozen"):
        d.imu_seq = 2  # type: ignore[misc]


# --- details of another kind are refused ----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "details", "where"),
    [
        ("harsh_braking", GNSS_SPEEDING, "max_speed_kmh"),
        ("harsh_acceleration", {"turn_deg": 12.0}, "turn_deg"),
        ("harsh_braking", {"direction": "left"}, "direction"),  # only a turn has one
        ("harsh_cornering", GNSS_BRAKING, "speed_from_mps"),
        ("speeding", GNSS_BRAKING, "peak_mps2"),
        ("speeding", {"limit": 30.0}, "limit"),
        ("harsh_cornering", {"direction": "up"}, "direction"),
        ("harsh_braking", {"imu_seq": "seven"}, "imu_seq"),
        ("harsh_braking", {"sources": ["radar"]}, "sources"),
    ],
)
def test_details_that_do_not_fit_the_kind_are_refused(
    kind: str, details: dict[str, Any], where: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        alert(kind, details)
    assert raised.value.errors()[0]["loc"][:2] == ("details", where)
    with pytest.raises(ValidationError):
        Alert.model_validate_json(old_json(kind, details))


def test_a_details_model_of_another_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="harsh_braking alert takes HarshDetails, not Sp"):
        alert("harsh_braking", SpeedingDetails(max_speed_kmh=52.0))
    with pytest.raises(ValidationError, match="harsh_cornering alert takes CorneringDetails"):
        alert("harsh_cornering", HarshDetails(peak_mps2=4.0))
    assert alert("harsh_acceleration", HarshDetails(peak_mps2=4.0)).details.peak_mps2 == 4.0


# --- the database -------------------------------------------------------------------------


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c)
        yield c


def test_alerts_read_back_from_the_database_have_typed_details(conn: psycopg.Connection) -> None:
    repo = AlertRepository(conn)
    written = [
        alert(kind, old, start_s=60.0 * i)
        for i, (kind, old, _) in enumerate(OLD_SHAPES)
        if kind != "harsh_acceleration"  # (device, kind, start) is unique: one of each is enough
    ]
    assert len(repo.insert(written)) == len(written)
    stored = sorted(repo.query(limit=100), key=lambda a: a.start_time)
    assert [type(a.details) for a in stored] == [type(a.details) for a in written]
    assert [a.details for a in stored] == [a.details for a in written]
    assert [all_json_forms(a) for a in stored] == [all_json_forms(a) for a in written]
    speeding = next(a.details for a in stored if a.kind == "speeding")
    assert isinstance(speeding, SpeedingDetails) and speeding.limit_kmh == 30.0


def test_a_row_the_old_code_stored_loads_typed_and_merges(conn: psycopg.Connection) -> None:
    # an edge alert as the hub stored it before the details had a model, written raw
    edge = {**EDGE_THEN_GNSS_BRAKING, "sources": ["imu"]}
    for key in ("gps_peak_mps2", "gps_start_time", "gps_end_time"):
        del edge[key]
    conn.execute(
        "INSERT INTO alerts (device_id, driver_id, kind, severity, start_time, end_time, "
        "lat_deg, lon_deg, details) VALUES ('truck-01', 'drv-tanaka', 'harsh_braking', 'high', "
        "%s, %s, 34.67, 135.49, %s)",
        (T0 + timedelta(seconds=10.25), T0 + timedelta(seconds=11.5), Jsonb(edge)),
    )
    gnss = alert("harsh_braking", {"peak_mps2": 5.1, "threshold_mps2": 3.0}, 10.25, 11.5)
    merges = AlertMergeRepository(conn)
    (known,) = merges.near([gnss])
    assert isinstance(known.details, HarshDetails) and known.details.sources == ("imu",)
    assert known.details.imu_end_time == T0 + timedelta(seconds=11.5)
    plan = reconcile([known], [Finding(gnss, "gps")])
    merges.update_details(known.id, plan.updated[0].details)
    (row,) = conn.execute("SELECT details FROM alerts").fetchall()
    assert row[0] == EDGE_THEN_GNSS_BRAKING
    (again,) = AlertRepository(conn).query()
    assert again.details.gps_start_time == T0 + timedelta(seconds=10.25)
