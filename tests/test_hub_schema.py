"""Schema migrations, retention and fix identity on a real PostgreSQL, as a role that owns
its database and is no superuser; the same assertions hold on a server with TimescaleDB
(``CITYTRACK_TEST_DB``), where the tests that need one mode or the other say so."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from app.cli.common import upgrade_schema
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress
from citytrack.wire import Fix
from hub.ingest.service import HubService
from hub.storage import schema
from hub.storage.db import MigrationError
from hub.storage.fleet import DeadLetterRepository, FixRepository
from hub.storage.retention import PruneResult, prune
from hub.storage.schema.ddl import Retention

ALL_STEPS = [s.name for s in schema.steps(timescale=False)]
TABLES = {
    *("drivers", "vehicles", "device_status", "fixes", "fix_seq_days", "alerts", "dead_letters"),
    *("notifications", "schools", "stations", "children", "guardians", "guardian_children"),
    *("tags", "passages", "watch_events"),
    *("driver_shifts", "driver_daily"),
    "edge_events",
    *("trips", "stops", "trip_builds"),
    *("service_times", "travel_times", "route_place_proposals", "emissions"),
}


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="session")
def server_timescale(pg_server: str) -> bool:
    """Whether the test server offers TimescaleDB, asked as the server URL's role: the
    restricted setting when that role may read it, else what any role sees."""
    with psycopg.connect(pg_server, autocommit=True) as c:
        row = c.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
        ).fetchone()
        available = bool(row and row[0])
        try:
            preloaded = c.execute("SHOW shared_preload_libraries").fetchone()
        except psycopg.errors.InsufficientPrivilege:
            return schema.timescale_available(c)
        return available and preloaded is not None and "timescaledb" in preloaded[0]


def tables(conn: psycopg.Connection) -> set[str]:
    query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    rows = conn.execute(query).fetchall()
    return {r[0] for r in rows}


def index_columns(conn: psycopg.Connection, index: str) -> str:
    row = conn.execute("SELECT pg_get_indexdef(%s::regclass)", (index,)).fetchone()
    assert row is not None
    return str(row[0])


def test_steps_are_numbered_in_order_and_same_for_both_modes() -> None:
    ts = [s.name for s in schema.steps(timescale=True)]
    assert ALL_STEPS == ts == sorted(ts)
    assert len(set(ALL_STEPS)) == len(ALL_STEPS)


def test_upgrade_on_an_empty_database_then_idempotent(
    conn: psycopg.Connection, server_timescale: bool
) -> None:
    assert tables(conn) == set()
    assert schema.upgrade(conn) == ALL_STEPS
    assert tables(conn) == TABLES | {"schema_migrations"}
    assert schema.upgrade(conn) == []
    recorded = conn.execute("SELECT name, timescale FROM schema_migrations ORDER BY name")
    assert recorded.fetchall() == [(name, server_timescale) for name in ALL_STEPS]


def test_plain_path_indexes(conn: psycopg.Connection) -> None:
    schema.upgrade(conn, timescale=False)
    assert "(device_id, seq)" in index_columns(conn, "fixes_device_seq_key")
    assert "UNIQUE" in index_columns(conn, "fixes_device_seq_key")
    assert "(device_id, fix_time DESC)" in index_columns(conn, "fixes_device_time_idx")
    assert "brin (fix_time)" in index_columns(conn, "fixes_time_brin")
    assert "UNIQUE" in index_columns(conn, "alerts_device_kind_start_key")
    assert "(device_id, kind, start_time)" in index_columns(conn, "alerts_device_kind_start_key")


def test_upgrade_commits_on_a_non_autocommit_connection(pg_url: str) -> None:
    with psycopg.connect(pg_url) as c:
        assert schema.upgrade(c) == ALL_STEPS
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with psycopg.connect(pg_url, autocommit=True) as other:
        assert tables(other) == TABLES | {"schema_migrations"}
        assert schema.upgrade(other) == []


def test_upgrade_refuses_a_connection_inside_a_transaction(pg_url: str) -> None:
    with psycopg.connect(pg_url) as c:
        c.execute("SELECT 1")  # opens a transaction
        with pytest.raises(MigrationError, match="inside a transaction"):
            schema.upgrade(c)


def test_a_failing_step_is_rolled_back_and_named(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE alerts (x int)")  # in the way of step 0004
    with pytest.raises(MigrationError) as info:
        schema.upgrade(conn)
    assert info.value.step == "0004_alerts"
    assert isinstance(info.value.__cause__, psycopg.errors.DuplicateTable)
    done = conn.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()
    assert [r[0] for r in done] == ALL_STEPS[:3]
    assert tables(conn) == {"schema_migrations", "drivers", "vehicles", "device_status"} | {
        "fixes",
        "alerts",
    }
    conn.execute("DROP TABLE alerts")
    assert schema.upgrade(conn) == ALL_STEPS[3:]


def test_forcing_timescale_works_only_where_the_server_has_it(
    conn: psycopg.Connection, server_timescale: bool
) -> None:
    if server_timescale:
        assert schema.upgrade(conn, timescale=True) == ALL_STEPS
        return
    with pytest.raises(MigrationError) as info:
        schema.upgrade(conn, timescale=True)
    assert info.value.step == "0001_extensions"
    assert isinstance(info.value.__cause__, psycopg.Error)
    assert tables(conn) == {"schema_migrations"}
    assert schema.upgrade(conn) == ALL_STEPS  # detection picks the plain path


def test_mode_is_fixed_by_the_first_upgrade(
    conn: psycopg.Connection, server_timescale: bool
) -> None:
    schema.upgrade(conn)
    with pytest.raises(MigrationError, match=f"timescale={server_timescale}"):
        schema.upgrade(conn, timescale=not server_timescale)
    assert schema.upgrade(conn, timescale=server_timescale) == []


def test_concurrent_upgrades_apply_each_step_once(pg_url: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as c:
                results.append(schema.upgrade(c))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(name for r in results for name in r) == ALL_STEPS


def test_timescale_sql_parses(conn: psycopg.Connection) -> None:
    """The TimescaleDB path cannot run here; each statement must at least parse.

    Every statement runs in its own savepoint: missing functions or storage parameters of
    the absent extension are expected, a syntax error is not.
    """
    retention = schema.Retention(fixes_days=400, dead_letters_days=30)
    failures: list[str] = []
    with conn.transaction(force_rollback=True):
        policies = schema.Step("policies", schema.ddl.policies(retention))
        for step in [*schema.steps(timescale=True, retention=retention), policies]:
            for query, params in step.statements:
                try:
                    with conn.transaction():
                        conn.execute(query.encode(), params)
                except psycopg.errors.SyntaxError as exc:
                    failures.append(f"{step.name}: {exc}")
                except psycopg.Error:
                    pass
    assert failures == []


def test_timescale_steps_make_hypertables_and_policies() -> None:
    sql = "\n".join(q for s in schema.steps(timescale=True) for q, _ in s.statements)
    for table, column in (
        ("fixes", "fix_time"),
        ("alerts", "start_time"),
        ("dead_letters", "received_at"),
    ):
        assert f"create_hypertable('{table}', '{column}'" in sql
    assert "(device_id, seq, fix_time)" in sql
    assert "compress_segmentby = 'device_id'" in sql
    assert "add_compression_policy('fixes'" in sql
    params = [p for s in schema.steps(True, schema.Retention(12, 3, 2)) for _, p in s.statements]
    assert (12,) in params and (3,) in params and (2,) in params
    with pytest.raises(ValueError, match="fixes_days"):
        schema.Retention(fixes_days=0)


def test_mode_detected_by_a_role_that_is_no_superuser(
    conn: psycopg.Connection, server_timescale: bool
) -> None:
    role = conn.execute(
        "SELECT rolsuper, pg_has_role('pg_read_all_settings', 'USAGE') FROM pg_roles"
        " WHERE rolname = current_user"
    ).fetchone()
    assert role is not None and role[0] is False  # as the hub's own role: the fixtures see to it
    if not role[1]:  # the fixtures' own roles; an external one might have been granted it
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SHOW shared_preload_libraries")
    assert schema.timescale_available(conn) is server_timescale
    schema.upgrade(conn)
    modes = conn.execute("SELECT DISTINCT timescale FROM schema_migrations").fetchall()
    assert modes == [(server_timescale,)]
    assert schema.recorded_mode(conn) is server_timescale


def _fix(seq: int, fix_time: datetime) -> Fix:
    return Fix(
        device_id="truck-01",
        seq=seq,
        fix_time=fix_time,
        recv_time=fix_time,
        lat_deg=34.6,
        lon_deg=135.5,
    )


def test_prune_deletes_only_old_rows(conn: psycopg.Connection) -> None:
    schema.upgrade(conn, timescale=False)
    now = datetime(2025, 6, 1, tzinfo=UTC)
    ages_days = {1: 401, 2: 400.01, 3: 399.99, 4: 10}
    FixRepository(conn).insert_batch(
        [_fix(seq, now - timedelta(days=age)) for seq, age in ages_days.items()], now
    )
    dead = DeadLetterRepository(conn)
    for age in (31, 29):
        dead.insert("t", b"x", f"age {age}", now - timedelta(days=age))

    result = prune(conn, Retention(fixes_days=400, dead_letters_days=30), now=now)

    assert result == PruneResult(fixes=2, dead_letters=1)
    left = conn.execute("SELECT seq FROM fixes ORDER BY seq").fetchall()
    assert [r[0] for r in left] == [3, 4]
    assert [d.reason for d in dead.recent(10)] == ["age 29"]
    assert prune(conn, Retention(fixes_days=400), now=now) == PruneResult()
    # a day's seq span goes a day after the day's last fix could have
    spans = "SELECT min_seq FROM fix_seq_days ORDER BY day"
    assert [r[0] for r in conn.execute(spans).fetchall()] == [1, 3, 4]
    assert prune(conn, Retention(fixes_days=400), now=now + timedelta(days=1)).fixes == 1
    assert [r[0] for r in conn.execute(spans).fetchall()] == [3, 4]


def test_prune_leaves_the_policies_tables_to_timescaledb(pg_url: str) -> None:
    """On TimescaleDB the hub does not delete fixes, dead letters and passages row by row:
    its retention policies drop their chunks. Here a plain database is marked as created
    in TimescaleDB mode, which is what ``prune`` goes by."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c, timescale=False)
        c.execute("UPDATE schema_migrations SET timescale = TRUE")
        now = datetime(2025, 6, 1, tzinfo=UTC)
        FixRepository(c).insert_batch([_fix(1, now - timedelta(days=500))], now)
        DeadLetterRepository(c).insert("t", b"x", "old", now - timedelta(days=500))
        c.execute(
            "INSERT INTO watch_events (event_id, kind, child_id, time) VALUES ('e', 'k', 'c', %s)",
            (now - timedelta(days=500),),
        )
        result = prune(c, Retention(), now=now)
        assert result == PruneResult(watch_events=1)
        assert FixRepository(c).count() == 1
        assert len(DeadLetterRepository(c).recent(10)) == 1


