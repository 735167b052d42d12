"""The child watch's tables: schools, stations, tags, children and guardians, passages and
the derived watch events."""

from __future__ import annotations

from hub.storage.schema.ddl import Retention, Step, hypertable, sql

_WATCH_REGISTRY = """
CREATE TABLE schools (
    id text PRIMARY KEY,
    name text NOT NULL,
    ward text NOT NULL,
    lat_deg double precision NOT NULL,
    lon_deg double precision NOT NULL,
    arrival_deadline time NOT NULL,
    school_days smallint[] NOT NULL
);
CREATE TABLE stations (
    id text PRIMARY KEY,
    name text NOT NULL,
    name_ja text NOT NULL DEFAULT '',
    kind text NOT NULL CHECK (kind IN ('school_gate', 'roadside', 'area_boundary', 'mobile')),
    school_id text REFERENCES schools (id),
    ward text NOT NULL,
    lat_deg double precision,
    lon_deg double precision
);
CREATE TABLE children (
    id text PRIMARY KEY,
    name text NOT NULL,
    school_id text NOT NULL REFERENCES schools (id)
);
CREATE TABLE guardians (
    id text PRIMARY KEY,
    name text NOT NULL,
    language text NOT NULL,
    api_token_sha256 text NOT NULL DEFAULT '' CHECK (api_token_sha256 ~ '^([0-9a-f]{64})?$')
);
CREATE INDEX guardians_token_idx ON guardians (api_token_sha256) WHERE api_token_sha256 <> '';
CREATE TABLE guardian_children (
    guardian_id text NOT NULL REFERENCES guardians (id) ON DELETE CASCADE,
    child_id text NOT NULL REFERENCES children (id) ON DELETE CASCADE,
    PRIMARY KEY (guardian_id, child_id)
);
CREATE INDEX guardian_children_child_idx ON guardian_children (child_id);
CREATE TABLE tags (
    id text PRIMARY KEY,
    child_id text NOT NULL REFERENCES children (id) ON DELETE CASCADE,
    kind text NOT NULL,
    trackable boolean NOT NULL
);
CREATE INDEX tags_child_idx ON tags (child_id)
"""


def watch_registry_step() -> Step:
    """Child-watch registry, mirrored from ``[watch]`` by ``hub.storage.watch.WatchRegistry``.

    Tag identity keys are not stored (they stay in the hub's configuration); guardians
    carry only the SHA-256 of their API token.
    """
    return Step("0008_watch_registry", sql(*_WATCH_REGISTRY.split(";")))


_PASSAGES = """
CREATE TABLE passages (
    station_id text NOT NULL,
    seq bigint NOT NULL,
    beacon_kind text NOT NULL,
    beacon_id text NOT NULL,
    tag_id text,
    child_id text,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    closest_time timestamptz NOT NULL,
    peak_rssi_dbm double precision NOT NULL,
    adv_count integer NOT NULL,
    tx_power_dbm smallint,
    lat_deg double precision,
    lon_deg double precision,
    battery_mv integer,
    temperature_c double precision,
    ingest_time timestamptz NOT NULL
)
"""

_WATCH_EVENTS = """
CREATE TABLE watch_events (
    event_id text PRIMARY KEY,
    kind text NOT NULL,
    child_id text NOT NULL,
    time timestamptz NOT NULL,
    station_id text,
    school_id text,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


def passages_step(timescale: bool, retention: Retention) -> Step:
    """Passages (unresolved ones too: tag_id and child_id NULL) and derived watch events.

    Passages are unique on (station_id, seq), on TimescaleDB (station_id, seq,
    closest_time) with a retention policy of ``retention.passages_days``. Watch events
    are a plain table in both modes (a few rows per child and day);
    ``hub.storage.retention.prune`` expires them.
    """
    child_index = (
        "CREATE INDEX passages_child_time_idx ON passages (child_id, closest_time DESC) "
        "WHERE child_id IS NOT NULL"
    )
    events = sql(
        _WATCH_EVENTS,
        "CREATE INDEX watch_events_child_time_idx ON watch_events (child_id, time DESC)",
        "CREATE INDEX watch_events_time_idx ON watch_events (time)",
    )
    if not timescale:
        return Step(
            "0009_passages",
            [
                *sql(
                    _PASSAGES,
                    "CREATE UNIQUE INDEX passages_station_seq_key ON passages (station_id, seq)",
                    child_index,
                    "CREATE INDEX passages_time_brin ON passages USING brin (closest_time)",
                ),
                *events,
            ],
        )
    return Step(
        "0009_passages",
        [
            *sql(_PASSAGES),
            hypertable("passages", "closest_time", "1 day"),
            *sql(
                "CREATE UNIQUE INDEX passages_station_seq_key "
                "ON passages (station_id, seq, closest_time)",
                child_index,
            ),
            (
                "SELECT add_retention_policy('passages', make_interval(days => %s), "
                "if_not_exists => TRUE)",
                (retention.passages_days,),
            ),
            *events,
        ],
    )
