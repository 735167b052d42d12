"""Collection points and today's courses from the ``[routes] points_csv`` file (pure reader).

Format (``citytrack.config.routes`` documents it): a header
``id,name,lat_deg,lon_deg,course,course_order,window_start,window_end``, then one point per
row. ``course`` is the device id of the truck whose hand-made course serves the point and
``course_order`` its place in that course (1 = first); both empty for a point on no course.
``window_start`` / ``window_end`` are local ``HH:MM``, both empty for no time window.

Every bad row is reported, not only the first: :class:`RouteDataError` lists each as file,
line, column and reason (header problems on line 1).

Exceptions::

    ValueError
     └── RoutingError                 (analytics.routing.model)
          └── RouteDataError          .path, .problems: tuple[RowProblem, ...]
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import time
from pathlib import Path

from analytics.routing.model import RoutingError

POINT_COLUMNS = (
    "id",
    "name",
    "lat_deg",
    "lon_deg",
    "course",
    "course_order",
    "window_start",
    "window_end",
)
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class RowProblem:
    """One bad cell (or header): 1-based ``line`` of the file, ``column`` name, ``reason``."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


class RouteDataError(RoutingError):
    """A points or emissions CSV with bad rows; ``problems`` lists every one found."""

    def __init__(self, path: Path, problems: tuple[RowProblem, ...]) -> None:
        listing = "\n".join(f"  {path}: {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s)\n{listing}", path=path)
        self.problems = problems


@dataclass(frozen=True)
class Site:
    """A named place trucks go to (depot, disposal site, collection point); WGS84 degrees."""

    id: str
    name: str
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True)
class CollectionPoint:
    """A row of the points CSV: the site, its place on a course, and its local time window."""

    site: Site
    course: str | None = None
    course_order: int | None = None
    window: tuple[time, time] | None = None

    @property
    def id(self) -> str:
        return self.site.id


@dataclass(frozen=True)
class PointsTable:
    """The points CSV as read: points in file order."""

    points: tuple[CollectionPoint, ...] = ()

    def courses(self) -> dict[str, tuple[str, ...]]:
        """Today's hand-made courses: truck device id -> point ids in course order."""
        by_truck: dict[str, list[tuple[int, str]]] = {}
        for p in self.points:
            if p.course is not None and p.course_order is not None:
                by_truck.setdefault(p.course, []).append((p.course_order, p.id))
        return {truck: tuple(pid for _, pid in sorted(rows)) for truck, rows in by_truck.items()}

    def windows(self) -> dict[str, tuple[time, time]]:
        """Point id -> local (earliest, latest) start of service, for points that have one."""
        return {p.id: p.window for p in self.points if p.window is not None}


class RowReader:
    """Rows of a CSV with their line numbers, and the problems found so far.

    Shared by the points and emissions readers: ``rows()`` checks the header against
    ``columns`` (missing or unknown columns are problems on line 1) and yields
    ``(line, row)`` with every cell stripped; cell parsers record a problem and return None.
    """

    def __init__(self, text: str, columns: tuple[str, ...]) -> None:
        self._reader = csv.DictReader(io.StringIO(text, newline=""))
        self._columns = columns
        self.problems: list[RowProblem] = []

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        header = [h.strip() for h in self._reader.fieldnames or ()]
        for name in self._columns:
            if name not in header:
                self.problems.append(RowProblem(1, name, "missing column"))
        for name in header:
            if name not in self._columns:
                self.problems.append(RowProblem(1, name, "unknown column"))
        if self.problems:
            return
        self._reader.fieldnames = header
        for row in self._reader:
            if None in row:  # more cells than the header has columns
                self.problems.append(RowProblem(self._reader.line_num, "-", "too many cells"))
                continue
            yield self._reader.line_num, {k: (v or "").strip() for k, v in row.items()}

    def bad(self, line: int, column: str, reason: str) -> None:
        self.problems.append(RowProblem(line, column, reason))

    def number(self, line: int, column: str, text: str, lo: float, hi: float) -> float | None:
        """``text`` as a finite float in [lo, hi], else None (and a problem recorded)."""
        try:
            value = float(text)
        except ValueError:
            self.bad(line, column, f"not a number: {text!r}")
            return None
        if not math.isfinite(value) or not lo <= value <= hi:
            self.bad(line, column, f"{text} is outside [{lo:g}, {hi:g}]")
            return None
        return value

    def hhmm(self, line: int, column: str, text: str) -> time | None:
        """``text`` as a local ``HH:MM`` time of day, else None (and a problem recorded)."""
        match = _HHMM.match(text)
        if match is None or int(match[1]) > 23 or int(match[2]) > 59:
            self.bad(line, column, f"not a time HH:MM: {text!r}")
            return None
        return time(int(match[1]), int(match[2]))


