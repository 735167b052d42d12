"""Child-watch events from resolved passages, per child and local day (pure).

``WatchEventEngine`` keeps, for each child, what it already said today and derives:

    PASSED          every resolved passage, at any station
    ENTERED_AREA    the first passage of the (local) day, at any station
    ARRIVED_SCHOOL  the first passage of the day at a ``school_gate`` of the child's school
    LEFT_SCHOOL     a later gate passage at least ``min_school_stay`` after arriving
    LEFT_AREA       after LEFT_SCHOOL: a passage at an ``area_boundary`` station, or
                    (from ``due``) no passage for ``watch.area_timeout_min`` minutes; the
                    timeout event's time is the last passage + the timeout, its station the
                    last station that saw the child
    NOT_ARRIVED     (from ``due``) the school's ``arrival_deadline`` (local) has passed on
                    one of its ``school_days``, the child has not arrived, and the child
                    usually is at school (below); time = the deadline

Every kind but PASSED is said at most once per child per local day. ``on_passage`` returns
PASSED first, then the milestones in the order above. Event ids are deterministic
(``WatchEvent.create``): the same passages give the same ids, so a store keyed on
``event_id`` keeps each event once, also after ``replay``.

"Usually at school": among the previous school days (of the child's school) on which the
engine saw any passage at all, at most ``history_days`` of them, the child arrived on at
least one. While the engine knows no such day (a fresh start without ``replay`` of older
passages) every child is expected, so a child who never comes is reported on the first
day and then no longer. Schools without a ``school_gate`` station never report
NOT_ARRIVED (there is nothing that could see the child arrive), and neither does a
``due`` call later than ``not_arrived_window`` after the deadline (a hub back from an
outage in the evening does not send the morning's alarms). Public holidays are not in the
configuration: on a holiday that falls on a school day, NOT_ARRIVED is reported.

A passage from an earlier local day than the child's current one (a station's backlog
arriving late) gives PASSED and counts for the history, but changes nothing today.

No clock, no I/O: the caller hands in passage times and ``now``. One instance per hub;
not thread-safe.

Transactions: between ``begin`` and ``commit`` the engine remembers what each child's state
was before it changed; ``rollback`` puts it back (the hub's batch did not commit and will
be retried). The cost is one copy per child touched, not a copy of every child.

Errors::

    ValueError    a naive datetime, or a child id the configuration does not know
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from analytics.watch.events import WatchEvent, WatchEventKind
from citytrack.config.watch import Child, School, Station, WatchConfig

K = WatchEventKind
MIN_SCHOOL_STAY = timedelta(hours=3)
NOT_ARRIVED_WINDOW = timedelta(hours=4)
HISTORY_DAYS = 20
V = TypeVar("V")


@dataclass
class _Day:
    """One child's state for one local day."""

    day: date
    said: set[WatchEventKind] = field(default_factory=set)
    arrived: datetime | None = None
    last_time: datetime | None = None
    last_station: str | None = None


def _put(mapping: dict[str, V], key: str, value: V | None) -> None:
    """``mapping[key] = value``, or no ``key`` at all when ``value`` is None."""
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def _aware(name: str, value: datetime) -> None:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


