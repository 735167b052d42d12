"""Collection routing: learned service and travel times, proposals, expected garbage."""

from __future__ import annotations

from hub.storage.schema.ddl import Step, sql

_ROUTE_STATS = """
CREATE TABLE service_times (
    point_id text PRIMARY KEY,
    value_s double precision NOT NULL CHECK (value_s >= 0),
    slope_s_per_kg double precision NOT NULL DEFAULT 0,
    ref_kg double precision NOT NULL DEFAULT 0,
    n_obs integer NOT NULL CHECK (n_obs >= 0),
    method text NOT NULL CHECK (method IN ('median', 'huber', 'default')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE travel_times (
    from_id text NOT NULL,
    to_id text NOT NULL,
    band_start_h smallint NOT NULL CHECK (band_start_h BETWEEN 0 AND 23),
    duration_s double precision NOT NULL CHECK (duration_s >= 0),
    distance_m double precision NOT NULL CHECK (distance_m >= 0),
    n_obs integer NOT NULL CHECK (n_obs >= 1),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (from_id, to_id, band_start_h)
);
CREATE TABLE route_place_proposals (
    proposal_no integer PRIMARY KEY,
    lat_deg double precision NOT NULL,
    lon_deg double precision NOT NULL,
    days integer NOT NULL CHECK (days >= 1),
    dwells integer NOT NULL CHECK (dwells >= 1),
    median_dwell_s double precision NOT NULL,
    first_day date NOT NULL,
    last_day date NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE emissions (
    point_id text NOT NULL,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    kg double precision NOT NULL CHECK (kg >= 0),
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (point_id, weekday)
)
"""


def route_stats_step() -> Step:
    """What ``hub.routes.stats`` learns from stored fixes (service time per collection
    point, travel time per pair of sites and hour band, each with its observation count;
    proposed new points) and the imported expected garbage per point and weekday
    (0 = Monday). Plain tables in both modes: a learning pass replaces them whole."""
    return Step("0014_route_stats", sql(*_ROUTE_STATS.split(";")))
