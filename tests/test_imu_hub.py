"""The hub's side of edge events on real PostgreSQL: stored once, one alert per episode with
the GNSS detection in either order and across batches, only new alerts published."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from citytrack import wire
from citytrack.alerts import Alert
from citytrack.config import load_config
from hub.pipeline.runner import Pipeline, build_pipeline
from hub.storage import schema
from hub.storage.edge_events import EdgeEventRepository
from hub.storage.fleet import AlertRepository
from tests.hub_messages import T0, fix, inbound

CFG = load_config()
SPEEDS = [11.0] * 10 + [6.0, 1.0, 0.0] + [0.0] * 5  # a harsh stop from fix 10 to fix 12


def event(seq: int, start_s: float, end_s: float, **over: object) -> wire.DrivingEvent:
    fields: dict[str, object] = {
        "device_id": "truck-01",
        "seq": seq,
        "event_kind": "harsh_braking",
        "start_time": T0 + timedelta(seconds=start_s),
        "end_time": T0 + timedelta(seconds=end_s),
        "peak_mps2": 5.2,
        "threshold_mps2": 3.0,
        "lat_deg": 34.6701,
        "lon_deg": 135.4961,
        "speed_mps": 11.0,
    }
    fields.update(over)
    return wire.DrivingEvent.model_validate(fields)


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c)
        yield c


@pytest.fixture
def pipeline() -> Pipeline:
    return build_pipeline(CFG.city, CFG.detectors)


def fixes_batch(pipeline: Pipeline, conn: psycopg.Connection) -> list[Alert]:
    a = pipeline.process(conn, [inbound(fix(i + 1, s)) for i, s in enumerate(SPEEDS[:11])])
    b = pipeline.process(conn, [inbound(fix(i + 12, s)) for i, s in enumerate(SPEEDS[11:])])
    return a.stored_alerts + b.stored_alerts


def test_gps_alert_then_edge_event_is_one_alert_published_once(
    conn: psycopg.Connection, pipeline: Pipeline
) -> None:
    published = fixes_batch(pipeline, conn)
    assert [a.kind for a in published] == ["harsh_braking"]
    batch = pipeline.process(conn, [inbound(event(1, 10.2, 11.6))])
    assert batch.stored_alerts == []  # a merge is not published again
    (alert,) = AlertRepository(conn).query(device_id="truck-01")
    assert alert.details.sources == ("gps", "imu")
    assert alert.details.imu_peak_mps2 == 5.2 and alert.details.imu_seq == 1
    assert pipeline.counters.alerts_merged == 1


def test_edge_event_then_gps_alert_is_one_alert(
    conn: psycopg.Connection, pipeline: Pipeline
) -> None:
    batch = pipeline.process(conn, [inbound(event(1, 10.2, 11.6))])
    assert [(a.kind, a.details.sources) for a in batch.stored_alerts] == [
        ("harsh_braking", ("imu",))
    ]
    assert fixes_batch(pipeline, conn) == []
    (alert,) = AlertRepository(conn).query(device_id="truck-01")
    assert alert.details.sources == ("gps", "imu") and alert.details.gps_peak_mps2 is not None
    assert (alert.lat_deg, alert.driver_id) == (34.6701, "drv-tanaka")


def test_redelivered_events_store_nothing_and_raise_nothing(
    conn: psycopg.Connection, pipeline: Pipeline
) -> None:
    first = pipeline.process(conn, [inbound(event(1, 10.2, 11.6))] * 2)
    again = pipeline.process(conn, [inbound(event(1, 10.2, 11.6))])
    assert len(first.stored_alerts) == 1 and again.stored_alerts == []
    c = pipeline.counters
    assert (c.edge_events_stored, c.edge_event_duplicates, c.alerts) == (1, 2, 1)
    assert EdgeEventRepository(conn).count("truck-01") == 1
    assert len(AlertRepository(conn).query()) == 1


def test_an_edge_event_without_position_is_placed_at_the_nearest_fix_or_not_raised(
    conn: psycopg.Connection, pipeline: Pipeline
) -> None:
    unplaced = event(1, 100.0, 102.0, lat_deg=None, lon_deg=None, event_kind="harsh_cornering")
    batch = pipeline.process(conn, [inbound(unplaced)])
    assert batch.stored_alerts == [] and pipeline.counters.edge_events_unlocated == 1
    pipeline.process(conn, [inbound(fix(30, 8.0))])
    placed = event(2, 31.0, 33.0, lat_deg=None, lon_deg=None, event_kind="harsh_cornering")
    (alert,) = pipeline.process(conn, [inbound(placed)]).stored_alerts
    assert (alert.lat_deg, alert.lon_deg, alert.details.sources) == (34.67, 135.496, ("imu",))
    assert EdgeEventRepository(conn).count() == 2
