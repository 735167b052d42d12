"""Trips and stops: one vehicle's fix track cut into drives and the dwells between them.

A fix is *moving* when the receiver's speed is at least ``TripConfig.moving_speed_mps``
(a fix without a speed uses the speed implied by the move from the previous fix); an
ignition field, should fixes ever carry one, would be read in that same one place.

- A **trip** starts with a run of moving fixes lasting ``start_s`` that takes the vehicle
  ``start_distance_m`` from where it stood (so GNSS drift of a parked truck is no trip); it
  starts at the last fix before that run, where the vehicle was still at rest.
- While driving, a run of still fixes shorter than ``min_stop_s`` is a **halt** (a
  garbage truck's collection stop, a red light): it stays inside the trip and is counted
  in ``Trip.halts`` when it lasts ``min_halt_s``. A still run that drifts farther than
  ``stop_radius_m`` from where it began is creeping, not standing, and starts over.
- A still run of ``min_stop_s`` or more ends the trip where the run began, and is a
  **stop**, until the next trip starts.
- No fix for more than ``max_gap_s`` (the unit was switched off) ends the trip at the last
  fix; a stop begins there.

Per trip: start/end time and place, distance (sum of the segment lengths between
consecutive accepted fixes where either end is moving, so the jitter of a standing truck
adds nothing; position noise still lengthens it a little, about +0.3 % at 40 km/h with
1.5 m noise at 1 Hz), driving time (the same segments' durations), maximum speed, halts. A fix
implying more than ``max_jump_speed_mps`` from the last accepted one is a GNSS jump and is
rejected; after ``MAX_REJECTED`` rejections in a row the track starts again from the new
fix without counting the jump. Fixes not after the last accepted one are ignored. Filter
fixes by quality (HDOP, satellites) before feeding them.

Pure: no clock (times are the fixes' GNSS times), no I/O.

Errors::

    ValueError     a fix from another device than the one the segmenter has seen
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from citytrack.geo import distance_between_m, distance_m
from citytrack.wire import Fix

MAX_REJECTED = 3
"""Consecutive rejected jumps after which the new position is believed, fixes."""


@dataclass(frozen=True)
class TripConfig:
    """Thresholds of the trip segmenter (SI units)."""

    moving_speed_mps: float = 1.5  # at or above: moving
    start_s: float = 5.0  # a trip needs moving fixes for this long
    start_distance_m: float = 50.0  # ... taking the vehicle this far from where it stood
    min_stop_s: float = 60.0  # standing this long ends a trip: a stop
    min_halt_s: float = 5.0  # standing this long (but less than min_stop_s) is a halt
    stop_radius_m: float = 30.0  # a standing vehicle's fixes stay within this of the first
    max_gap_s: float = 300.0  # longer without a fix ends the trip
    max_jump_speed_mps: float = 70.0  # a faster implied move is a GNSS jump


@dataclass(frozen=True)
class Trip:
    """One drive. Times UTC; places WGS84 degrees; distance m; times s; speed m/s."""

    device_id: str
    start: datetime
    end: datetime
    start_lat_deg: float
    start_lon_deg: float
    end_lat_deg: float
    end_lon_deg: float
    distance_m: float
    driving_s: float  # time spent moving (halts excluded)
    max_speed_mps: float
    halts: int  # still runs of min_halt_s .. min_stop_s inside the trip
    halted_s: float  # their total duration
    driver_id: str | None  # the first driver card seen on the trip's fixes
    ended_by: Literal["stop", "gap", "flush"]  # a stop, no data, or the end of the data

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Stop:
    """A dwell between trips: mean place (WGS84 degrees), arrival and departure (UTC)."""

    device_id: str
    lat_deg: float
    lon_deg: float
    arrival: datetime
    departure: datetime  # the last fix's time when ended by the end of the data
    ended_by: Literal["departure", "flush"]

    @property
    def duration_s(self) -> float:
        return (self.departure - self.arrival).total_seconds()


@dataclass(frozen=True)
class TripStarted:
    device_id: str
    time: datetime
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True)
class TripEnded:
    trip: Trip


@dataclass(frozen=True)
class StopStarted:
    device_id: str
    arrival: datetime
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True)
class StopEnded:
    stop: Stop


TripEvent = TripStarted | TripEnded | StopStarted | StopEnded


@dataclass(frozen=True)
class _Point:
    """An accepted fix, as the segmenter keeps it."""

    time: datetime
    lat_deg: float
    lon_deg: float
    speed_mps: float
    moving: bool
    driver_id: str | None


class _TripAcc:
    """A trip being built: where it began, and its running sums."""

    def __init__(self, start: _Point) -> None:
        self.start = start
        self.last = start
        self.distance_m = 0.0
        self.driving_s = 0.0
        self.max_speed_mps = start.speed_mps if start.moving else 0.0
        self.halts = 0
        self.halted_s = 0.0
        self.driver_id = start.driver_id

    def add(self, point: _Point, seg_m: float, seg_s: float) -> None:
        """Extend by one fix; the segment (m, s) counts if either end is moving."""
        if point.moving or self.last.moving:
            self.distance_m += seg_m
            self.driving_s += seg_s
        if point.moving:
            self.max_speed_mps = max(self.max_speed_mps, point.speed_mps)
        self.driver_id = self.driver_id or point.driver_id
        self.last = point

    def finish(
        self, device_id: str, end: _Point, ended_by: Literal["stop", "gap", "flush"]
    ) -> Trip:
        s = self.start
        return Trip(
            device_id, s.time, end.time, s.lat_deg, s.lon_deg, end.lat_deg, end.lon_deg,
            self.distance_m, self.driving_s, self.max_speed_mps, self.halts, self.halted_s,
            self.driver_id, ended_by,
        )  # fmt: skip


class _StillRun:
    """Consecutive still fixes: where and when they began, and their mean place."""

    def __init__(self, first: _Point) -> None:
        self.first = first
        self.n = 1
        self.sum_lat = first.lat_deg
        self.sum_lon = first.lon_deg
        self.announced = False  # a StopStarted has been emitted for it

    def add(self, point: _Point) -> None:
        self.n += 1
        self.sum_lat += point.lat_deg
        self.sum_lon += point.lon_deg

    def place(self) -> tuple[float, float]:
        return self.sum_lat / self.n, self.sum_lon / self.n

    def stop(self, device_id: str, departure: datetime, flush: bool = False) -> Stop:
        lat, lon = self.place()
        ended_by: Literal["departure", "flush"] = "flush" if flush else "departure"
        return Stop(device_id, lat, lon, self.first.time, departure, ended_by)


class TripSegmenter:
    """Streaming trips and stops of one vehicle: feed its fixes in time order."""

    def __init__(self, config: TripConfig | None = None) -> None:
        self.config = config or TripConfig()
        self.device_id: str | None = None
        self._last: _Point | None = None
        self._rejected = 0
        self._trip: _TripAcc | None = None  # the open trip
        self._pending: _TripAcc | None = None  # moving while parked, not yet a trip
        self._still: _StillRun | None = None  # standing: a halt, or the stop when parked

    def step(self, fix: Fix) -> list[TripEvent]:
        """Feed one fix; return the trip and stop events it caused, in order.

        Raises:
            ValueError: ``fix`` is from another device than the earlier fixes.
        """
        self._check_device(fix)
        prev = self._last
        if prev is not None and fix.fix_time <= prev.time:
            return []
        segment = self._segment(prev, fix)
        if segment is None:
            return []
        seg_m, seg_s = segment
        point = self._point(fix, seg_m, seg_s)
        events: list[TripEvent] = []
        if prev is not None and (fix.fix_time - prev.time).total_seconds() > self.config.max_gap_s:
            events += self._on_gap(prev)
            seg_m = seg_s = 0.0
        self._last = point
        if self._trip is not None:
            events += self._step_driving(point, seg_m, seg_s)
        else:
            events += self._step_parked(prev, point, seg_m, seg_s)
        return events

    def _segment(self, prev: _Point | None, fix: Fix) -> tuple[float, float] | None:
        """(m, s) from the last accepted fix; None for a GNSS jump to reject."""
        if prev is None:
            return 0.0, 0.0
        seg_s = (fix.fix_time - prev.time).total_seconds()
        seg_m = distance_between_m(prev, fix)
        if seg_m / seg_s <= self.config.max_jump_speed_mps:
            self._rejected = 0
            return seg_m, seg_s
        self._rejected += 1
        if self._rejected < MAX_REJECTED:
            return None
        self._rejected = 0
        return 0.0, 0.0  # believe the new position, but do not count the jump

    def flush(self) -> list[TripEvent]:
        """End of data: end the open trip (``ended_by="flush"``) and the open stop."""
        events: list[TripEvent] = []
        last = self._last
        if last is None or self.device_id is None:
            return events
        if self._trip is not None:
            end = self._still.first if self._still is not None else last
            events.append(TripEnded(self._trip.finish(self.device_id, end, "flush")))
        elif self._still is not None and self._still.announced:
            events.append(StopEnded(self._still.stop(self.device_id, last.time, flush=True)))
        self._trip = self._pending = self._still = None
        return events

    def _check_device(self, fix: Fix) -> None:
        if self.device_id is None:
            self.device_id = fix.device_id
        elif fix.device_id != self.device_id:
            raise ValueError(f"fix from {fix.device_id!r} fed to the trips of {self.device_id!r}")

    def _point(self, fix: Fix, seg_m: float, seg_s: float) -> _Point:
        """The fix as kept; moving by the receiver's speed, else by the implied speed."""
        speed = fix.speed_mps
        if speed is None:
            speed = seg_m / seg_s if seg_s > 0 else 0.0
        moving = speed >= self.config.moving_speed_mps
        return _Point(fix.fix_time, fix.lat_deg, fix.lon_deg, speed, moving, fix.driver_id)

    def _on_gap(self, prev: _Point) -> list[TripEvent]:
        """No data for too long: end the trip at the last fix and stand there."""
        assert self.device_id is not None
        events: list[TripEvent] = []
        if self._trip is not None:
            end = self._still.first if self._still is not None else prev
            events.append(TripEnded(self._trip.finish(self.device_id, end, "gap")))
            self._trip = None
        self._pending = None
        if self._still is None:
            self._still = _StillRun(prev)
        return events + self._announce(self._still)

    def _announce(self, still: _StillRun) -> list[TripEvent]:
        if still.announced or self.device_id is None:
            return []
        still.announced = True
        lat, lon = still.place()
        return [StopStarted(self.device_id, still.first.time, lat, lon)]

    def _step_driving(self, point: _Point, seg_m: float, seg_s: float) -> list[TripEvent]:
        trip, still, cfg = self._trip, self._still, self.config
        assert trip is not None and self.device_id is not None
        trip.add(point, seg_m, seg_s)
        if point.moving:
            if still is not None:
                halted_s = (point.time - still.first.time).total_seconds()
                if halted_s >= cfg.min_halt_s:
                    trip.halts += 1
                    trip.halted_s += halted_s
                self._still = None
            return []
        if still is None or distance_between_m(still.first, point) > cfg.stop_radius_m:
            self._still = _StillRun(point)
            return []
        still.add(point)
        if (point.time - still.first.time).total_seconds() < cfg.min_stop_s:
            return []
        self._trip = None
        ended = TripEnded(trip.finish(self.device_id, still.first, "stop"))
        return [ended, *self._announce(still)]

    def _step_parked(
        self, prev: _Point | None, point: _Point, seg_m: float, seg_s: float
    ) -> list[TripEvent]:
        cfg = self.config
        if not point.moving:
            self._pending = None
            if self._still is None:
                self._still = _StillRun(point)
            else:
                self._still.add(point)
            long_enough = (point.time - self._still.first.time).total_seconds() >= cfg.min_stop_s
            return self._announce(self._still) if long_enough else []
        if self._pending is None:
            begin = prev if prev is not None and seg_s > 0 and not prev.moving else point
            self._pending = _TripAcc(begin)
        if self._pending.start is not point:
            self._pending.add(point, seg_m, seg_s)
        return self._maybe_start(point)

    def _maybe_start(self, point: _Point) -> list[TripEvent]:
        """Turn the pending moving run into a trip once it is long and far enough."""
        pending, still, cfg = self._pending, self._still, self.config
        assert pending is not None and self.device_id is not None
        start = pending.start
        origin = still.place() if still is not None else (start.lat_deg, start.lon_deg)
        away_m = distance_m(*origin, point.lat_deg, point.lon_deg)
        moving_s = (point.time - start.time).total_seconds()
        if moving_s < cfg.start_s or away_m < cfg.start_distance_m:
            return []
        events: list[TripEvent] = []
        if still is not None and still.announced:
            events.append(StopEnded(still.stop(self.device_id, start.time)))
        events.append(TripStarted(self.device_id, start.time, start.lat_deg, start.lon_deg))
        self._trip, self._pending, self._still = pending, None, None
        return events


def segment_track(
    fixes: Iterable[Fix], config: TripConfig | None = None
) -> tuple[list[Trip], list[Stop]]:
    """Trips and stops of one vehicle's whole track (time order), the open ones included.

    Raises:
        ValueError: the fixes are from more than one device.
    """
    segmenter = TripSegmenter(config)
    events: list[TripEvent] = []
    for fix in fixes:
        events += segmenter.step(fix)
    events += segmenter.flush()
    trips = [e.trip for e in events if isinstance(e, TripEnded)]
    stops = [e.stop for e in events if isinstance(e, StopEnded)]
    return trips, stops
