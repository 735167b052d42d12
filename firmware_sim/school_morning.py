"""A school morning on foot: who goes, when they leave, and the ground truth of it.

``plan_morning`` takes the child-watch registry and a date and, for each child, places a
home and a way to school (``firmware_sim.walks``), draws a walking speed and a time to leave
home, and computes what really happened: which fixed stations each child's tags passed
within ``pass_distance_m`` (horizontal), when, and how close (``TruePassage``).

- On time: a child leaves home uniformly in ``WalkModel.depart_earliest``..``depart_latest``
  (local time), but no later than lets them pass the gate ``DEADLINE_MARGIN_S`` before the
  school's ``arrival_deadline`` (earlier than the window if the way is long).
- Late (``late_fraction``): passes the gate ``LATE_MIN_S``..``LATE_MAX_S`` after the deadline.
- Absent (``absent_fraction`` or an explicit list): never leaves home, so has no trip.
- ``afternoon``: every child who came walks the way back home, leaving the building in
  ``afternoon_earliest``..``afternoon_latest``.

Counts of absent and late children are ``round(fraction * n_children)``, so a demo of 20
children with 5 % absent always has exactly one absent child.

Deterministic: streams derived from ``seed`` by name (roles; one per child), so changing
one child or a fraction leaves the other children's homes, ways and times unchanged.
Pure: no clock, no I/O. Errors: ``ValueError`` for bad fractions or unknown absent ids.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from citytrack.config.watch import Child, Station, WatchConfig
from firmware_sim.walks import (
    LocalFrame,
    SchoolLayout,
    WalkModel,
    WalkPath,
    fixed_stations,
    home_for,
    watch_frame,
    way_to_school,
)

Leg = Literal["to_school", "to_home"]

DEADLINE_MARGIN_S = 120.0  # an on-time child passes the gate at least this long before
LATE_MIN_S, LATE_MAX_S = 60.0, 900.0  # a late child passes the gate this long after
STREAM_ROLES, STREAM_CHILD = 0, 1  # seed streams (spawn keys)


@dataclass(frozen=True)
class Trip:
    """One walk: ``depart_s``/``arrive_s`` are seconds after the plan's ``t0`` (local
    midnight); ``depart``/``arrive`` the same as UTC datetimes."""

    child_id: str
    leg: Leg
    path: WalkPath = field(repr=False)
    speed_mps: float
    depart_s: float
    depart: datetime
    arrive: datetime

    @property
    def arrive_s(self) -> float:
        return self.depart_s + self.path.length_m / self.speed_mps


@dataclass(frozen=True)
class TruePassage:
    """A tag's true closest approach to a fixed station during one trip.

    ``closest_time`` UTC; ``closest_distance_m`` horizontal (the station's antenna and the
    tag are at different heights, the radio model adds that)."""

    child_id: str
    tag_id: str
    station_id: str
    closest_time: datetime
    closest_distance_m: float
    leg: Leg = "to_school"

    def to_json(self) -> str:
        """One JSON line (no newline)."""
        d = {**self.__dict__, "closest_time": self.closest_time.isoformat()}
        return json.dumps({"record": "passage", **d}, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> TruePassage:
        """Inverse of ``to_json``. Raises: ValueError (KeyError included) on a bad line."""
        d = json.loads(line)
        if d.pop("record", "passage") != "passage":
            raise ValueError("not a passage record")
        d["closest_time"] = datetime.fromisoformat(d["closest_time"])
        return cls(**d)


@dataclass(frozen=True)
class GroundTruth:
    """What really happened: passages (by time), absent and late children, and trips as
    (child_id, leg, depart UTC, arrive UTC)."""

    passages: tuple[TruePassage, ...]
    absent: tuple[str, ...]
    late: tuple[str, ...]
    trips: tuple[tuple[str, Leg, datetime, datetime], ...]

    def to_json(self) -> str:
        """JSON lines: one record per passage, absent or late child, and trip."""
        lines = [p.to_json() for p in self.passages]
        lines += [json.dumps({"record": "absent", "child_id": c}) for c in self.absent]
        lines += [json.dumps({"record": "late", "child_id": c}) for c in self.late]
        for child_id, leg, dep, arr in self.trips:
            rec = {"record": "trip", "child_id": child_id, "leg": leg}
            lines.append(json.dumps({**rec, "depart": dep.isoformat(), "arrive": arr.isoformat()}))
        return "".join(line + "\n" for line in lines)

    @classmethod
    def from_json(cls, text: str) -> GroundTruth:
        """Inverse of ``to_json``. Raises: ValueError on an unknown record."""
        passages: list[TruePassage] = []
        roles: dict[str, list[str]] = {"absent": [], "late": []}
        trips: list[tuple[str, Leg, datetime, datetime]] = []
        for line in filter(None, (x.strip() for x in text.splitlines())):
            d: dict[str, Any] = json.loads(line)
            kind = d.get("record")
            if kind == "passage":
                passages.append(TruePassage.from_json(line))
            elif kind in roles:
                roles[kind].append(d["child_id"])
            elif kind == "trip":
                dep, arr = (datetime.fromisoformat(d[k]) for k in ("depart", "arrive"))
                trips.append((d["child_id"], d["leg"], dep, arr))
            else:
                raise ValueError(f"unknown ground-truth record {kind!r}")
        return cls(tuple(passages), tuple(roles["absent"]), tuple(roles["late"]), tuple(trips))


@dataclass(frozen=True)
class MorningPlan:
    """The scenario of a morning: ``t0`` is local midnight of the date (UTC datetime)."""

    frame: LocalFrame
    t0: datetime
    stations: tuple[Station, ...]  # the fixed stations, in ``station_xy_m`` order
    station_xy_m: np.ndarray
    homes: dict[str, tuple[float, float]]  # child id -> (lat, lon) degrees
    paths: dict[str, list[tuple[float, float]]]  # child id -> the way to school, (lat, lon)
    trips: tuple[Trip, ...]
    truth: GroundTruth

    def at(self, t_s: float) -> datetime:
        """UTC datetime ``t_s`` seconds after ``t0``, to the microsecond."""
        return self.t0 + timedelta(microseconds=round(t_s * 1e6))


@dataclass(frozen=True)
class _Clock:
    """Local clock times of the date as seconds after ``t0`` (local midnight, UTC)."""

    t0: datetime
    day: date
    zone: ZoneInfo

    def s(self, clock: time) -> float:
        return (datetime.combine(self.day, clock, tzinfo=self.zone) - self.t0).total_seconds()

    def at(self, t_s: float) -> datetime:
        return self.t0 + timedelta(microseconds=round(t_s * 1e6))


def _roles(
    children: Sequence[Child],
    seed: int,
    absent_fraction: float,
    late_fraction: float,
    absent: Collection[str] | None,
) -> tuple[set[str], set[str]]:
    """Absent and late child ids: ``round(fraction * n)`` of each, disjoint."""
    if not (0 <= absent_fraction <= 1 and 0 <= late_fraction <= 1):
        raise ValueError("absent_fraction and late_fraction must be in [0, 1]")
    ids = [c.id for c in children]
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAM_ROLES,)))
    order = [ids[k] for k in rng.permutation(len(ids))]
    if absent is None:
        away = set(order[: round(absent_fraction * len(ids))])
    else:
        away = set(absent)
        if away - set(ids):
            raise ValueError(f"absent: unknown children {sorted(away - set(ids))}")
    rest = [c for c in order if c not in away]
    return away, set(rest[: round(late_fraction * len(ids))])


def _departure(
    s_gate_m: float,
    speed_mps: float,
    deadline_s: float,
    late: bool,
    walk: WalkModel,
    clock: _Clock,
    rng: np.random.Generator,
) -> float:
    """When a child leaves home, s after t0: in the window and on time, or late."""
    u_on_time, u_late = rng.random(2)
    to_gate_s = s_gate_m / speed_mps
    if late:
        return float(deadline_s + LATE_MIN_S + u_late * (LATE_MAX_S - LATE_MIN_S) - to_gate_s)
    hi = min(clock.s(walk.depart_latest), deadline_s - DEADLINE_MARGIN_S - to_gate_s)
    lo = min(clock.s(walk.depart_earliest), hi)
    return float(lo + u_on_time * (hi - lo))


def _trip(
    child_id: str, leg: Leg, path: WalkPath, speed: float, depart_s: float, clock: _Clock
) -> Trip:
    arrive_s = depart_s + path.length_m / speed
    return Trip(child_id, leg, path, speed, depart_s, clock.at(depart_s), clock.at(arrive_s))


@dataclass(frozen=True)
class _Scene:
    """What every child's plan needs: clock, projection, stations, schools, walk model."""

    clock: _Clock
    frame: LocalFrame
    stations: tuple[Station, ...]
    xy: np.ndarray
    schools: dict[str, tuple[time, SchoolLayout]]  # school id -> (deadline, layout)
    walk: WalkModel