def test_prune_defaults_to_the_database_clock(conn: psycopg.Connection) -> None:
    schema.upgrade(conn, timescale=False)
    real_now = datetime.now(UTC)
    FixRepository(conn).insert_batch(
        [_fix(1, real_now - timedelta(days=500)), _fix(2, real_now - timedelta(days=1))], real_now
    )
    assert prune(conn, Retention()) == PruneResult(fixes=1)
    with pytest.raises(ValueError):
        prune(conn, Retention(fixes_days=-1))
    with pytest.raises(ValueError, match="timezone-aware"):
        prune(conn, Retention(), now=datetime(2025, 1, 1))


# --- a fix's identity is (device_id, seq), in both modes -----------------------------------

T0 = datetime(2025, 6, 1, 8, tzinfo=UTC)


def assert_device_seq_is_the_identity(conn: psycopg.Connection) -> None:
    """The assertions every server and mode must pass: a seq stored once is a duplicate
    whatever fix_time it comes back with, in a later batch or in the same one."""
    repo = FixRepository(conn)
    assert repo.insert_batch([_fix(5, T0)], T0) == [("truck-01", 5)]
    for other in (timedelta(seconds=1), timedelta(hours=1), timedelta(days=3), -timedelta(days=2)):
        assert repo.insert_batch([_fix(5, T0 + other)], T0) == []
    assert repo.insert_batch([_fix(7, T0), _fix(7, T0 + timedelta(days=1)), _fix(6, T0)], T0) in (
        [("truck-01", 6), ("truck-01", 7)],
        [("truck-01", 7), ("truck-01", 6)],
    )
    assert repo.insert_batch([_fix(7, T0 - timedelta(days=1)), _fix(8, T0)], T0) == [
        ("truck-01", 8)
    ]
    assert repo.count() == 4
    stored = repo.track("truck-01", T0 - timedelta(days=9), T0 + timedelta(days=9))
    assert [(f.seq, f.fix_time) for f in stored] == [(5, T0), (6, T0), (7, T0), (8, T0)]


