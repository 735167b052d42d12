"""Garbage-collection days of trucks: the fixes their GPS units send, and what really happened.

Size: one day's simulation (driving, service, reloads, noise) around one event loop.

``simulate_day(truck_day, rng)`` drives one truck through one day and returns a ``DayTrace``:
1 Hz ``citytrack.wire.Fix`` messages, and ground truth (visits with arrival, departure and
service time, legs, reloads, true distance and duration). ``simulate_week`` runs many.

The course (``TruckDay.stops``, in driving order):

- the truck leaves the depot at ``leave_at`` and drives to each stop in turn along the
  street grid (``firmware_sim.streets``: an L, east-west first, then north-south);
- a stop with a window (``DayStop.not_before``) reached before it opens: the truck stands
  there until it opens (``Visit.wait_s``; a lunch break due there is taken meanwhile);
  one reached late is served at once;
- a ``Disposal`` marker sends it to empty at the disposal site there (a planned reload);
- besides, whenever the next stop's kg would take the load over ``capacity_kg``, it first
  goes to empty (an unplanned reload). So a course without markers reloads exactly when it
  must, and one with markers has them honoured without ever being overloaded;
- the day always ends at the disposal site (a trailing marker is that visit), then the depot;
- ``UnconfiguredStop``: a place outside the configured points (a shop's bins) served right
  after ``after_point_id`` on a day with chance ``probability``: the same place most days.

Service: ``ServiceModel`` (base + per kg, times lognormal noise) at a stop, ``unload_s``
(lognormal noise) at the disposal site. ``LunchModel``: on a day with chance
``probability``, the first collection stop reached inside the local lunch window gets a
30-60 min break (``Visit.break_s``); nowhere else. Local time is ``leave_at``'s zone.

Receiver: ``firmware_sim.streets.ReceiverModel`` (noise, satellites, dropouts). A lost
epoch sends nothing and takes no ``seq``; a course is sent only above walking pace.

Deterministic: ``rng`` is split into independent streams (motion, service, receiver).
Pure: no clock, no I/O. Raises ``ValueError`` for a malformed ``TruckDay``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import numpy as np

from citytrack.geo import LocalFrame
from citytrack.wire import Fix
from firmware_sim import streets
from firmware_sim.streets import DayPath, DrivingModel, MotionBuilder, ReceiverModel

VisitKind = Literal["collection", "disposal", "light", "unconfigured"]


@dataclass(frozen=True)
class DayStop:
    """A collection point on a course: id, WGS84 position (degrees), garbage to load (kg),
    and the earliest start of service where it has a window (timezone-aware)."""

    point_id: str
    lat_deg: float
    lon_deg: float
    kg: float
    not_before: datetime | None = None


@dataclass(frozen=True)
class Disposal:
    """Course marker: empty at the disposal site here."""


DISPOSAL = Disposal()


@dataclass(frozen=True)
class UnconfiguredStop:
    """A regular stop outside the configured points, served after ``after_point_id``."""

    place_id: str
    lat_deg: float
    lon_deg: float
    after_point_id: str
    probability: float = 0.8
    service_s: float = 90.0


@dataclass(frozen=True)
class TruckDay:
    """One truck's day: its course in driving order, sites as (lat, lon) degrees, capacity
    (kg per trip), departure (timezone-aware) and mean unload time (s)."""

    device_id: str
    stops: Sequence[DayStop | Disposal]
    depot: tuple[float, float]
    disposal: tuple[float, float]
    capacity_kg: float
    leave_at: datetime
    unload_s: float = 900.0
    unconfigured: Sequence[UnconfiguredStop] = ()
    driver_id: str | None = None
    depot_id: str = "depot"
    disposal_id: str = "disposal"

    def __post_init__(self) -> None:
        if self.leave_at.tzinfo is None:
            raise ValueError(f"{self.device_id}: leave_at must be timezone-aware")
        if not self.capacity_kg > 0:
            raise ValueError(f"{self.device_id}: capacity_kg must be positive")
        for s in self.stops:
            if isinstance(s, DayStop) and not 0 <= s.kg <= self.capacity_kg:
                raise ValueError(f"{self.device_id}: {s.point_id} kg {s.kg} outside capacity")
            if isinstance(s, DayStop) and s.not_before is not None and not s.not_before.tzinfo:
                raise ValueError(f"{self.device_id}: {s.point_id} not_before must be aware")


@dataclass(frozen=True)
class ServiceModel:
    """Time to serve a stop: ``(base_s + per_kg_s * kg) * lognormal(0, sigma)``, >= min_s."""

    base_s: float = 30.0
    per_kg_s: float = 0.25
    sigma: float = 0.15
    min_s: float = 10.0

    def mean_s(self, kg: float) -> float:
        """Service time without noise, s."""
        return self.base_s + self.per_kg_s * kg

    def draw_s(self, kg: float, rng: np.random.Generator) -> float:
        return max(self.min_s, self.mean_s(kg) * float(rng.lognormal(0.0, self.sigma)))


@dataclass(frozen=True)
class LunchModel:
    """A long break at one stop on some days: chance per day, local window, length (s)."""

    probability: float = 0.25
    window: tuple[time, time] = (time(11, 30), time(13, 0))
    duration_s: tuple[float, float] = (1800.0, 3600.0)


@dataclass(frozen=True)
class CollectionModel:
    """Every model the day simulator uses; the defaults describe the demo city."""

    driving: DrivingModel = field(default_factory=DrivingModel)
    service: ServiceModel = field(default_factory=ServiceModel)
    lunch: LunchModel = field(default_factory=LunchModel)
    receiver: ReceiverModel = field(default_factory=ReceiverModel)
    unload_sigma: float = 0.1


@dataclass(frozen=True)
class Visit:
    """Ground truth of a standstill: ``depart - arrive == wait_s + service_s + break_s``
    (s); ``wait_s`` is the time stood waiting for the stop's window to open."""

    kind: VisitKind
    point_id: str | None  # None for a traffic light
    lat_deg: float
    lon_deg: float
    arrive: datetime
    depart: datetime
    service_s: float
    break_s: float = 0.0
    kg: float = 0.0  # loaded (collection) or unloaded (disposal)
    wait_s: float = 0.0


