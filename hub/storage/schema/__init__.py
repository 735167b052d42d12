"""The hub's database schema: numbered migration steps, TimescaleDB when the server has it.

``steps`` below is the one ordered list; each feature's tables are in a module of this
package (``fleet``, ``watch``, ``notifications``, ``drivers``, ``edge_events``, ``trips``,
``routes``), their building blocks in ``ddl``.

``upgrade(conn)`` applies, in order, each step not yet recorded in ``schema_migrations``,
one transaction per step (an advisory lock serialises two hubs upgrading at once). The
storage mode is chosen on the first upgrade and recorded with every step, so a database
keeps its mode even if TimescaleDB is installed on the server later.

Two modes, one set of tables (``vehicles``, ``drivers``, ``device_status``, ``fixes``,
``alerts``, ``dead_letters``):

* **TimescaleDB** (the extension is installed in the database, or available *and*
  preloaded; asked in ways any role may, see ``timescale_available``): ``CREATE EXTENSION
  timescaledb`` (a role that may not create it needs an administrator to run that once);
  ``fixes`` (on ``fix_time``, 1-day chunks), ``alerts`` (on ``start_time``, 30-day
  chunks), ``dead_letters`` (on ``received_at``, 1-day chunks) and ``passages`` are
  hypertables. A unique index on a hypertable must contain its time column, so the index
  on fixes is (device_id, seq, fix_time) and the identity (device_id, seq) is checked by
  the insert itself (``hub.storage.fleet.FixRepository.insert_batch``, through
  ``fix_seq_days``). Fixes are compressed (segment by device_id, order by fix_time DESC,
  seq DESC) by a policy after ``compress_after_days``; retention policies drop fix
  chunks after ``fixes_days``, dead-letter chunks after ``dead_letters_days`` and passage
  chunks after ``passages_days``. Every ``upgrade`` given a ``retention`` sets the
  policies to it. Alerts are kept. (Written for TimescaleDB >= 2.11; the suite runs it
  when ``CITYTRACK_TEST_DB`` names a server that has it, else checks that its SQL parses.)
* **Plain PostgreSQL**: ordinary tables, fixes unique on (device_id, seq), a BRIN index on
  ``fix_time``; nothing expires by itself, ``prune`` does the retention's job (the hub
  runs it every ``hub.maintenance_interval_s``).

Fixes, statuses and alerts name their device without a foreign key to ``vehicles``: a
device missing from the registry still has its data kept.

Errors: ``hub.storage.db.MigrationError`` (a step failed, or ``conn`` is inside a transaction)
and ``hub.storage.db.StoreUnavailableError`` / ``StoreRejectedError`` from ``prune``.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import pq

from hub.storage.db import Connection, MigrationError
from hub.storage.schema import drivers, edge_events, fleet, notifications, routes, trips, watch
from hub.storage.schema.ddl import Retention, Step, policies, sql

log = logging.getLogger(__name__)

_LOCK_KEY = 0x63697479  # "city": pg_advisory_xact_lock key for schema changes


def steps(timescale: bool, retention: Retention | None = None) -> list[Step]:
    """Every migration step, in order, for one storage mode."""
    retention = retention or Retention()
    extension = sql("CREATE EXTENSION IF NOT EXISTS timescaledb") if timescale else []
    return [
        Step("0001_extensions", extension),
        fleet.registry_step(),
        fleet.fixes_step(timescale),
        fleet.alerts_step(timescale),
        fleet.dead_letters_step(timescale),
        fleet.policies_step(timescale, retention),
        notifications.notifications_step(),
        watch.watch_registry_step(),
        watch.passages_step(timescale, retention),
        drivers.drivers_step(),
        edge_events.edge_events_step(),
        trips.trips_step(),
        routes.route_stats_step(),
        fleet.fix_seq_days_step(),
        fleet.default_indexes_step(timescale),
    ]


def timescale_available(conn: Connection) -> bool:
    """Whether this database can use TimescaleDB, asked in a way any role may ask.

    Installed here already (``pg_extension``), or installable: packaged on the server
    (``pg_available_extensions``) and preloaded, which shows as the loader's own setting
    ``timescaledb.max_background_workers`` being defined (an integer, not a placeholder).
    ``shared_preload_libraries`` itself is hidden from roles without
    ``pg_read_all_settings``.
    """
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'),"
        " EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
        " AND EXISTS (SELECT 1 FROM pg_settings"
        "  WHERE name = 'timescaledb.max_background_workers' AND vartype = 'integer')"
    ).fetchone()
    return bool(row and (row[0] or row[1]))


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
            detected = timescale_available(conn) if timescale is None and not applied else False
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


def recorded_mode(conn: Connection) -> bool | None:
    """The storage mode the database was upgraded in (True: TimescaleDB), None before the
    first upgrade. Runs in the caller's transaction, if any."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
        return None
    row = conn.execute("SELECT bool_or(timescale) FROM schema_migrations").fetchone()
    return None if row is None or row[0] is None else bool(row[0])


def _apply_policies(conn: Connection, retention: Retention) -> None:
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            for query, params in policies(retention):
                conn.execute(query.encode(), params)
    except psycopg.Error as exc:
        raise MigrationError("policies", str(exc).strip()) from exc
    log.info("TimescaleDB policies follow %s", retention)


def upgrade(
    conn: Connection, *, timescale: bool | None = None, retention: Retention | None = None
) -> list[str]:
    """Apply the steps not yet applied; returns their names (empty when up to date).

    Args:
        conn: a connection outside any transaction; every step commits on its own.
        timescale: force the storage mode on a new database (None: detect). On a
            database already upgraded the recorded mode is used.
        retention: the configured retention (``hub.storage.retention.configured_retention``).
            On TimescaleDB its compression and retention policies are made to follow it,
            on every call, replacing policies of other lengths; None leaves existing
            policies as they are (new ones get ``Retention()``'s defaults). Plain
            PostgreSQL has no policies: ``prune`` does the work.

    Raises:
        MigrationError: ``conn`` is inside a transaction, the mode asked for differs
            from the recorded one, or a step failed (that step is rolled back, the ones
            before it stay applied), or the policies could not be set (step ``policies``).
    """
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise MigrationError("start", "connection is inside a transaction")
    mode = _mode(conn, timescale)
    done: list[str] = []
    for step in steps(mode, retention):
        if _apply(conn, step, mode):
            log.info("applied schema step %s (timescale=%s)", step.name, mode)
            done.append(step.name)
    if mode and retention is not None:
        _apply_policies(conn, retention)
    return done