def test_same_seq_with_another_fix_time_is_a_duplicate(conn: psycopg.Connection) -> None:
    schema.upgrade(conn)  # the server's own mode: TimescaleDB where it has it
    assert_device_seq_is_the_identity(conn)


def test_same_seq_is_a_duplicate_where_the_unique_key_holds_fix_time(
    conn: psycopg.Connection,
) -> None:
    """The plain database given TimescaleDB's key on fixes, (device_id, seq, fix_time):
    the identity must not rest on the unique index."""
    schema.upgrade(conn, timescale=False)
    conn.execute("DROP INDEX fixes_device_seq_key")
    conn.execute("CREATE UNIQUE INDEX fixes_device_seq_key ON fixes (device_id, seq, fix_time)")
    assert_device_seq_is_the_identity(conn)


def test_seq_spans_are_filled_from_the_fixes_already_stored(conn: psycopg.Connection) -> None:
    names = [s.name for s in schema.steps(False)]
    before = names.index("0015_fix_seq_days")
    upto = schema.steps(False)[:before]
    for step in upto:  # a database from before the spans existed
        for query, params in step.statements:
            conn.execute(query.encode(), params)
    conn.execute(
        "CREATE TABLE schema_migrations (name text PRIMARY KEY, timescale boolean NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for name in names[:before]:
        conn.execute("INSERT INTO schema_migrations (name, timescale) VALUES (%s, FALSE)", (name,))
    conn.execute(
        "INSERT INTO fixes (device_id, seq, fix_time, recv_time, ingest_time, lat_deg, lon_deg)"
        " VALUES ('truck-01', 5, %s, %s, %s, 34.6, 135.5)",
        (T0, T0, T0),
    )
    assert schema.upgrade(conn) == names[before:]
    assert FixRepository(conn).insert_batch([_fix(5, T0 + timedelta(days=3))], T0) == []
    conn.execute("DROP INDEX fixes_device_seq_key")  # as on TimescaleDB
    assert FixRepository(conn).insert_batch([_fix(5, T0 + timedelta(days=3))], T0) == []
    assert FixRepository(conn).count() == 1


# --- TimescaleDB's policies follow the configuration --------------------------------------


def test_policy_statements_replace_a_policy_of_another_length() -> None:
    statements = schema.ddl.policies(Retention(fixes_days=90, dead_letters_days=5, passages_days=9))
    text = [q for q, _ in statements]
    for table, days in (("fixes", 90), ("dead_letters", 5), ("passages", 9)):
        remove = next(i for i, q in enumerate(text) if f"remove_retention_policy('{table}'" in q)
        add = next(i for i, q in enumerate(text) if f"add_retention_policy('{table}'" in q)
        assert remove < add, "remove a policy of another length before adding"
        assert "NOT EXISTS" in text[remove] and "'drop_after'" in text[remove]
        assert statements[remove][1] == statements[add][1] == (days,)
    compress = [p for q, p in statements if "compression_policy('fixes'" in q]
    assert compress == [(7,), (7,)]


def test_upgrade_with_a_retention_sets_no_policy_on_plain_postgres(
    conn: psycopg.Connection,
) -> None:
    schema.upgrade(conn, timescale=False, retention=Retention(fixes_days=90))
    assert schema.upgrade(conn, retention=Retention(fixes_days=30)) == []
    assert conn.execute("SELECT to_regclass('timescaledb_information.jobs')").fetchone() == (None,)


def test_hypertables_with_their_own_time_index_skip_the_default_one() -> None:
    made = {
        q.split("'")[1]: "create_default_indexes => FALSE" in q
        for s in schema.steps(timescale=True)
        for q, _ in s.statements
        if "create_hypertable" in q
    }
    assert made == {"fixes": False, "alerts": True, "dead_letters": True, "passages": False}
    dropped = "\n".join(q for q, _ in schema.fleet.default_indexes_step(True).statements)
    assert "alerts_start_time_idx" in dropped and "dead_letters_received_at_idx" in dropped


# TimescaleDB's policy functions and jobs view as plain SQL, same names and arguments: what
# the policies are, without the extension (which is not on this machine).
_POLICY_STANDIN = """
CREATE TABLE policy_jobs (
    job_id serial, proc_name text, hypertable_schema name, hypertable_name name, config jsonb
);
CREATE SCHEMA IF NOT EXISTS timescaledb_information;
CREATE VIEW timescaledb_information.jobs AS SELECT * FROM policy_jobs;
CREATE FUNCTION standin_add_policy(proc text, relation regclass, key text, days interval)
RETURNS integer LANGUAGE sql AS $$
    INSERT INTO policy_jobs (proc_name, hypertable_schema, hypertable_name, config)
    SELECT proc, n.nspname, c.relname, jsonb_build_object(key, days::text)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = relation AND NOT EXISTS (
        SELECT 1 FROM policy_jobs j WHERE j.proc_name = proc AND j.hypertable_name = c.relname)
    RETURNING job_id
$$;
CREATE FUNCTION add_retention_policy(
    relation regclass, drop_after interval, if_not_exists boolean DEFAULT false
) RETURNS integer LANGUAGE sql AS $$
    SELECT standin_add_policy('policy_retention', relation, 'drop_after', drop_after)
$$;
CREATE FUNCTION add_compression_policy(
    hypertable regclass, compress_after interval, if_not_exists boolean DEFAULT false
) RETURNS integer LANGUAGE sql AS $$
    SELECT standin_add_policy('policy_compression', hypertable, 'compress_after', compress_after)
$$;
CREATE FUNCTION remove_retention_policy(relation regclass, if_exists boolean DEFAULT false)
RETURNS void LANGUAGE sql AS $$
    DELETE FROM policy_jobs WHERE proc_name = 'policy_retention'
    AND hypertable_name = (SELECT relname FROM pg_class WHERE oid = relation)
$$;
CREATE FUNCTION remove_compression_policy(hypertable regclass, if_exists boolean DEFAULT false)
RETURNS void LANGUAGE sql AS $$
    DELETE FROM policy_jobs WHERE proc_name = 'policy_compression'
    AND hypertable_name = (SELECT relname FROM pg_class WHERE oid = hypertable)
$$
"""


def _job_ids(conn: psycopg.Connection) -> list[int]:
    return [r[0] for r in conn.execute("SELECT job_id FROM policy_jobs ORDER BY 1").fetchall()]


@pytest.fixture
def policy_standin(pg_url: str, server_timescale: bool) -> Iterator[str]:
    """``pg_url`` with the stand-in installed, in plain mode; removed afterwards (the test
    database may be a schema in a database that outlives it)."""
    if server_timescale:
        pytest.skip("the server has the real thing (test_timescale_policies_follow_...)")
    with psycopg.connect(pg_url, autocommit=True) as c:
        schema.upgrade(c, timescale=False)
        c.execute(_POLICY_STANDIN)
        try:
            yield pg_url
        finally:
            c.execute("DROP SCHEMA timescaledb_information CASCADE")


def test_policies_follow_the_configuration_on_every_upgrade_and_hub_start(
    policy_standin: str,
) -> None:
    """The policy statements against a stand-in for TimescaleDB's functions, in a plain
    database marked as created in TimescaleDB mode (all its steps already applied)."""
    pg_url = policy_standin
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("UPDATE schema_migrations SET timescale = TRUE")
        assert schema.upgrade(c) == [] and _jobs(c) == {}  # no retention: left alone
        schema.upgrade(c, retention=Retention(fixes_days=90))
        assert _jobs(c) == {
            ("policy_compression", "fixes"): "7 days",
            ("policy_retention", "fixes"): "90 days",
            ("policy_retention", "dead_letters"): "30 days",
            ("policy_retention", "passages"): "30 days",
        }
        ids = _job_ids(c)
        schema.upgrade(c, retention=Retention(fixes_days=90))
        assert _job_ids(c) == ids  # the same lengths: the same jobs

    cfg = load_config()
    cfg = cfg.model_copy(
        update={
            "hub": cfg.hub.model_copy(update={"fixes_retention_days": 45}),
            "watch": cfg.watch.model_copy(update={"retention_days": 10}),
        }
    )
    upgrade_schema(cfg, pg_url)  # what every command runs first
    with psycopg.connect(pg_url, autocommit=True) as c:
        assert _jobs(c)[("policy_retention", "fixes")] == "45 days"
        assert _jobs(c)[("policy_retention", "passages")] == "10 days"
        assert _jobs(c)[("policy_retention", "dead_letters")] == "30 days"
        assert len(_job_ids(c)) == 4

    cfg = cfg.model_copy(
        update={"hub": cfg.hub.model_copy(update={"dead_letters_retention_days": 3})}
    )
    HubService(cfg, BrokerAddress.parse("mqtt://127.0.0.1:1"), pg_url).prepare_database()
    with psycopg.connect(pg_url, autocommit=True) as c:
        assert _jobs(c)[("policy_retention", "dead_letters")] == "3 days"
        assert _jobs(c)[("policy_retention", "fixes")] == "45 days"
        assert len(_job_ids(c)) == 4


def _jobs(conn: psycopg.Connection) -> dict[tuple[str, str], str]:
    rows = conn.execute(
        "SELECT proc_name, hypertable_name,"
        " coalesce(config->>'drop_after', config->>'compress_after')"
        " FROM timescaledb_information.jobs WHERE hypertable_schema = current_schema()"
    ).fetchall()
    return {(str(p), str(t)): str(v) for p, t, v in rows}


def test_timescale_policies_follow_the_retention_on_every_upgrade(
    conn: psycopg.Connection, server_timescale: bool
) -> None:
    if not server_timescale:
        pytest.skip("needs a server with TimescaleDB (CITYTRACK_TEST_DB)")
    schema.upgrade(conn, timescale=True, retention=Retention(fixes_days=90, passages_days=9))
    assert _jobs(conn) == {
        ("policy_compression", "fixes"): "7 days",
        ("policy_retention", "fixes"): "90 days",
        ("policy_retention", "dead_letters"): "30 days",
        ("policy_retention", "passages"): "9 days",
    }
    schema.upgrade(conn, retention=Retention(fixes_days=60, dead_letters_days=3))
    assert _jobs(conn) == {
        ("policy_compression", "fixes"): "7 days",
        ("policy_retention", "fixes"): "60 days",
        ("policy_retention", "dead_letters"): "3 days",
        ("policy_retention", "passages"): "30 days",
    }
    indexed = conn.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename IN ('alerts', 'dead_letters')"
        " AND schemaname = current_schema() ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in indexed] == [
        "alerts_device_kind_start_key",
        "alerts_kind_start_idx",
        "alerts_pkey",
        "alerts_start_idx",
        "dead_letters_pkey",
        "dead_letters_received_idx",
    ]