@dataclass(frozen=True)
class LegTruth:
    """A drive between two sites (ids; the depot and disposal site by their ids)."""

    from_id: str
    to_id: str
    depart: datetime
    arrive: datetime
    distance_m: float


@dataclass(frozen=True)
class ReloadTruth:
    """A trip to empty before the day's end: ``planned`` if the course's marker asked for it."""

    after_point_id: str | None
    arrive: datetime
    load_kg: float
    planned: bool


@dataclass(frozen=True)
class DayTrace:
    """A simulated day: the fixes sent, and ground truth (UTC times, m, s)."""

    device_id: str
    fixes: list[Fix]
    visits: list[Visit]
    legs: list[LegTruth]
    reloads: list[ReloadTruth]
    distance_m: float
    duration_s: float
    leave_at: datetime
    epochs: int  # 1 Hz epochs from leave to return, lost ones included
    next_seq: int

    @property
    def back_at(self) -> datetime:
        """Back at the depot, UTC."""
        return self.leave_at + timedelta(seconds=self.duration_s)


@dataclass(frozen=True)
class _Item:
    kind: Literal["collection", "disposal", "unconfigured", "depot"]
    point_id: str
    lat_deg: float
    lon_deg: float
    kg: float = 0.0
    planned: bool = True
    service_s: float = 0.0  # mean, for unconfigured stops
    not_before_s: float | None = None  # earliest service start, s after leave_at


def day_generator(seed: int, day: date, device_id: str) -> np.random.Generator:
    """The generator ``simulate_week`` gives a truck's day: independent of the other trucks."""
    key = (day.toordinal(), zlib.crc32(device_id.encode()))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def simulate_week(
    trucks_by_day: Mapping[date, Sequence[TruckDay]],
    seed: int,
    *,
    model: CollectionModel | None = None,
    seq_start: Mapping[str, int] | None = None,
) -> dict[date, list[DayTrace]]:
    """Simulate every truck day (days in date order); ``seq`` continues per device.

    Each day gets ``day_generator(seed, day, device_id)``; ``seq_start`` is each device's
    first ``seq`` (default 1). Every ``Fix`` is held in memory (about 1.7 KB each: a week of
    five 8 h trucks, ~1M fixes, takes ~1.8 GB).
    """
    next_seq = dict(seq_start or {})
    out: dict[date, list[DayTrace]] = {}
    for day in sorted(trucks_by_day):
        out[day] = []
        for td in trucks_by_day[day]:
            rng = day_generator(seed, day, td.device_id)
            trace = simulate_day(td, rng, model=model, seq_start=next_seq.get(td.device_id, 1))
            next_seq[td.device_id] = trace.next_seq
            out[day].append(trace)
    return out


