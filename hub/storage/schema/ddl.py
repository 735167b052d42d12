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


def hypertable(table: str, column: str, chunk: str) -> Statement:
    query = (
        f"SELECT create_hypertable('{table}', '{column}', "
        f"chunk_time_interval => INTERVAL '{chunk}', if_not_exists => TRUE)"
    )
    return query, ()