def read_text(path: Path) -> str:
    """The file's text, or :class:`RouteDataError` (line 0) if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RouteDataError(path, (RowProblem(0, "-", f"cannot read: {exc}"),)) from exc


def read_points_csv(
    path: Path, *, reserved_ids: Collection[str] = (), devices: Collection[str] | None = None
) -> PointsTable:
    """Read a points CSV. ``reserved_ids``: ids already taken (depot, disposal site,
    ``[[city.collection_points]]``); ``devices``: the truck device ids a course may name
    (None: any).

    Raises:
        RouteDataError: the file is unreadable or has bad rows (all of them listed).
    """
    return parse_points(read_text(path), path, reserved_ids=reserved_ids, devices=devices)


def parse_points(
    text: str,
    path: Path,
    *,
    reserved_ids: Collection[str] = (),
    devices: Collection[str] | None = None,
) -> PointsTable:
    """:func:`read_points_csv` on the file's ``text`` (``path`` names it in errors)."""
    reader = RowReader(text, POINT_COLUMNS)
    seen: dict[str, int] = {}
    orders: dict[tuple[str, int], int] = {}
    points: list[CollectionPoint] = []
    for line, row in reader.rows():
        point = _point(reader, line, row, _Known(reserved_ids, devices, seen, orders))
        if point is not None:
            points.append(point)
    if reader.problems:
        raise RouteDataError(path, tuple(reader.problems))
    return PointsTable(tuple(points))


@dataclass(frozen=True)
class _Known:
    """What a row is checked against: reserved ids, trucks, and the rows before it."""

    reserved: Collection[str]
    devices: Collection[str] | None
    ids: dict[str, int]  # id -> line
    orders: dict[tuple[str, int], int]  # (course, order) -> line


def _point(
    reader: RowReader, line: int, row: dict[str, str], known: _Known
) -> CollectionPoint | None:
    before = len(reader.problems)
    pid, name = row["id"], row["name"]
    if not pid:
        reader.bad(line, "id", "empty")
    elif pid in known.reserved:
        reader.bad(line, "id", f"{pid!r} is already a place in the config file")
    elif pid in known.ids:
        reader.bad(line, "id", f"duplicate id {pid!r} (first on line {known.ids[pid]})")
    else:
        known.ids[pid] = line
    if not name:
        reader.bad(line, "name", "empty")
    lat = reader.number(line, "lat_deg", row["lat_deg"], -90.0, 90.0)
    lon = reader.number(line, "lon_deg", row["lon_deg"], -180.0, 180.0)
    course, order = _course(reader, line, row, known)
    window = _window(reader, line, row)
    if len(reader.problems) > before or lat is None or lon is None:
        return None
    return CollectionPoint(Site(pid, name, lat, lon), course, order, window)


def _course(
    reader: RowReader, line: int, row: dict[str, str], known: _Known
) -> tuple[str | None, int | None]:
    course, order_text = row["course"], row["course_order"]
    if not course and not order_text:
        return None, None
    if not course or not order_text:
        column = "course" if not course else "course_order"
        reader.bad(line, column, "course and course_order go together (both or neither)")
        return None, None
    if known.devices is not None and course not in known.devices:
        reader.bad(line, "course", f"unknown truck {course!r} (not a device id in the config)")
    if not order_text.isdigit() or int(order_text) < 1:
        reader.bad(line, "course_order", f"not a whole number >= 1: {order_text!r}")
        return course, None
    order = int(order_text)
    first = known.orders.setdefault((course, order), line)
    if first != line:
        reader.bad(line, "course_order", f"{course} already has stop {order} (line {first})")
    return course, order


def _window(reader: RowReader, line: int, row: dict[str, str]) -> tuple[time, time] | None:
    texts = row["window_start"], row["window_end"]
    if not any(texts):
        return None
    if not all(texts):
        column = "window_end" if texts[0] else "window_start"
        reader.bad(line, column, "empty, but the other end of the window is given")
        return None
    start = reader.hhmm(line, "window_start", texts[0])
    end = reader.hhmm(line, "window_end", texts[1])
    if start is None or end is None:
        return None
    if end <= start:
        reader.bad(line, "window_end", f"{texts[1]} is not after window_start {texts[0]}")
        return None
    return start, end
