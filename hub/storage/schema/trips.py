"""Trips and stops per truck, and the watermark of their incremental build."""

from __future__ import annotations

from hub.storage.schema.ddl import Step, sql

_TRIPS = """
CREATE TABLE trips (
    device_id text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    driver_id text,
    duration_s double precision NOT NULL CHECK (duration_s >= 0),
    distance_m double precision NOT NULL CHECK (distance_m >= 0),
    driving_s double precision NOT NULL CHECK (driving_s >= 0),
    max_speed_mps double precision NOT NULL,
    halts integer NOT NULL,
    halted_s double precision NOT NULL,
    start_lat_deg double precision NOT NULL,
    start_lon_deg double precision NOT NULL,
    end_lat_deg double precision NOT NULL,
    end_lon_deg double precision NOT NULL,
    ended_by text NOT NULL CHECK (ended_by IN ('stop', 'gap', 'silence')),
    PRIMARY KEY (device_id, start_time),
    CHECK (end_time >= start_time)
)
"""

_STOPS = """
CREATE TABLE stops (
    device_id text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    driver_id text,
    duration_s double precision NOT NULL CHECK (duration_s >= 0),
    lat_deg double precision NOT NULL,
    lon_deg double precision NOT NULL,
    PRIMARY KEY (device_id, start_time),
    CHECK (end_time >= start_time)
)
"""

_TRIP_BUILDS = """
CREATE TABLE trip_builds (
    device_id text PRIMARY KEY,
    ingest_mark timestamptz,
    fix_mark timestamptz,
    built_at timestamptz NOT NULL DEFAULT now()
)
"""


def trips_step() -> Step:
    """Trips and stops per truck (``hub.storage.trips.TripRepository`` builds them), both modes.

    Plain tables in both modes (tens of rows per truck and day), keyed on (device_id,
    start_time) so a rebuild replaces rather than duplicates; indexed by driver and by
    time for the report, the API and ``prune``. ``trip_builds`` keeps, per device, the
    newest ``fixes.ingest_time`` and ``fix_time`` the last build saw: a fix stored later
    but older than that fix arrived out of order, and its trips are built again.
    """
    return Step(
        "0013_trips",
        sql(
            _TRIPS,
            "CREATE INDEX trips_driver_start_idx ON trips (driver_id, start_time)",
            "CREATE INDEX trips_start_idx ON trips (start_time)",
            _STOPS,
            "CREATE INDEX stops_driver_start_idx ON stops (driver_id, start_time)",
            "CREATE INDEX stops_start_idx ON stops (start_time)",
            _TRIP_BUILDS,
        ),
    )
