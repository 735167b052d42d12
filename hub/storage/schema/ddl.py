"""The building blocks of the hub's migration steps: a step, its statements, the helpers
that write them for both storage modes, and how long rows are kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FIXES_RETENTION_DAYS = 400
DEAD_LETTERS_RETENTION_DAYS = 30
COMPRESS_AFTER_DAYS = 7
PASSAGES_RETENTION_DAYS = 30


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


def sql(*statements: str) -> list[Statement]:
    return [(s.strip(), ()) for s in statements if s.strip()]


def hypertable(table: str, column: str, chunk: str, *, default_indexes: bool = True) -> Statement:
    """``create_hypertable`` on ``column``; ``default_indexes=False`` where the step makes
    its own index on the time column (TimescaleDB's default one would duplicate it)."""
    indexes = "" if default_indexes else ", create_default_indexes => FALSE"
    query = (
        f"SELECT create_hypertable('{table}', '{column}', "
        f"chunk_time_interval => INTERVAL '{chunk}', if_not_exists => TRUE{indexes})"
    )
    return query, ()


# The hypertables whose old chunks TimescaleDB's retention policies drop, with the
# ``Retention`` field that sets each policy: on TimescaleDB ``prune`` leaves them alone.
RETENTION_POLICIES = (
    ("fixes", "fixes_days"),
    ("dead_letters", "dead_letters_days"),
    ("passages", "passages_days"),
)
_DAYS = "make_interval(days => %s)"
_JOB = (
    "SELECT 1 FROM timescaledb_information.jobs WHERE proc_name = '{proc}'"
    " AND hypertable_schema = current_schema() AND hypertable_name = '{table}'"
    # CASE: the cast only for a string, whichever order the server tests the conditions in
    " AND CASE WHEN jsonb_typeof(config->'{key}') = 'string'"
    " THEN (config->>'{key}')::interval END = " + _DAYS
)


def retention_policy(table: str, days: int) -> list[Statement]:
    """Statements that leave ``table`` with one retention policy of ``days``: an existing
    policy of another length is removed first (``if_not_exists`` alone would keep it)."""
    job = _JOB.format(proc="policy_retention", table=table, key="drop_after")
    return [
        (
            f"SELECT remove_retention_policy('{table}', if_exists => TRUE)"
            f" WHERE NOT EXISTS ({job})",
            (days,),
        ),
        (f"SELECT add_retention_policy('{table}', {_DAYS}, if_not_exists => TRUE)", (days,)),
    ]


def compression_policy(table: str, days: int) -> list[Statement]:
    """Statements that leave ``table`` with one compression policy of ``days``."""
    job = _JOB.format(proc="policy_compression", table=table, key="compress_after")
    return [
        (
            f"SELECT remove_compression_policy('{table}', if_exists => TRUE)"
            f" WHERE NOT EXISTS ({job})",
            (days,),
        ),
        (f"SELECT add_compression_policy('{table}', {_DAYS}, if_not_exists => TRUE)", (days,)),
    ]


def policies(retention: Retention) -> list[Statement]:
    """TimescaleDB's compression and retention policies as ``retention`` sets them; run
    on every upgrade given a retention, so a changed configuration replaces them."""
    statements = compression_policy("fixes", retention.compress_after_days)
    for table, days in RETENTION_POLICIES:
        statements += retention_policy(table, getattr(retention, days))
    return statements
