"""The hub's database schema: numbered migration steps, TimescaleDB when the server has it.

``upgrade(conn)`` applies, in order, each step not yet recorded in ``schema_migrations``,
one transaction per step (an advisory lock serialises two hubs upgrading at once). The
storage mode is chosen on the first upgrade and recorded with every step, so a database
keeps its mode even if TimescaleDB is installed on the server later.

Two modes, one set of tables (``vehicles``, ``drivers``, ``device_status``, ``fixes``,
``alerts``, ``dead_letters``):

* **TimescaleDB** (the extension is available *and* preloaded): ``CREATE EXTENSION
  timescaledb``; ``fixes`` (on ``fix_time``, 1-day chunks), ``alerts`` (on
  ``start_time``, 30-day chunks) and ``dead_letters`` (on ``received_at``, 1-day chunks)
  are hypertables. A unique index on a hypertable must contain its time column, so fixes
  are unique on (device_id, seq, fix_time): a replayed fix carries the same fix_time and
  still deduplicates. Fixes are compressed (segment by device_id, order by fix_time) by a
  policy after ``compress_after_days``; retention policies drop fix chunks after
  ``fixes_days`` and dead-letter chunks after ``dead_letters_days``. Alerts are kept.
  (This path is written for TimescaleDB >= 2.11 and not exercised by the test suite,
  which runs on PostgreSQL without the extension; the tests only check that its SQL
  parses.)
* **Plain PostgreSQL**: ordinary tables, fixes unique on (device_id, seq), a BRIN index on
  ``fix_time``; nothing expires by itself, ``prune`` does the retention's job (run it
  daily).

Fixes, statuses and alerts name their device without a foreign key to ``vehicles``: a
device missing from the registry still has its data kept.

Errors: ``hub.storage.fleet.MigrationError`` (a step failed, or ``conn`` is inside a transaction)
and ``hub.storage.fleet.StoreUnavailableError`` / ``StoreRejectedError`` from ``prune``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import pq

from hub.storage.fleet import Connection, MigrationError, translate_errors

log = logging.getLogger(__name__)

FIXES_RETENTION_DAYS = 400
DEAD_LETTERS_RETENTION_DAYS = 30
COMPRESS_AFTER_DAYS = 7
PASSAGES_RETENTION_DAYS = 30
_LOCK_KEY = 0x63697479  # "city": pg_advisory_xact_lock key for schema changes


@dataclass(frozen=True)
class Retention:
    """How long rows are kept, days (TimescaleDB policies, or ``prune`` arguments)."""

    fixes_days: int = FIXES_RETENTION_DAYS
    dead_letters_days: int = DEAD_LETTERS_RETENTION_DAYS
    compress_after_days: int = COMPRESS_AFTER_DAYS
    passages_days: int = PASSAGES_RETENTION_DAYS  # child watch: [watch] retention_days

    def __post_init__(self) -> None:
        for name in ("fixes_days", "dead_letters_days", "compress_after_days", "passages_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 day, got {getattr(self, name)}")


Statement = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class Step:
    """One migration step: its name (``NNNN_what``) and the SQL for the chosen mode."""

    name: str
    statements: list[Statement] = field(default_factory=list)


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


def _sql(*statements: str) -> list[Statement]:
    return [(s.strip(), ()) for s in statements if s.strip()]


def _hypertable(table: str, column: str, chunk: str) -> Statement:
    query = (
        f"SELECT create_hypertable('{table}', '{column}', "
        f"chunk_time_interval => INTERVAL '{chunk}', if_not_exists => TRUE)"
    )
    return query, ()


def _fixes_step(timescale: bool) -> Step:
    if not timescale:
        return Step(
            "0003_fixes",
            _sql(
                _FIXES,
                "CREATE UNIQUE INDEX fixes_device_seq_key ON fixes (device_id, seq)",
                "CREATE INDEX fixes_device_time_idx ON fixes (device_id, fix_time DESC)",
                "CREATE INDEX fixes_time_brin ON fixes USING brin (fix_time)",
            ),
        )
    return Step(
        "0003_fixes",
        [
            *_sql(_FIXES),
            _hypertable("fixes", "fix_time", "1 day"),
            *_sql(
                "CREATE UNIQUE INDEX fixes_device_seq_key ON fixes (device_id, seq, fix_time)",
                "CREATE INDEX fixes_device_time_idx ON fixes (device_id, fix_time DESC)",
            ),
        ],
    )


def _alerts_step(timescale: bool) -> Step:
    indexes = _sql(
        "CREATE UNIQUE INDEX alerts_device_kind_start_key ON alerts (device_id, kind, start_time)",
        "CREATE INDEX alerts_start_idx ON alerts (start_time DESC)",
        "CREATE INDEX alerts_kind_start_idx ON alerts (kind, start_time DESC)",
    )
    if not timescale:
        return Step(
            "0004_alerts", [*_sql(_ALERTS, "ALTER TABLE alerts ADD PRIMARY KEY (id)"), *indexes]
        )
    return Step(
        "0004_alerts",
        [
            *_sql(_ALERTS),
            _hypertable("alerts", "start_time", "30 days"),
            *_sql("ALTER TABLE alerts ADD PRIMARY KEY (id, start_time)"),
            *indexes,
        ],
    )


def _dead_letters_step(timescale: bool) -> Step:
    index = "CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC)"
    if not timescale:
        return Step(
            "0005_dead_letters",
            _sql(_DEAD_LETTERS, "ALTER TABLE dead_letters ADD PRIMARY KEY (id)", index),
        )
    return Step(
        "0005_dead_letters",
        [
            *_sql(_DEAD_LETTERS),
            _hypertable("dead_letters", "received_at", "1 day"),
            *_sql("ALTER TABLE dead_letters ADD PRIMARY KEY (id, received_at)", index),
        ],
    )


def _policies_step(timescale: bool, retention: Retention) -> Step:
    if not timescale:
        return Step("0006_retention")  # plain PostgreSQL: prune() does this job
    days = "make_interval(days => %s)"
    return Step(
        "0006_retention",
        [
            *_sql(
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


def steps(timescale: bool, retention: Retention | None = None) -> list[Step]:
    """Every migration step, in order, for one storage mode."""
    retention = retention or Retention()
    extension = _sql("CREATE EXTENSION IF NOT EXISTS timescaledb") if timescale else []
    return [
        Step("0001_extensions", extension),
        Step("0002_registry", _sql(*_REGISTRY.split(";"))),
        _fixes_step(timescale),
        _alerts_step(timescale),
        _dead_letters_step(timescale),
        _policies_step(timescale, retention),
        _notifications_step(),
        _watch_registry_step(),
        _passages_step(timescale, retention),
        _drivers_step(),
        _edge_events_step(),
        _trips_step(),
        _route_stats_step(),
    ]


def _timescale_available(conn: Connection) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),"
        " current_setting('shared_preload_libraries')"
    ).fetchone()
    return bool(row and row[0] and "timescaledb" in str(row[1]))


def _applied(conn: Connection) -> dict[str, bool]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name text PRIMARY KEY, timescale boolean NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    rows = conn.execute("SELECT name, timescale FROM schema_migrations").fetchall()
    return {str(name): bool(ts) for name, ts in rows}


def _mode(conn: Connection, timescale: bool | None) -> bool:
    try:
        with conn.transaction():  # detection inside too: leave no implicit transaction open
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            applied = _applied(conn)
            detected = _timescale_available(conn) if timescale is None and not applied else False
    except psycopg.Error as exc:
        raise MigrationError("0000_schema_migrations", str(exc).strip()) from exc
    if not applied:
        return detected if timescale is None else timescale
    recorded = next(iter(applied.values()))
    if timescale is not None and timescale != recorded:
        raise MigrationError("mode", f"database was created with timescale={recorded}")
    return recorded


def _apply(conn: Connection, step: Step, timescale: bool) -> bool:
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            if step.name in _applied(conn):
                return False  # another process applied it while we waited for the lock
            for query, params in step.statements:
                conn.execute(query.encode(), params)  # bytes: plain SQL, not a LiteralString
            conn.execute(
                "INSERT INTO schema_migrations (name, timescale) VALUES (%s, %s)",
                (step.name, timescale),
            )
    except psycopg.Error as exc:
        raise MigrationError(step.name, str(exc).strip()) from exc
    return True


def upgrade(
    conn: Connection, *, timescale: bool | None = None, retention: Retention | None = None
) -> list[str]:
    """Apply the steps not yet applied; returns their names (empty when up to date).

    Args:
        conn: a connection outside any transaction; every step commits on its own.
        timescale: force the storage mode on a new database (None: detect). On a
            database already upgraded the recorded mode is used.
        retention: policy lengths for TimescaleDB (ignored on plain PostgreSQL).

    Raises:
        MigrationError: ``conn`` is inside a transaction, the mode asked for differs
            from the recorded one, or a step failed (that step is rolled back, the ones
            before it stay applied).
    """
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise MigrationError("start", "connection is inside a transaction")
    mode = _mode(conn, timescale)
    done: list[str] = []
    for step in steps(mode, retention):
        if _apply(conn, step, mode):
            log.info("applied schema step %s (timescale=%s)", step.name, mode)
            done.append(step.name)
    return done


@dataclass(frozen=True)
class PruneResult:
    """Rows deleted by ``prune``."""

    fixes: int
    dead_letters: int
    trips: int = 0
    stops: int = 0


@translate_errors("prune")
def prune(
    conn: Connection,
    older_than_days: float = FIXES_RETENTION_DAYS,
    *,
    dead_letters_older_than_days: float = DEAD_LETTERS_RETENTION_DAYS,
    now: datetime | None = None,
) -> PruneResult:
    """Delete fixes with ``fix_time`` and dead letters with ``received_at`` before the cutoffs,
    and trips and stops starting before the fixes' cutoff (they go with their fixes).

    The plain-PostgreSQL stand-in for TimescaleDB's retention policies (on a hypertable it
    still works, row by row). Runs in the caller's transaction; ``now`` (aware) defaults
    to the database clock.

    Raises:
        ValueError: a negative age or a naive ``now``.
        StoreUnavailableError, StoreRejectedError: the database failed.
    """
    if older_than_days < 0 or dead_letters_older_than_days < 0:
        raise ValueError("retention ages must be >= 0 days")
    if now is not None and now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    if now is None:
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        now = row[0]
    assert now is not None
    cutoff = now - timedelta(days=older_than_days)
    fixes = conn.execute("DELETE FROM fixes WHERE fix_time < %s", (cutoff,)).rowcount
    dead = conn.execute(
        "DELETE FROM dead_letters WHERE received_at < %s",
        (now - timedelta(days=dead_letters_older_than_days),),
    ).rowcount
    trips = conn.execute("DELETE FROM trips WHERE start_time < %s", (cutoff,)).rowcount
    stops = conn.execute("DELETE FROM stops WHERE start_time < %s", (cutoff,)).rowcount
    return PruneResult(fixes=fixes, dead_letters=dead, trips=trips, stops=stops)


# --- child watch ----------------------------------------------------------------------------

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


def _watch_registry_step() -> Step:
    """Child-watch registry, mirrored from ``[watch]`` by ``hub.storage.watch.WatchRegistry``.

    Tag identity keys are not stored (they stay in the hub's configuration); guardians
    carry only the SHA-256 of their API token.
    """
    return Step("0008_watch_registry", _sql(*_WATCH_REGISTRY.split(";")))


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


def _passages_step(timescale: bool, retention: Retention) -> Step:
    """Passages (unresolved ones too: tag_id and child_id NULL) and derived watch events.

    Passages are unique on (station_id, seq), on TimescaleDB (station_id, seq,
    closest_time) with a retention policy of ``retention.passages_days``. Watch events
    are a plain table in both modes (a few rows per child and day);
    ``hub.storage.watch.prune`` expires them.
    """
    child_index = (
        "CREATE INDEX passages_child_time_idx ON passages (child_id, closest_time DESC) "
        "WHERE child_id IS NOT NULL"
    )
    events = _sql(
        _WATCH_EVENTS,
        "CREATE INDEX watch_events_child_time_idx ON watch_events (child_id, time DESC)",
        "CREATE INDEX watch_events_time_idx ON watch_events (time)",
    )
    if not timescale:
        return Step(
            "0009_passages",
            [
                *_sql(
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
            *_sql(_PASSAGES),
            _hypertable("passages", "closest_time", "1 day"),
            *_sql(
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


# --- guardian notifications ---------------------------------------------------------------

_NOTIFICATIONS = """
CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL,
    guardian_id text NOT NULL,
    child_id text,
    channel text NOT NULL,
    recipient text NOT NULL,
    kind text NOT NULL,
    station_id text,
    school_id text,
    event_time timestamptz NOT NULL,
    subject text NOT NULL DEFAULT '',
    text text NOT NULL,
    status text NOT NULL
        CHECK (status IN ('queued', 'delivered', 'failed', 'dropped', 'deferred')),
    reason text NOT NULL DEFAULT '',
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    retry_key uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    due_at timestamptz NOT NULL,
    handed_at timestamptz,
    delivered_at timestamptz,
    CONSTRAINT notifications_event_guardian_channel_key UNIQUE (event_id, guardian_id, channel)
)
"""


def _notifications_step() -> Step:
    """Guardian notices (``hub.storage.notifications``), a plain table in both modes.

    Unique on (event_id, guardian_id, channel): re-processing an event adds nothing. The
    partial index serves the delivery worker's "due now" scan.
    """
    return Step(
        "0007_notifications",
        _sql(
            _NOTIFICATIONS,
            "CREATE INDEX notifications_due_idx ON notifications (due_at) "
            "WHERE status IN ('queued', 'deferred')",
            "CREATE INDEX notifications_guardian_idx ON notifications (guardian_id, created_at)",
        ),
    )


# --- drivers: attribution and daily rollups -------------------------------------------------

_DRIVER_SHIFTS = """
CREATE TABLE driver_shifts (
    device_id text NOT NULL,
    driver_id text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    PRIMARY KEY (device_id, start_time),
    CHECK (end_time IS NULL OR end_time > start_time)
)
"""

_DRIVER_DAILY = """
CREATE TABLE driver_daily (
    timezone text NOT NULL,
    day date NOT NULL,
    driver_id text NOT NULL,
    device_id text NOT NULL,
    km double precision NOT NULL,
    driving_s double precision NOT NULL,
    speeding_s double precision NOT NULL,
    events jsonb NOT NULL DEFAULT '{}',
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (timezone, day, driver_id, device_id)
)
"""

_GEO_DISTANCE = """
CREATE FUNCTION geo_distance_m(lat1 float8, lon1 float8, lat2 float8, lon2 float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 2 * 6371008.8 * asin(sqrt(
        sin(radians(lat2 - lat1) / 2) ^ 2
        + cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ^ 2))
$$
"""

_SHIFT_DRIVER_AT = """
CREATE FUNCTION shift_driver_at(p_device text, p_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT driver_id FROM driver_shifts
    WHERE device_id = p_device AND start_time <= p_at AND (end_time IS NULL OR p_at < end_time)
    ORDER BY start_time DESC LIMIT 1
$$
"""

_DRIVER_AT = """
CREATE FUNCTION driver_at(p_device text, p_at timestamptz, p_card text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        NULLIF(p_card, ''),
        shift_driver_at(p_device, p_at),
        (SELECT driver_id FROM vehicles WHERE device_id = p_device))
$$
"""

# The same rule as driver_at, set-based: a lateral index probe per fix is ~10x faster than
# a function call per fix.
_DRIVER_FIXES = """
CREATE VIEW driver_fixes AS
SELECT f.device_id, f.seq, f.fix_time, f.lat_deg, f.lon_deg, f.speed_mps, f.course_deg,
       f.quality, f.sats_used, f.hdop, f.driver_id AS card_driver_id,
       COALESCE(NULLIF(f.driver_id, ''), s.driver_id, v.driver_id) AS driver_id
FROM fixes f
LEFT JOIN vehicles v ON v.device_id = f.device_id
LEFT JOIN LATERAL (
    SELECT ds.driver_id FROM driver_shifts ds
    WHERE ds.device_id = f.device_id AND ds.start_time <= f.fix_time
      AND (ds.end_time IS NULL OR f.fix_time < ds.end_time)
    ORDER BY ds.start_time DESC LIMIT 1
) s ON TRUE
"""

# An alert belongs to the driver of the fix it started on (its truck's newest fix at most
# 60 s before its start), else to driver_at without a card.
_DRIVER_ALERTS = """
CREATE VIEW driver_alerts AS
SELECT a.id, a.device_id, a.kind, a.severity, a.start_time, a.end_time, a.lat_deg, a.lon_deg,
       a.details, a.driver_id AS recorded_driver_id,
       COALESCE(f.driver_id, driver_at(a.device_id, a.start_time, NULL)) AS driver_id
FROM alerts a
LEFT JOIN LATERAL (
    SELECT df.driver_id FROM driver_fixes df
    WHERE df.device_id = a.device_id AND df.fix_time <= a.start_time
      AND df.fix_time > a.start_time - interval '60 seconds'
    ORDER BY df.fix_time DESC, df.seq DESC LIMIT 1
) f ON TRUE
"""


def _drivers_step() -> Step:
    """Who drove which truck when (``hub.storage.drivers`` documents the rule), in both modes.

    ``fixes.driver_id`` holds the card the unit read; ``driver_shifts`` the roster
    (``[[city.roster]]``, synced by ``hub.storage.drivers.RosterRepository``). ``driver_at``
    applies the rule to one time; the views ``driver_fixes`` and ``driver_alerts``
    attribute every fix and alert (an alert: the driver of its truck's newest fix at
    most 60 s before its start). ``driver_daily`` is the per-day rollup that
    ``hub.storage.drivers.DriverStatsRepository.refresh_daily`` fills: a plain table in both
    modes, since a TimescaleDB continuous aggregate admits neither the window functions
    that measure distance nor the roster lookup (only immutable functions).
    """
    return Step(
        "0011_drivers",
        _sql(
            "ALTER TABLE fixes ADD COLUMN driver_id text",
            _DRIVER_SHIFTS,
            _DRIVER_DAILY,
            "CREATE INDEX driver_daily_driver_idx ON driver_daily (driver_id, day)",
            _GEO_DISTANCE,
            _SHIFT_DRIVER_AT,
            _DRIVER_AT,
            _DRIVER_FIXES,
            _DRIVER_ALERTS,
        ),
    )


# --- edge events ----------------------------------------------------------------------------

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


def _edge_events_step() -> Step:
    """Harsh events detected on the vehicles (``hub.pipeline.reconcile_alerts``), a plain
    table in both modes: one row per (device_id, seq), so a QoS 1 redelivery inserts nothing."""
    return Step(
        "0012_edge_events",
        _sql(
            _EDGE_EVENTS,
            "CREATE INDEX edge_events_device_time_idx ON edge_events (device_id, start_time)",
        ),
    )


# --- trips and stops ------------------------------------------------------------------------

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


def _trips_step() -> Step:
    """Trips and stops per truck (``hub.storage.trips.TripRepository`` builds them), both modes.

    Plain tables in both modes (tens of rows per truck and day), keyed on (device_id,
    start_time) so a rebuild replaces rather than duplicates; indexed by driver and by
    time for the report, the API and ``prune``. ``trip_builds`` keeps, per device, the
    newest ``fixes.ingest_time`` and ``fix_time`` the last build saw: a fix stored later
    but older than that fix arrived out of order, and its trips are built again.
    """
    return Step(
        "0013_trips",
        _sql(
            _TRIPS,
            "CREATE INDEX trips_driver_start_idx ON trips (driver_id, start_time)",
            "CREATE INDEX trips_start_idx ON trips (start_time)",
            _STOPS,
            "CREATE INDEX stops_driver_start_idx ON stops (driver_id, start_time)",
            "CREATE INDEX stops_start_idx ON stops (start_time)",
            _TRIP_BUILDS,
        ),
    )


# --- collection routing: learned service and travel times ---------------------------------

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


def _route_stats_step() -> Step:
    """What ``hub.routes.stats`` learns from stored fixes (service time per collection
    point, travel time per pair of sites and hour band, each with its observation count;
    proposed new points) and the imported expected garbage per point and weekday
    (0 = Monday). Plain tables in both modes: a learning pass replaces them whole."""
    return Step("0014_route_stats", _sql(*_ROUTE_STATS.split(";")))
