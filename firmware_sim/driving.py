"""Truck kinematics along a route: a calm driver, plus scripted episodes.

Size: the limit profile, the calm driver and the scripted episodes share one integration
loop; splitting them would scatter its state.

The driver accelerates at ``ACCEL_MPS2``, slows at ``BRAKE_MPS2`` and aims for
``min(cruise, limit - LIMIT_MARGIN_KMH)``. It looks ahead along the route at every place it
must be slower (corners at ``CORNER_KMH``, collection-point stops at 0, entries into lower
speed zones at their limit minus the margin) and brakes at about ``BRAKE_PLAN_MPS2`` so as
to arrive at that speed; it never brakes harder than ``BRAKE_MAX_MPS2`` on its own. At a
stop it dwells, then drives on.

Scripted episodes (``firmware_sim.scripts``) override this behaviour through a ``Control``
and measure, step by step, when the true motion was beyond the vehicle's threshold; the
driver turns those measurements into ``EpisodeRecord`` ground truth (``Driver.schedule``
adds scripts on the way). With a ``PathGeometry`` whose corners are arcs, the driver enters
each arc at ``CORNER_KMH``, keeps ``v^2 * curvature`` under ``CALM_LATERAL_MPS2`` on it, and
each step reports that lateral acceleration (0 on the polyline's sharp corners).

Pure: no clock (time is ``t_s`` since the start), no I/O, randomness only inside scripts
(from the ``numpy.random.Generator`` they are given). Motion is integrated exactly for a
constant acceleration over each step, so a stop lands on its point at zero speed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from firmware_sim.corners import CornerAhead, CornerSpan, PathGeometry
from firmware_sim.limits import CityLimits, Limit
from firmware_sim.route import Route

log = logging.getLogger(__name__)

ACCEL_MPS2 = 1.0  # normal acceleration
BRAKE_MPS2 = 1.4  # normal slowing when the allowed speed drops where the truck is
BRAKE_PLAN_MPS2 = 1.3  # deceleration planned ahead of corners, stops and zones
BRAKE_MAX_MPS2 = 1.5  # the calm driver never brakes harder than this
CORNER_KMH = 15.0  # speed through a corner
CALM_LATERAL_MPS2 = 1.5  # on an arc, the calm driver keeps v^2 * curvature under this
LIMIT_MARGIN_KMH = 5.0  # the calm driver stays this far under the posted limit
SAMPLE_M = 0.5  # resolution of the speed-limit profile along the route
AHEAD_EPS_M = 1e-6  # a constraint closer than this is behind the truck
STOP_SNAP_M = 0.05  # a truck (almost) at rest this close to a stop is at the stop
STOP_SNAP_MPS = 0.02  # "almost at rest": rounding leaves the last step a hair short
RECORD_GIVE_UP_S = 30.0  # an episode whose condition never ends is closed after this


@dataclass(frozen=True)
class Constraint:
    """A place on the route the truck must pass at ``v_mps`` or slower."""

    s_m: float
    v_mps: float
    kind: Literal["corner", "stop", "zone"]
    ref: str | None = None  # place id (stop), zone id (zone) or corner id (rounded corner)
    zone_kind: str | None = None
    turn_deg: float = 0.0  # change of heading at a corner, degrees (+ = right turn)


class RoadProfile:
    """Speed limits along a route, sampled every ``SAMPLE_M``, and the zone entries."""

    def __init__(self, route: Route, limits: CityLimits) -> None:
        """Sample ``limits`` (roads, zones, default: the simulator's own model) along the
        route."""
        n = max(1, math.ceil(route.length_m / SAMPLE_M))
        self.length_m = route.length_m
        self._ds = route.length_m / n
        samples = limits.along(route, np.arange(n) * self._ds)
        self.limit_kmh = np.array([lim.limit_kmh for lim in samples])
        # a run is a stretch under one limit from one source: a school zone on a road
        # with the same limit is still its own run, entered like any zone
        keys = [(lim.limit_kmh, lim.zone_id) for lim in samples]
        starts = np.array([i for i in range(n) if keys[i] != keys[i - 1]], dtype=int)
        if starts.size == 0:
            starts = np.array([0])
        self._run_of = np.zeros(n, dtype=int)
        self._runs: list[Limit] = []
        for k, a in enumerate(starts):
            b = starts[(k + 1) % starts.size] if starts.size > 1 else a + n
            length = (b - a) % n or n
            idx = np.arange(a, a + length) % n
            self._run_of[idx] = k
            self._runs.append(samples[int(a)])
        self.entries = self._entries(starts)

    def _entries(self, starts: np.ndarray) -> tuple[Constraint, ...]:
        """Where the limit drops or a school zone begins; placed one sample early, where
        ``at`` already applies it."""
        n = len(self._run_of)
        out = []
        for i in starts:
            run = self._runs[self._run_of[i]]
            if self.limit_kmh[i] < self.limit_kmh[i - 1] or run.zone_kind == "school_zone":
                v_mps = (run.limit_kmh - LIMIT_MARGIN_KMH) / 3.6
                s_m = float((i - 1) % n * self._ds)
                out.append(Constraint(s_m, v_mps, "zone", run.zone_id, run.zone_kind))
        return tuple(out)

    def at(self, s_m: float) -> Limit:
        """The limit (km/h) and zone at distance ``s_m`` along the route.

        Between two samples the stricter one applies, so a zone starts up to ``SAMPLE_M``
        early and ends up to ``SAMPLE_M`` late, never the other way round.
        """
        n = len(self._run_of)
        i = int(math.fmod(s_m, self.length_m) / self._ds) % n
        j = (i + 1) % n
        stricter = i if self.limit_kmh[i] <= self.limit_kmh[j] else j
        return self._runs[int(self._run_of[stricter])]

    def has_kind(self, zone_kind: str) -> bool:
        """Whether any part of the route is of ``zone_kind`` ("school_zone", "default", ...)."""
        return any(self._runs[k].zone_kind == zone_kind for k in set(self._run_of.tolist()))

    def best_calm_speed_mps(self, cruise_mps: float) -> float:
        """The highest speed the calm driver ever aims for on this route, m/s."""
        top = float(np.max(self.limit_kmh)) - LIMIT_MARGIN_KMH
        return min(cruise_mps, top / 3.6)


@dataclass(frozen=True)
class DriveView:
    """What a script sees of the truck before a step (SI units, ``t_s`` since start)."""

    t_s: float
    s_m: float
    v_mps: float
    dwelling: bool
    dwell_left_s: float
    limit: Limit  # where the truck is
    ceiling_mps: float  # the calm driver's target speed here
    cruise_mps: float
    room_m: float  # distance to the next place the truck must be slower
    next_school: tuple[str, float] | None  # (zone id, distance m) of the next school zone
    next_corner: CornerAhead | None = None


@dataclass(frozen=True)
class Control:
    """A script's override for one step; the default is calm driving."""

    forced_mps2: float | None = None  # exact acceleration, look-ahead ignored
    ceiling_mps: float | None = None  # replaces the calm target speed
    accel_mps2: float = ACCEL_MPS2  # acceleration towards the target speed
    ignore_zone: str | None = None  # zone whose entry the driver does not slow down for
    ignore_corner: str | None = None  # rounded corner (``CornerSpan.ref``) taken at speed


@dataclass(frozen=True)
class DriveStep:
    """One integration step: times (s), applied acceleration, state at its end."""

    t0_s: float
    t1_s: float
    moving_s: float  # time within the step the truck moved (a stop may end it early)
    a_mps2: float
    v_mps: float
    s_m: float
    limit: Limit
    lateral_mps2: float = 0.0  # v^2 * curvature at the end of the step (0 with sharp corners)


@dataclass(frozen=True)
class EpisodeRecord:
    """Ground truth of a played episode, in seconds since the start."""

    kind: str
    start_s: float
    end_s: float
    peak_value: float  # m/s^2 for harsh events, km/h for speeding
    zone_id: str | None


class EpisodeScript(Protocol):
    """A scripted episode: overrides the driver, then says when the truth was beyond."""

    @property
    def kind(self) -> str: ...

    @property
    def finished(self) -> bool: ...

    def control(self, view: DriveView) -> Control: ...

    def measure(self, step: DriveStep) -> float | None: ...


class _Tracker:
    """Collects the interval and peak of a script's measurements."""

    def __init__(self) -> None:
        self.start_s: float | None = None
        self.end_s = 0.0
        self.peak = 0.0
        self.zone_id: str | None = None
        self.complete = False

    def observe(self, step: DriveStep, value: float | None) -> None:
        if value is None:
            self.complete = self.start_s is not None
            return
        self.complete = False
        if self.start_s is None:
            self.start_s, self.zone_id = step.t0_s, step.limit.zone_id
        self.end_s = step.t0_s + step.moving_s
        self.peak = max(self.peak, value)


Ahead = list[tuple[float, Constraint]]  # (distance m, constraint) ahead of the truck


def _ignored(c: Constraint, control: Control) -> bool:
    """Whether ``control`` tells the driver not to slow down for ``c``."""
    ignored = {"zone": control.ignore_zone, "corner": control.ignore_corner}.get(c.kind)
    return c.ref is not None and c.ref == ignored


def build_constraints(
    route: Route, profile: RoadProfile, spans: Sequence[CornerSpan] | None = None
) -> tuple[Constraint, ...]:
    """Corners (at their vertex, or both ends of their arc), stops and zone entries of a
    route, in order along it."""
    corner_mps = CORNER_KMH / 3.6
    if spans is None:
        out = [Constraint(c.s_m, corner_mps, "corner", turn_deg=c.turn_deg) for c in route.corners]
    else:
        out = [
            Constraint(s, corner_mps, "corner", sp.ref, turn_deg=sp.turn_deg)
            for sp in spans
            for s in (sp.s_in_m, sp.s_out_m)
        ]
    out += [Constraint(st.s_m, 0.0, "stop", st.place_id) for st in route.stops]
    out += list(profile.entries)
    return tuple(sorted(out, key=lambda c: (c.s_m, c.v_mps)))


class Driver:
    """Drives one truck along its route, step by step, and records played episodes."""

    def __init__(
        self,
        route: Route,
        profile: RoadProfile,
        *,
        cruise_kmh: float,
        dwell_s: float,
        scripts: Sequence[EpisodeScript] = (),
        geometry: PathGeometry | None = None,
    ) -> None:
        self.route = route
        self.profile = profile
        self.cruise_mps = cruise_kmh / 3.6
        self.dwell_s = dwell_s
        self.geometry = geometry
        spans = geometry.corner_spans if geometry is not None else None
        self.constraints = build_constraints(route, profile, spans)
        self._curvature = {sp.ref: sp.curvature_per_m for sp in spans or ()}
        self.t_s = 0.0
        self.s_m = 0.0  # distance driven, m (grows lap after lap)
        self.v_mps = 0.0
        self.a_mps2 = 0.0
        self._dwell_until: float | None = None
        self._served_at_m = 0.0  # where the last dwell was (no dwell at the very start)
        self._scripts = list(scripts)
        self._tracker = _Tracker()
        self._finished_at: float | None = None
        self.records: list[EpisodeRecord] = []

    def _ahead_m(self, c: Constraint) -> float:
        return (c.s_m - math.fmod(self.s_m, self.route.length_m)) % self.route.length_m

    @property
    def active_script(self) -> EpisodeScript | None:
        """The script being played or waiting for its cue (None: calm driving)."""
        return self._scripts[0] if self._scripts else None

    def schedule(self, script: EpisodeScript) -> None:
        """Queue ``script`` after those already given; it plays once they are done."""
        self._scripts.append(script)

    def _ahead(self) -> Ahead:
        """(distance m, constraint) of every constraint ahead, in route order."""
        length = self.route.length_m
        here = math.fmod(self.s_m, length)
        ahead = [((c.s_m - here) % length, c) for c in self.constraints]
        return [(d, c) for d, c in ahead if d > AHEAD_EPS_M]

    def view(self) -> DriveView:
        """The truck's state before the next step."""
        return self._view(self._ahead())

    def _view(self, ahead: Ahead) -> DriveView:
        limit = self.profile.at(self.s_m)
        room, school, corner = self.route.length_m, None, None
        for d, c in ahead:  # one pass: this runs at every integration step
            room = min(room, d)
            if c.zone_kind == "school_zone" and (school is None or d < school[0]):
                school = (d, c)
            if c.kind == "corner" and (corner is None or d < corner[0]):
                corner = (d, c)
        dwell_left = max(0.0, self._dwell_until - self.t_s) if self._dwell_until else 0.0
        ceiling = min(self.cruise_mps, (limit.limit_kmh - LIMIT_MARGIN_KMH) / 3.6)
        curvature = self.geometry.curvature_at(self.s_m) if self.geometry is not None else 0.0
        if curvature > 0.0:
            ceiling = min(ceiling, math.sqrt(CALM_LATERAL_MPS2 / curvature))
        return DriveView(
            t_s=self.t_s,
            s_m=self.s_m,
            v_mps=self.v_mps,
            dwelling=self._dwell_until is not None,
            dwell_left_s=dwell_left,
            limit=limit,
            ceiling_mps=ceiling,
            cruise_mps=self.cruise_mps,
            room_m=room,
            next_school=(str(school[1].ref), school[0]) if school else None,
            next_corner=self._corner_ahead(*corner) if corner is not None else None,
        )

    def _corner_ahead(self, distance_m: float, c: Constraint) -> CornerAhead:
        curvature = self._curvature.get(c.ref, math.inf) if c.ref is not None else math.inf
        return CornerAhead(c.ref, c.s_m, distance_m, c.turn_deg, curvature)

    def step(self, dt_s: float) -> DriveStep:
        """Advance by ``dt_s`` seconds; returns what happened."""
        ahead = self._ahead()
        view = self._view(ahead)
        script = self._scripts[0] if self._scripts else None
        control = script.control(view) if script is not None else Control()
        a = 0.0 if self._dwell_until is not None else self._command(view, control, dt_s, ahead)
        step = self._integrate(a, dt_s)
        self._after_step(step)
        if script is not None:
            self._track(script, step)
        return step

    def _command(self, view: DriveView, control: Control, dt_s: float, ahead: Ahead) -> float:
        """Acceleration for this step, m/s^2 (never negative at rest)."""
        if control.forced_mps2 is not None:
            a = control.forced_mps2
        else:
            target = view.ceiling_mps if control.ceiling_mps is None else control.ceiling_mps
            a = min(max((target - self.v_mps) / dt_s, -BRAKE_MPS2), control.accel_mps2)
            # Beyond this distance a constraint cannot need calm braking yet (_slow_for
            # would return ``a`` unchanged), so it is skipped: the result is the same.
            v1 = self.v_mps + max(a, 0.0) * dt_s
            reach = v1 * v1 / (2 * BRAKE_PLAN_MPS2) + (self.v_mps + abs(a) * dt_s) * dt_s + 1.0
            for d, c in ahead:
                if d <= reach and not _ignored(c, control):
                    a = min(a, self._slow_for(c, d, a, dt_s))
            a = max(a, -BRAKE_MAX_MPS2)
        return max(a, 0.0) if self.v_mps <= 0.0 else a

    def _slow_for(self, c: Constraint, d: float, a: float, dt_s: float) -> float:
        """The acceleration that keeps the truck able to pass ``c``, ``d`` m ahead, calmly."""
        v = self.v_mps
        v1 = v + a * dt_s
        if v1 <= c.v_mps:
            return a
        d1 = d - (v + 0.5 * a * dt_s) * dt_s
        if d1 > 0 and (v1 * v1 - c.v_mps * c.v_mps) / (2 * d1) < BRAKE_PLAN_MPS2:
            return a
        if v <= c.v_mps:
            return (c.v_mps - v) / dt_s  # reach exactly the allowed speed, then hold it
        return -(v * v - c.v_mps * c.v_mps) / (2 * d)  # constant deceleration to arrive at it

    def _integrate(self, a: float, dt_s: float) -> DriveStep:
        v0 = self.v_mps
        v1 = v0 + a * dt_s
        moving = dt_s if v0 > 0 or a > 0 else 0.0
        if v1 < 0.0:  # comes to rest within the step
            moving = v0 / -a
            v1 = 0.0
        self.s_m += 0.5 * (v0 + v1) * moving
        t0 = self.t_s
        self.t_s += dt_s
        self.v_mps = v1
        self.a_mps2 = a
        lateral = 0.0 if self.geometry is None else v1 * v1 * self.geometry.curvature_at(self.s_m)
        limit = self.profile.at(self.s_m)
        return DriveStep(t0, self.t_s, moving, a, v1, self.s_m, limit, lateral)

    def _after_step(self, step: DriveStep) -> None:
        """Start or end a dwell at a collection point."""
        if self._dwell_until is not None:
            if self.t_s >= self._dwell_until - 1e-9:
                self._dwell_until = None
            return
        if self.v_mps > STOP_SNAP_MPS or abs(self.s_m - self._served_at_m) < 1.0:
            return
        length = self.route.length_m
        for c in self.constraints:
            d = self._ahead_m(c)
            if c.kind == "stop" and (d <= STOP_SNAP_M or d >= length - STOP_SNAP_M):
                self.s_m += d if d <= STOP_SNAP_M else d - length
                self.v_mps = 0.0
                self._served_at_m = self.s_m
                self._dwell_until = self.t_s + self.dwell_s
                log.debug("stop %s at t=%.2f s", c.ref, self.t_s)
                return

    def _track(self, script: EpisodeScript, step: DriveStep) -> None:
        """Feed the active script's measurement; record and retire it when done.

        A finished script is retired once its condition is over (a speeding truck is still
        too fast for a moment after the script lets go), or at once if it never began.
        """
        tr = self._tracker
        tr.observe(step, script.measure(step))
        if not script.finished:
            return
        if self._finished_at is None:
            self._finished_at = step.t1_s
        gave_up = step.t1_s - self._finished_at > RECORD_GIVE_UP_S
        if tr.start_s is not None and (tr.complete or gave_up):
            self.records.append(
                EpisodeRecord(script.kind, tr.start_s, tr.end_s, tr.peak, tr.zone_id)
            )
        elif tr.start_s is None:
            log.warning("episode %s played but never went beyond its threshold", script.kind)
        else:
            return
        self._scripts.pop(0)
        self._tracker = _Tracker()
        self._finished_at = None