def simulate_day(
    truck_day: TruckDay,
    rng: np.random.Generator,
    *,
    model: CollectionModel | None = None,
    seq_start: int = 1,
) -> DayTrace:
    """Drive ``truck_day``'s course; fixes at 1 Hz from ``leave_at`` until back at the depot.

    Raises:
        ValueError: ``seq_start`` < 1.
    """
    if seq_start < 1:
        raise ValueError(f"seq_start must be >= 1, got {seq_start}")
    model = model or CollectionModel()
    motion_rng, service_rng, receiver_rng = rng.spawn(3)
    day = _Day(truck_day, model, (motion_rng, service_rng))
    day.run(_expand(truck_day, service_rng))
    t = np.arange(0.0, math.ceil(day.motion.t_s) + 1.0)
    s, v = day.motion.sample(t)
    x, y, course = day.path.xy_at(s)
    obs = model.receiver.observe(t, x, y, v, course, day.frame, receiver_rng)
    fixes = _fixes(truck_day, obs, seq_start)
    return DayTrace(
        truck_day.device_id,
        fixes,
        day.visits,
        day.legs,
        day.reloads,
        day.path.length_m,
        day.motion.t_s,
        truck_day.leave_at.astimezone(UTC),
        len(t),
        seq_start + len(fixes),
    )


def _expand(td: TruckDay, rng: np.random.Generator) -> list[_Item]:
    """The course with reloads, today's unconfigured stops, final disposal and depot."""
    extras: dict[str, list[UnconfiguredStop]] = {}
    for u in td.unconfigured:
        if rng.random() < u.probability:
            extras.setdefault(u.after_point_id, []).append(u)
    items: list[_Item] = []
    load = 0.0

    def empty(planned: bool) -> None:
        nonlocal load
        items.append(_Item("disposal", td.disposal_id, *td.disposal, kg=load, planned=planned))
        load = 0.0

    for stop in td.stops:
        if isinstance(stop, Disposal):
            empty(True)
            continue
        if load + stop.kg > td.capacity_kg:
            empty(False)
        where = (stop.point_id, stop.lat_deg, stop.lon_deg)
        opens = _since_leaving(td, stop.not_before)
        items.append(_Item("collection", *where, stop.kg, not_before_s=opens))
        load += stop.kg
        for u in extras.get(stop.point_id, []):
            items.append(
                _Item("unconfigured", u.place_id, u.lat_deg, u.lon_deg, service_s=u.service_s)
            )
    if not items or items[-1].kind != "disposal":
        empty(True)
    items.append(_Item("depot", td.depot_id, *td.depot))
    return items