class WatchEventEngine:
    """Per-child, per-local-day watch events for the children of ``watch``.

    Args:
        watch: schools, stations and children; ``area_timeout_min`` for LEFT_AREA.
        tz: the city's time zone: days, deadlines and school days are local.
        min_school_stay: a gate passage this long after arrival is leaving school.
        not_arrived_window: NOT_ARRIVED is only reported this long after the deadline.
        history_days: how many earlier days with passages "usually at school" looks at.
    """

    def __init__(
        self,
        watch: WatchConfig,
        tz: ZoneInfo,
        *,
        min_school_stay: timedelta = MIN_SCHOOL_STAY,
        not_arrived_window: timedelta = NOT_ARRIVED_WINDOW,
        history_days: int = HISTORY_DAYS,
    ) -> None:
        self.tz = tz
        self.min_school_stay = min_school_stay
        self.not_arrived_window = not_arrived_window
        self.history_days = history_days
        self.area_timeout = timedelta(minutes=watch.area_timeout_min)
        self._children = {c.id: c for c in watch.children}
        self._schools = {s.id: s for s in watch.schools}
        self._stations = {s.id: s for s in watch.stations}
        self._gated = {s.school_id for s in watch.stations if s.kind == "school_gate"}
        self._days: dict[str, _Day] = {}
        self._arrivals: dict[str, set[date]] = {}  # local days each child arrived at school
        self._known_days: set[date] = set()  # local days with at least one passage
        # between begin() and commit(): each touched child's state before it changed
        self._undo: dict[str, tuple[_Day | None, set[date] | None]] | None = None
        self._undo_known: set[date] = set()

    # --- transactions ---------------------------------------------------------------------

    def begin(self) -> None:
        """Start remembering changes, so that ``rollback`` can undo them."""
        self._undo = {}
        self._undo_known = set(self._known_days)

    def commit(self) -> None:
        """Keep the changes since ``begin``."""
        self._undo = None

    def rollback(self) -> None:
        """Undo every change since ``begin`` (nothing if none was begun)."""
        if self._undo is None:
            return
        for child_id, (day, arrivals) in self._undo.items():
            _put(self._days, child_id, day)
            _put(self._arrivals, child_id, arrivals)
        self._known_days = self._undo_known
        self._undo = None

    def _touch(self, child_id: str) -> None:
        """Remember ``child_id``'s state before the first change in this transaction."""
        if self._undo is None or child_id in self._undo:
            return
        day = self._days.get(child_id)
        arrivals = self._arrivals.get(child_id)
        self._undo[child_id] = (
            None if day is None else replace(day, said=set(day.said)),
            None if arrivals is None else set(arrivals),
        )

    # --- input ----------------------------------------------------------------------------

    def on_passage(self, child_id: str, station: Station, time: datetime) -> list[WatchEvent]:
        """Events from one resolved passage of ``child_id`` at ``station`` (closest time).

        Raises:
            ValueError: ``time`` is naive, or ``child_id`` is not configured.
        """
        _aware("time", time)
        child = self._child(child_id)
        self._touch(child.id)
        day = self._local_day(time)
        self._note_day(day)
        events = [WatchEvent.create(K.PASSED, child.id, time, station_id=station.id)]
        gate = station.kind == "school_gate" and station.school_id == child.school_id
        if gate:
            self._arrivals.setdefault(child.id, set()).add(day)
        state = self._days.get(child.id)
        if state is not None and state.day > day:
            return events  # a late passage from an earlier day: history only
        if state is None or state.day < day:
            state = self._days[child.id] = _Day(day)
        if state.last_time is None or time >= state.last_time:
            state.last_time, state.last_station = time, station.id
        return events + self._milestones(child, state, station, time, gate)

    def due(self, now: datetime) -> list[WatchEvent]:
        """Timer events due at ``now``: NOT_ARRIVED and LEFT_AREA after silence.

        Raises:
            ValueError: ``now`` is naive.
        """
        _aware("now", now)
        events: list[WatchEvent] = []
        for child in self._children.values():
            events += self._not_arrived(child, now)
            events += self._area_timeout(child, now)
        return events

    def replay(self, passages: Iterable[tuple[str, str, datetime]]) -> int:
        """Rebuild the state from stored resolved passages, discarding their events.

        ``passages`` are (child_id, station_id, closest_time), any order; today's rebuild
        today's state, older ones the "usually at school" history (pass a few weeks).
        Passages of children or stations no longer configured are skipped. Returns the
        number of passages used. Events already stored come out again with the same
        ``event_id``s from later calls, so the store keeps them once.

        Raises:
            ValueError: a naive time.
        """
        used = 0
        for child_id, station_id, time in sorted(passages, key=lambda p: p[2]):
            station = self._stations.get(station_id)
            if station is None or child_id not in self._children:
                continue
            self.on_passage(child_id, station, time)
            used += 1
        return used

    def usually_at_school(self, child_id: str, day: date) -> bool:
        """True if the child arrived on one of the known school days before ``day`` (or
        the engine knows no such day yet).

        Raises:
            ValueError: ``child_id`` is not configured.
        """
        school = self._school(self._child(child_id))
        before = sorted(
            d for d in self._known_days if d < day and d.weekday() in school.school_days
        )
        recent = before[-self.history_days :]
        arrived = self._arrivals.get(child_id, set())
        return not recent or any(d in arrived for d in recent)

    # --- rules ----------------------------------------------------------------------------

    def _milestones(
        self, child: Child, state: _Day, station: Station, time: datetime, gate: bool
    ) -> list[WatchEvent]:
        out: list[WatchEvent] = []
        if K.ENTERED_AREA not in state.said:
            out.append(self._say(state, K.ENTERED_AREA, child, time, station.id))
        if gate and state.arrived is None:
            state.arrived = time
            out.append(self._say(state, K.ARRIVED_SCHOOL, child, time, station.id, True))
        elif (
            gate
            and state.arrived is not None
            and time - state.arrived >= self.min_school_stay
            and K.LEFT_SCHOOL not in state.said
        ):
            out.append(self._say(state, K.LEFT_SCHOOL, child, time, station.id, True))
        elif (
            station.kind == "area_boundary"
            and K.LEFT_SCHOOL in state.said
            and K.LEFT_AREA not in state.said
        ):
            out.append(self._say(state, K.LEFT_AREA, child, time, station.id))
        return out

    def _not_arrived(self, child: Child, now: datetime) -> list[WatchEvent]:
        school = self._school(child)
        day = self._local_day(now)
        if school.id not in self._gated or day.weekday() not in school.school_days:
            return []
        deadline = datetime.combine(day, school.arrival_deadline, tzinfo=self.tz)
        if not deadline <= now < deadline + self.not_arrived_window:
            return []
        state = self._days.get(child.id)
        if state is not None and state.day > day:
            return []
        if state is None or state.day < day:
            state = _Day(day)
        if state.arrived is not None or K.NOT_ARRIVED in state.said:
            return []
        if not self.usually_at_school(child.id, day):
            return []
        self._touch(child.id)
        self._days[child.id] = state
        return [self._say(state, K.NOT_ARRIVED, child, deadline, None, True)]

    def _area_timeout(self, child: Child, now: datetime) -> list[WatchEvent]:
        state = self._days.get(child.id)
        if state is None or state.last_time is None:
            return []
        if K.LEFT_SCHOOL not in state.said or K.LEFT_AREA in state.said:
            return []
        at = state.last_time + self.area_timeout
        if now < at:
            return []
        self._touch(child.id)
        return [self._say(state, K.LEFT_AREA, child, at, state.last_station)]

    # --- helpers --------------------------------------------------------------------------

    def _say(
        self,
        state: _Day,
        kind: WatchEventKind,
        child: Child,
        time: datetime,
        station_id: str | None,
        school: bool = False,
    ) -> WatchEvent:
        state.said.add(kind)
        school_id = child.school_id if school else None
        return WatchEvent.create(kind, child.id, time, station_id=station_id, school_id=school_id)

    def _child(self, child_id: str) -> Child:
        child = self._children.get(child_id)
        if child is None:
            raise ValueError(f"unknown child {child_id!r}")
        return child

    def _school(self, child: Child) -> School:
        return self._schools[child.school_id]  # WatchConfig checked the reference

    def _local_day(self, time: datetime) -> date:
        return time.astimezone(self.tz).date()

    def _note_day(self, day: date) -> None:
        """Remember a day with passages; forget the oldest beyond what history needs."""
        self._known_days.add(day)
        if len(self._known_days) > 2 * self.history_days:
            for child_id in self._arrivals:
                self._touch(child_id)
            oldest = sorted(self._known_days)[: -self.history_days]
            self._known_days.difference_update(oldest)
            for days in self._arrivals.values():
                days.difference_update(oldest)
