"""What every repository of the hub shares: the connection type, the store's errors, and
the small checks and conversions around them.

Errors::

    StoreError(CitytrackError)           .operation: what the store was doing
      StoreUnavailableError(Retryable)   psycopg.OperationalError: connection lost or
                                         refused, serialization failure, server shutdown;
                                         retry the whole transaction later
      StoreRejectedError(Final)          any other psycopg.Error: bad data, schema not
                                         upgraded; retrying the same data fails again
      MigrationError(Final)              .step: a schema step failed or could not start
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg

from citytrack.errors import CitytrackError, FinalError, InvalidInputError, RetryableError

Connection = psycopg.Connection[Any]


class StoreError(CitytrackError):
    """Base of the hub store's errors; ``operation`` says what was being done."""

    def __init__(self, operation: str, message: str) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation


class StoreUnavailableError(StoreError, RetryableError):
    """The database is unreachable or aborted the transaction; retrying may succeed."""


class StoreRejectedError(StoreError, FinalError):
    """The database refused a statement; retrying the same data will fail again."""


class MigrationError(StoreError, FinalError):
    """A schema migration step failed; ``step`` names it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"schema step {step}", message)
        self.step = step


@contextlib.contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Re-raise psycopg errors inside the block as the store's own (``raise ... from``)."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(operation, str(exc).strip()) from exc
    except psycopg.Error as exc:
        raise StoreRejectedError(operation, str(exc).strip()) from exc


def require_aware(**values: datetime | None) -> None:
    """Refuse a naive time among ``values`` (None is allowed).

    Raises:
        InvalidInputError: naming the first naive one.
    """
    for name, value in values.items():
        if value is not None and value.utcoffset() is None:
            raise InvalidInputError(f"{name} must be timezone-aware, got {value!r}")


def require_window(start: datetime, end: datetime) -> None:
    """Refuse a naive or empty ``[start, end)``.

    Raises:
        InvalidInputError: a naive time, or ``end <= start``.
    """
    require_aware(start=start, end=end)
    if end <= start:
        raise InvalidInputError(f"end ({end}) must be after start ({start})")


def utc(value: datetime | None) -> datetime | None:
    """``value`` in UTC (None stays None)."""
    return None if value is None else value.astimezone(UTC)


def utc_row(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """``row`` with the named timestamptz columns in UTC (psycopg uses the session zone)."""
    return {**row, **{name: utc(row[name]) for name in names}}


def own_transaction(conn: Connection) -> contextlib.AbstractContextManager[Any]:
    """A transaction only for an idle autocommit connection; else the caller's one."""
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    return conn.transaction() if conn.autocommit and idle else contextlib.nullcontext()
