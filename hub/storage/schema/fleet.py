"""The fleet's tables: the registry of drivers and vehicles, device status, fixes, alerts and
dead letters, and TimescaleDB's compression and retention policies for them."""

from __future__ import annotations

from hub.storage.schema.ddl import Retention, Step, hypertable, sql

_REGISTRY = """
CREATE TABLE drivers (id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE vehicles (
    device_id text PRIMARY KEY,
    name text NOT NULL,
    driver_id text REFERENCES drivers (id),
    vehicle_class text NOT NULL
);
CREATE TABLE device_status (
    device_id text PRIMARY KEY,
    online boolean NOT NULL,
    status_time timestamptz NOT NULL,
    counters jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""

_FIXES = """
CREATE TABLE fixes (
    device_id text NOT NULL,
    seq bigint NOT NULL,
    fix_time timestamptz NOT NULL,
    recv_time timestamptz NOT NULL,
    ingest_time timestamptz NOT NULL,
    lat_deg double precision NOT NULL,
    lon_deg double precision NOT NULL,
    speed_mps double precision,
    course_deg double precision,
    alt_m double precision,
    quality smallint,
    mode smallint,
    sats_used smallint,
    hdop double precision,
    pdop double precision,
    vdop double precision
)
"""

_ALERTS = """
CREATE TABLE alerts (
    id bigserial NOT NULL,
    device_id text NOT NULL,
    driver_id text,
    kind text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    lat_deg double precision NOT NULL,
    lon_deg double precision NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
)
"""

_DEAD_LETTERS = """
CREATE TABLE dead_letters (
    id bigserial NOT NULL,
    received_at timestamptz NOT NULL,
    topic text NOT NULL,
    payload bytea NOT NULL,
    reason text NOT NULL
)
"""


def registry_step() -> Step:
    return Step("0002_registry", sql(*_REGISTRY.split(";")))


def fixes_step(timescale: bool) -> Step:
    if not timescale:
        return Step(
            "0003_fixes",
            sql(
                _FIXES,
                "CREATE UNIQUE INDEX fixes_device_seq_key ON fixes (device_id, seq)",
                "CREATE INDEX fixes_device_time_idx ON fixes (device_id, fix_time DESC)",
                "CREATE INDEX fixes_time_brin ON fixes USING brin (fix_time)",
            ),
        )
    return Step(
        "0003_fixes",
        [
            *sql(_FIXES),
            hypertable("fixes", "fix_time", "1 day"),
            *sql(
                "CREATE UNIQUE INDEX fixes_device_seq_key ON fixes (device_id, seq, fix_time)",
                "CREATE INDEX fixes_device_time_idx ON fixes (device_id, fix_time DESC)",
            ),
        ],
    )


def alerts_step(timescale: bool) -> Step:
    indexes = sql(
        "CREATE UNIQUE INDEX alerts_device_kind_start_key ON alerts (device_id, kind, start_time)",
        "CREATE INDEX alerts_start_idx ON alerts (start_time DESC)",
        "CREATE INDEX alerts_kind_start_idx ON alerts (kind, start_time DESC)",
    )
    if not timescale:
        return Step(
            "0004_alerts", [*sql(_ALERTS, "ALTER TABLE alerts ADD PRIMARY KEY (id)"), *indexes]
        )
    return Step(
        "0004_alerts",
        [
            *sql(_ALERTS),
            hypertable("alerts", "start_time", "30 days", default_indexes=False),
            *sql("ALTER TABLE alerts ADD PRIMARY KEY (id, start_time)"),
            *indexes,
        ],
    )


def dead_letters_step(timescale: bool) -> Step:
    index = "CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC)"
    if not timescale:
        return Step(
            "0005_dead_letters",
            sql(_DEAD_LETTERS, "ALTER TABLE dead_letters ADD PRIMARY KEY (id)", index),
        )
    return Step(
        "0005_dead_letters",
        [
            *sql(_DEAD_LETTERS),
            hypertable("dead_letters", "received_at", "1 day", default_indexes=False),
            *sql("ALTER TABLE dead_letters ADD PRIMARY KEY (id, received_at)", index),
        ],
    )


def policies_step(timescale: bool, retention: Retention) -> Step:
    if not timescale:
        return Step("0006_retention")  # plain PostgreSQL: prune() does this job
    days = "make_interval(days => %s)"
    return Step(
        "0006_retention",
        [
            *sql(
                "ALTER TABLE fixes SET (timescaledb.compress, "
                "timescaledb.compress_segmentby = 'device_id', "
                "timescaledb.compress_orderby = 'fix_time DESC, seq DESC')"
            ),
            (
                f"SELECT add_compression_policy('fixes', {days}, if_not_exists => TRUE)",
                (retention.compress_after_days,),
            ),
            (
                f"SELECT add_retention_policy('fixes', {days}, if_not_exists => TRUE)",
                (retention.fixes_days,),
            ),
            (
                f"SELECT add_retention_policy('dead_letters', {days}, if_not_exists => TRUE)",
                (retention.dead_letters_days,),
            ),
        ],
    )


_FIX_SEQ_DAYS = """
CREATE TABLE fix_seq_days (
    device_id text NOT NULL,
    day timestamptz NOT NULL,
    min_seq bigint NOT NULL,
    max_seq bigint NOT NULL,
    PRIMARY KEY (device_id, day),
    CHECK (min_seq <= max_seq)
)
"""


def fix_seq_days_step() -> Step:
    """Where each device's seqs are stored: per device and UTC day (``day``, its start),
    the lowest and highest seq among its stored fixes, so that a fix is looked up by
    (device_id, seq) in the days that can hold it, not in every chunk of the hypertable.

    (device_id, seq) is a fix's identity in both modes (``hub.storage.fleet.FixRepository``
    checks it through this table); on TimescaleDB no unique index can say so, since one
    must contain ``fix_time``. A plain table in both modes, filled from the fixes already
    stored.
    """
    return Step(
        "0015_fix_seq_days",
        sql(
            _FIX_SEQ_DAYS,
            "CREATE INDEX fix_seq_days_device_max_idx ON fix_seq_days (device_id, max_seq)",
            "INSERT INTO fix_seq_days (device_id, day, min_seq, max_seq) "
            "SELECT device_id, date_trunc('day', fix_time, 'UTC'), min(seq), max(seq) "
            "FROM fixes GROUP BY 1, 2",
        ),
    )


def default_indexes_step(timescale: bool) -> Step:
    """TimescaleDB made its default (time DESC) index on ``alerts`` and ``dead_letters``
    before ``create_default_indexes => FALSE`` was passed; each duplicates the step's own
    index on the same column. Drop them (no-op on databases created since)."""
    if not timescale:
        return Step("0016_hypertable_default_indexes")
    return Step(
        "0016_hypertable_default_indexes",
        sql(
            "DROP INDEX IF EXISTS alerts_start_time_idx",
            "DROP INDEX IF EXISTS dead_letters_received_at_idx",
        ),
    )