def _scene(watch: WatchConfig, day: date, tz: str, walk: WalkModel) -> _Scene:
    zone = ZoneInfo(tz)
    clock = _Clock(datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC), day, zone)
    frame = watch_frame(watch)
    stations = fixed_stations(watch)
    xy = np.array([frame.to_local(s.lat_deg or 0.0, s.lon_deg or 0.0) for s in stations])
    xy = xy.reshape(-1, 2)
    schools = {
        s.id: (s.arrival_deadline, SchoolLayout(s, frame, stations, xy)) for s in watch.schools
    }
    return _Scene(clock, frame, stations, xy, schools, walk)


@dataclass(frozen=True)
class _ChildPlan:
    home: np.ndarray
    path: WalkPath
    speed_mps: float
    depart_s: float
    afternoon_s: float


def _plan_child(scene: _Scene, child: Child, late: bool, rng: np.random.Generator) -> _ChildPlan:
    """Home, way, speed, and both departure times (drawn even for an absent child)."""
    walk, clock = scene.walk, scene.clock
    deadline, lay = scene.schools[child.school_id]
    home = home_for(lay, walk, rng)
    path = way_to_school(lay, home, walk, rng)
    speed = float(rng.uniform(walk.speed_min_mps, walk.speed_max_mps))
    s_gate = float(path.closest(lay.gate)[0][0])
    depart_s = _departure(s_gate, speed, clock.s(deadline), late, walk, clock, rng)
    lo, hi = clock.s(walk.afternoon_earliest), clock.s(walk.afternoon_latest)
    return _ChildPlan(home, path, speed, depart_s, lo + float(rng.random()) * (hi - lo))


