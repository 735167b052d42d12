"""Collection days of the configured city: courses of point ids in, simulated traces out.

``truck_days`` turns per-truck courses (ordered point ids) into ``TruckDay`` inputs for
``firmware_sim.collection``: depot and disposal site from ``[city]``, capacity from
``[routes] capacity_kg`` by the truck's vehicle class, unload time from ``[routes]
unload_s``, and departure at ``[routes] shift_start`` local time (``[city] timezone``)
unless ``departures`` gives a truck's own for the day. Points in ``not_before`` (local
time their window opens) are not served earlier: a truck there sooner waits.
``simulate_collection_week`` then drives them.

Course items are point ids; the disposal site's id (``[city.disposal_site] id``) in a
course is a reload marker (empty there). A point with no kg on a day is not collected that
day (as in the emissions file, where a point without a row for a weekday is skipped), and
a truck with nothing to collect stays home. Positions and kg come from the caller (e.g.
read from the points and emissions CSVs).

Errors: ``ValueError`` for a course of a device that is not a configured truck, a vehicle
class without a capacity, or a point without a position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from citytrack.config import CitytrackConfig
from firmware_sim.collection import (
    DISPOSAL,
    CollectionModel,
    DayStop,
    DayTrace,
    Disposal,
    TruckDay,
    UnconfiguredStop,
    simulate_week,
)

KgForDay = Callable[[date], Mapping[str, float]]
Departures = Mapping[date, Mapping[str, time]]
"""Day -> device id -> local time the truck leaves the depot."""


def truck_days(
    cfg: CitytrackConfig,
    courses: Mapping[str, Sequence[str]],
    positions: Mapping[str, tuple[float, float]],
    kg: Mapping[str, float],
    start: date,
    days: int,
    *,
    kg_for_day: KgForDay | None = None,
    unconfigured: Mapping[str, Sequence[UnconfiguredStop]] | None = None,
    departures: Departures | None = None,
    not_before: Mapping[str, time] | None = None,
) -> dict[date, list[TruckDay]]:
    """``TruckDay`` s for ``days`` days from ``start``, trucks in ``courses`` order.

    ``courses``: device id -> ordered point ids (and disposal markers); ``positions``:
    point id -> (lat, lon) degrees; ``kg``: point id -> kg every day, unless
    ``kg_for_day(day)`` gives that day's kg; ``unconfigured``: device id -> its regular
    stops outside the configured points; ``departures``: a truck's local departure on a
    day (default ``shift_start``); ``not_before``: point id -> local time its window
    opens, every day.

    Raises:
        ValueError: unknown device, vehicle class without capacity, point without position.
    """
    capacity = {device: _capacity_kg(cfg, device) for device in courses}
    extra = unconfigured or {}
    zone = ZoneInfo(cfg.city.timezone)
    out: dict[date, list[TruckDay]] = {}
    for k in range(days):
        day = start + timedelta(days=k)
        today = kg_for_day(day) if kg_for_day is not None else kg
        opens = {p: datetime.combine(day, t, tzinfo=zone) for p, t in (not_before or {}).items()}
        leave = (departures or {}).get(day, {})
        out[day] = []
        for device, course in courses.items():
            stops = _stops(course, positions, today, cfg.city.disposal_site.id, opens)
            if any(isinstance(s, DayStop) for s in stops):
                at = datetime.combine(day, leave.get(device, cfg.routes.shift_start), tzinfo=zone)
                td = _truck_day(cfg, device, at, stops, capacity[device], extra.get(device, ()))
                out[day].append(td)
    return out


def _truck_day(
    cfg: CitytrackConfig,
    device_id: str,
    leave_at: datetime,
    stops: list[DayStop | Disposal],
    capacity_kg: float,
    unconfigured: Sequence[UnconfiguredStop],
) -> TruckDay:
    city, routes = cfg.city, cfg.routes
    return TruckDay(
        device_id=device_id,
        stops=stops,
        depot=(city.depot.lat_deg, city.depot.lon_deg),
        disposal=(city.disposal_site.lat_deg, city.disposal_site.lon_deg),
        capacity_kg=capacity_kg,
        leave_at=leave_at,
        unload_s=float(routes.unload_s),
        unconfigured=tuple(unconfigured),
        depot_id=city.depot.id,
        disposal_id=city.disposal_site.id,
    )


def simulate_collection_week(
    cfg: CitytrackConfig,
    courses: Mapping[str, Sequence[str]],
    positions: Mapping[str, tuple[float, float]],
    kg: Mapping[str, float],
    start: date,
    days: int,
    *,
    seed: int,
    kg_for_day: KgForDay | None = None,
    unconfigured: Mapping[str, Sequence[UnconfiguredStop]] | None = None,
    model: CollectionModel | None = None,
    seq_start: Mapping[str, int] | None = None,
    departures: Departures | None = None,
    not_before: Mapping[str, time] | None = None,
) -> dict[date, list[DayTrace]]:
    """Simulate ``truck_days(...)`` with ``simulate_week`` (same arguments and errors)."""
    plan = truck_days(
        cfg,
        courses,
        positions,
        kg,
        start,
        days,
        kg_for_day=kg_for_day,
        unconfigured=unconfigured,
        departures=departures,
        not_before=not_before,
    )
    return simulate_week(plan, seed, model=model, seq_start=seq_start)


def _capacity_kg(cfg: CitytrackConfig, device_id: str) -> float:
    truck = cfg.city.truck(device_id)
    if truck is None:
        raise ValueError(f"course for {device_id!r}, which is not a configured truck")
    if truck.vehicle_class not in cfg.routes.capacity_kg:
        raise ValueError(f"routes.capacity_kg has no entry for class {truck.vehicle_class!r}")
    return float(cfg.routes.capacity_kg[truck.vehicle_class])


def _stops(
    course: Sequence[str],
    positions: Mapping[str, tuple[float, float]],
    kg: Mapping[str, float],
    disposal_id: str,
    not_before: Mapping[str, datetime],
) -> list[DayStop | Disposal]:
    out: list[DayStop | Disposal] = []
    for point_id in course:
        if point_id == disposal_id:
            out.append(DISPOSAL)
            continue
        if point_id not in positions:
            raise ValueError(f"course point {point_id!r} has no position")
        if point_id in kg:
            lat, lon = positions[point_id]
            out.append(DayStop(point_id, lat, lon, float(kg[point_id]), not_before.get(point_id)))
    return out