class _Day:
    """Builds one day's path, motion and ground truth, item after item."""

    def __init__(self, td: TruckDay, model: CollectionModel, rngs: tuple[np.random.Generator, ...]):
        self.td = td
        self.model = model
        self.frame = LocalFrame(*td.depot)
        self.path = DayPath((0.0, 0.0))
        self.motion = MotionBuilder()
        self.visits: list[Visit] = []
        self.legs: list[LegTruth] = []
        self.reloads: list[ReloadTruth] = []
        self._motion_rng, self._service_rng = rngs
        self._lunch_today = self._service_rng.random() < model.lunch.probability
        self._utc0 = td.leave_at.astimezone(UTC)

    def at(self, t_s: float) -> datetime:
        """UTC time ``t_s`` seconds after leaving the depot."""
        return self._utc0 + timedelta(seconds=t_s)

    def local(self, t_s: float) -> datetime:
        """The same in ``leave_at``'s time zone (where rush hours and lunch are)."""
        return self.at(t_s).astimezone(self.td.leave_at.tzinfo)

    def run(self, items: list[_Item]) -> None:
        here, last_point = self.td.depot_id, None
        final = max(i for i, it in enumerate(items) if it.kind == "disposal")
        for i, item in enumerate(items):
            self._leg(here, item)
            self._serve(item, last_point, final=i == final)
            here = item.point_id
            if item.kind == "collection":
                last_point = item.point_id

    def _leg(self, from_id: str, item: _Item) -> None:
        depart = self.motion.t_s
        x, y = self.frame.to_xy(item.lat_deg, item.lon_deg)
        length, corner = self.path.extend_to((float(x), float(y)))
        if length > 0:
            hour = self.local(depart).hour
            plan = self.model.driving.plan_leg(length, corner, hour, self._motion_rng)
            for t_s, s_m, wait_s in self.motion.drive_leg(plan):
                self._light(t_s, s_m, wait_s)
        arrive = self.at(self.motion.t_s)
        self.legs.append(LegTruth(from_id, item.point_id, self.at(depart), arrive, length))

    def _light(self, t_s: float, s_m: float, wait_s: float) -> None:
        x, y, _ = self.path.xy_at(np.array([s_m]))
        lat, lon = self.frame.to_latlon(x, y)
        end = self.at(t_s + wait_s)
        visit = Visit("light", None, float(lat[0]), float(lon[0]), self.at(t_s), end, wait_s)
        self.visits.append(visit)

    def _serve(self, item: _Item, last_point: str | None, *, final: bool) -> None:
        if item.kind == "depot":
            return
        rng, arrive = self._service_rng, self.motion.t_s
        pause = wait = 0.0
        if item.kind == "collection":
            service = self.model.service.draw_s(item.kg, rng)
            pause = self._lunch(arrive, rng)
            if item.not_before_s is not None:  # a lunch break is taken while waiting
                wait = max(0.0, item.not_before_s - arrive - pause)
        elif item.kind == "disposal":
            service = self.td.unload_s * float(rng.lognormal(0.0, self.model.unload_sigma))
            if not final:
                reload = ReloadTruth(last_point, self.at(arrive), item.kg, item.planned)
                self.reloads.append(reload)
        else:
            service = item.service_s * float(rng.lognormal(0.0, self.model.service.sigma))
        self.motion.dwell(wait + service + pause)
        where = (item.point_id, item.lat_deg, item.lon_deg)
        times = (self.at(arrive), self.at(self.motion.t_s))
        self.visits.append(Visit(item.kind, *where, *times, service, pause, item.kg, wait))

    def _lunch(self, arrive_s: float, rng: np.random.Generator) -> float:
        """The lunch break taken at a stop reached at ``arrive_s``, s (0: none)."""
        lunch = self.model.lunch
        local = self.local(arrive_s).time()
        if not self._lunch_today or not lunch.window[0] <= local < lunch.window[1]:
            return 0.0
        self._lunch_today = False
        return float(rng.uniform(*lunch.duration_s))


def _since_leaving(td: TruckDay, moment: datetime | None) -> float | None:
    """``moment`` as s after ``td.leave_at`` (None stays None)."""
    return None if moment is None else (moment - td.leave_at).total_seconds()


def _fixes(td: TruckDay, obs: streets.Observed, seq_start: int) -> list[Fix]:
    """The ``Fix`` messages of the epochs the unit sent, ``seq`` from ``seq_start``."""
    keep = np.flatnonzero(obs.sent)
    cols = (obs.t_s, obs.recv_s, obs.lat_deg, obs.lon_deg, obs.speed_mps, obs.course_deg)
    more = (obs.alt_m, obs.sats_used, obs.hdop, obs.pdop, obs.vdop)
    rows = zip(*(a[keep].tolist() for a in (*cols, *more)), strict=True)
    t0 = td.leave_at.astimezone(UTC)
    return [
        Fix(
            device_id=td.device_id,
            seq=seq_start + j,
            fix_time=t0 + timedelta(seconds=t),
            recv_time=t0 + timedelta(seconds=r),
            lat_deg=lat,
            lon_deg=lon,
            speed_mps=v,
            course_deg=c if v >= streets.COURSE_MIN_SPEED_MPS else None,
            alt_m=alt,
            quality=1,
            mode=3,
            sats_used=int(sats),
            hdop=h,
            pdop=p,
            vdop=vd,
            driver_id=td.driver_id,
        )
        for j, (t, r, lat, lon, v, c, alt, sats, h, p, vd) in enumerate(rows)
    ]