def _passages(
    trip: Trip, tag_ids: Sequence[str], scene: _Scene, pass_distance_m: float
) -> list[TruePassage]:
    """The trip's closest approaches within ``pass_distance_m``, one per tag."""
    if not len(scene.xy) or not tag_ids:
        return []
    s, d = trip.path.closest(scene.xy)
    out = []
    for j in (int(k) for k in np.flatnonzero(d <= pass_distance_m)):
        when = scene.clock.at(trip.depart_s + float(s[j]) / trip.speed_mps)
        dist, station_id = round(float(d[j]), 3), scene.stations[j].id
        out += [TruePassage(trip.child_id, t, station_id, when, dist, trip.leg) for t in tag_ids]
    return out


def _trips(child_id: str, plan: _ChildPlan, afternoon: bool, clock: _Clock) -> list[Trip]:
    """The walk to school, and with ``afternoon`` the walk back home."""
    out = [_trip(child_id, "to_school", plan.path, plan.speed_mps, plan.depart_s, clock)]
    if afternoon:
        back = plan.path.reversed()
        out.append(_trip(child_id, "to_home", back, plan.speed_mps, plan.afternoon_s, clock))
    return out


def plan_morning(
    watch: WatchConfig,
    *,
    day: date,
    seed: int,
    tz: str = "Asia/Tokyo",
    walk: WalkModel | None = None,
    absent_fraction: float = 0.05,
    late_fraction: float = 0.0,
    absent: Collection[str] | None = None,
    afternoon: bool = False,
    pass_distance_m: float = 15.0,
) -> MorningPlan:
    """Homes, ways, trips and ground truth of a school morning (see the module docstring).

    ``absent``, when given, names the absent children exactly (``absent_fraction`` is then
    ignored). Raises: ValueError: bad fractions, unknown absent children, an empty watch.
    """
    scene = _scene(watch, day, tz, walk or WalkModel())
    away, late = _roles(watch.children, seed, absent_fraction, late_fraction, absent)
    tags: dict[str, list[str]] = {c.id: [] for c in watch.children}
    for tag in watch.tags:
        tags[tag.child_id].append(tag.id)
    homes, paths = {}, {}
    trips: list[Trip] = []
    passages: list[TruePassage] = []
    for i, child in enumerate(watch.children):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAM_CHILD, i)))
        plan = _plan_child(scene, child, child.id in late, rng)
        homes[child.id] = scene.frame.to_latlon(plan.home)[0]
        paths[child.id] = scene.frame.to_latlon(plan.path.xy_m)
        if child.id in away:
            continue
        child_trips = _trips(child.id, plan, afternoon, scene.clock)
        for trip in child_trips:
            passages += _passages(trip, tags[child.id], scene, pass_distance_m)
        trips += child_trips
    passages.sort(key=lambda p: (p.closest_time, p.station_id, p.tag_id))
    truth = GroundTruth(
        tuple(passages),
        tuple(c.id for c in watch.children if c.id in away),
        tuple(c.id for c in watch.children if c.id in late),
        tuple((t.child_id, t.leg, t.depart, t.arrive) for t in trips),
    )
    return MorningPlan(
        scene.frame, scene.clock.t0, scene.stations, scene.xy, homes, paths, tuple(trips), truth
    )
