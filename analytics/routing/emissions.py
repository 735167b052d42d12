"""Expected garbage per collection point and weekday, from ``[routes] emissions_csv`` (pure).

Format: a header ``point_id,weekday,kg``, then one row per point and weekday the point is
collected: ``weekday`` is ``mon`` .. ``sun`` (any case), ``kg`` a number >= 0. A point
without a row for a weekday is not collected that day. Every bad row is reported (unknown
point id, bad weekday, negative or non-numeric kg, a repeated (point, weekday)), with its
line and column, in one :class:`~analytics.routing.points.RouteDataError` (that module
draws the exception tree).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from analytics.routing.points import RouteDataError, RowReader, read_text

EMISSION_COLUMNS = ("point_id", "weekday", "kg")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names, indexed like ``date.weekday()`` (0 = Monday)."""


@dataclass(frozen=True)
class Emission:
    """``kg`` of garbage expected at ``point_id`` on ``weekday`` (0 = Monday)."""

    point_id: str
    weekday: int
    kg: float


@dataclass(frozen=True)
class Emissions:
    """Expected garbage, one :class:`Emission` per (point, weekday)."""

    rows: tuple[Emission, ...] = ()

    def __post_init__(self) -> None:
        keys = [(e.point_id, e.weekday) for e in self.rows]
        if len(set(keys)) != len(keys):
            raise ValueError("Emissions: a (point_id, weekday) appears twice")
        if any(not 0 <= e.weekday <= 6 or not e.kg >= 0 for e in self.rows):
            raise ValueError("Emissions: weekday must be 0-6 and kg >= 0")

    @cached_property
    def _index(self) -> dict[tuple[str, int], float]:
        return {(e.point_id, e.weekday): e.kg for e in self.rows}

    def on(self, weekday: int) -> dict[str, float]:
        """Point id -> kg expected on ``weekday`` (0 = Monday), points with a row only."""
        return {e.point_id: e.kg for e in self.rows if e.weekday == weekday}

    def kg(self, point_id: str, weekday: int) -> float | None:
        """kg expected at ``point_id`` on ``weekday``, None when it has no row that day."""
        return self._index.get((point_id, weekday))

    def point_ids(self) -> set[str]:
        return {e.point_id for e in self.rows}


def weekday_number(name: str) -> int:
    """``mon`` .. ``sun`` (any case) -> 0 .. 6. Raises ValueError for anything else."""
    try:
        return WEEKDAYS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"bad weekday {name!r} (expected one of {', '.join(WEEKDAYS)})") from None


def read_emissions_csv(path: Path, point_ids: Collection[str]) -> Emissions:
    """Read an emissions CSV whose rows may name only ``point_ids``.

    Raises:
        RouteDataError: the file is unreadable or has bad rows (all of them listed).
    """
    return parse_emissions(read_text(path), path, point_ids)


def parse_emissions(text: str, path: Path, point_ids: Collection[str]) -> Emissions:
    """:func:`read_emissions_csv` on the file's ``text`` (``path`` names it in errors)."""
    reader = RowReader(text, EMISSION_COLUMNS)
    first_line: dict[tuple[str, int], int] = {}
    rows: list[Emission] = []
    for line, row in reader.rows():
        before = len(reader.problems)
        point_id = row["point_id"]
        if point_id not in point_ids:
            reader.bad(line, "point_id", f"unknown point id {point_id!r}")
        weekday: int | None = None
        try:
            weekday = weekday_number(row["weekday"])
        except ValueError as exc:
            reader.bad(line, "weekday", str(exc))
        kg = _kg(reader, line, row["kg"])
        if weekday is not None:
            first = first_line.setdefault((point_id, weekday), line)
            if first != line:
                reader.bad(
                    line,
                    "weekday",
                    f"duplicate ({point_id}, {WEEKDAYS[weekday]}): first on line {first}",
                )
        if len(reader.problems) == before and weekday is not None and kg is not None:
            rows.append(Emission(point_id, weekday, kg))
    if reader.problems:
        raise RouteDataError(path, tuple(reader.problems))
    return Emissions(tuple(rows))


def _kg(reader: RowReader, line: int, text: str) -> float | None:
    try:
        kg = float(text)
    except ValueError:
        reader.bad(line, "kg", f"not a number: {text!r}")
        return None
    if not math.isfinite(kg) or kg < 0:
        reader.bad(line, "kg", f"must be a number >= 0, got {text}")
        return None
    return kg


def emissions_from(rows: Iterable[tuple[str, int, float]]) -> Emissions:
    """Emissions from stored ``(point_id, weekday, kg)`` rows."""
    return Emissions(tuple(Emission(p, int(w), float(kg)) for p, w, kg in rows))
