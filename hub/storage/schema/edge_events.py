"""Harsh events the vehicles detected themselves."""

from __future__ import annotations

from hub.storage.schema.ddl import Step, sql

_EDGE_EVENTS = """
CREATE TABLE edge_events (
    device_id text NOT NULL,
    seq bigint NOT NULL,
    kind text NOT NULL,
    source text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    peak_mps2 double precision NOT NULL,
    threshold_mps2 double precision NOT NULL,
    direction text,
    lat_deg double precision,
    lon_deg double precision,
    speed_mps double precision,
    ingest_time timestamptz NOT NULL,
    PRIMARY KEY (device_id, seq),
    CHECK (end_time >= start_time)
)
"""


def edge_events_step() -> Step:
    """Harsh events detected on the vehicles (``hub.pipeline.reconcile_alerts``), a plain
    table in both modes: one row per (device_id, seq), so a QoS 1 redelivery inserts nothing."""
    return Step(
        "0012_edge_events",
        sql(
            _EDGE_EVENTS,
            "CREATE INDEX edge_events_device_time_idx ON edge_events (device_id, start_time)",
        ),
    )
