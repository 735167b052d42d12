"""Rounded corners: a route driven along arcs instead of its polyline's sharp vertices.

A truck cannot turn on the spot, and a receiver's course turns over seconds, not in one
epoch. ``RoundedRoute`` replaces each vertex of a ``Route`` by a circular arc tangent to both
segments: radius ``CORNER_RADIUS_M`` at a corner (a turn over ``CORNER_MIN_TURN_DEG``, where
the calm driver slows down) and ``BEND_RADIUS_M`` at a gentle bend, each shortened so that an
arc never takes more than ``MAX_SEGMENT_SHARE`` of a segment.

Distances along the route stay the polyline's: the arc at a vertex at ``s_v`` with tangent
length ``t`` is drawn while ``s`` goes from ``s_v - t`` to ``s_v + t``, at constant rate. Its
heading therefore changes by ``turn / (2 t)`` radians per metre of ``s`` (``curvature_at``),
and a truck at speed ``v`` has lateral acceleration ``v^2 * curvature`` (speed times yaw
rate, what a detector computes from speed and course). Pure: no I/O.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from firmware_sim.route import CORNER_MIN_TURN_DEG, Route

CORNER_RADIUS_M = 12.0  # an urban intersection taken by an 8 t truck
BEND_RADIUS_M = 200.0  # a gentle bend of the road
MAX_SEGMENT_SHARE = 0.45  # an arc takes at most this share of each adjacent segment
MIN_TURN_DEG = 0.5  # smaller changes of heading are left sharp


@dataclass(frozen=True)
class CornerSpan:
    """A rounded corner: its arc from ``s_in_m`` to ``s_out_m`` along the route (m).

    ``s_in_m`` > ``s_out_m`` when the arc spans the route's start.
    """

    ref: str
    s_in_m: float
    s_out_m: float
    turn_deg: float  # change of heading, degrees (+ = right turn)
    curvature_per_m: float  # change of heading per metre on the arc, rad/m


@dataclass(frozen=True)
class CornerAhead:
    """The next corner the driver must be slow at: id, place (m), distance (m), turn, curvature.

    ``curvature_per_m`` is inf for a sharp (polyline) corner.
    """

    ref: str | None
    s_m: float  # on the route, modulo its length
    distance_m: float
    turn_deg: float
    curvature_per_m: float


class PathGeometry(Protocol):
    """Where a truck is at a distance along its route, when corners are arcs."""

    @property
    def corner_spans(self) -> tuple[CornerSpan, ...]: ...

    def latlon_at(self, s_m: float) -> tuple[float, float]:
        """WGS84 (lat, lon) degrees at ``s_m`` metres along the route."""
        ...

    def course_at(self, s_m: float) -> float:
        """Heading at ``s_m``, degrees true."""
        ...

    def curvature_at(self, s_m: float) -> float:
        """Change of heading per metre at ``s_m``, rad/m (0 on straights)."""
        ...


@dataclass(frozen=True)
class _Arc:
    s_v: float  # the vertex, along the route (m)
    t_m: float  # tangent length
    course_in_deg: float
    turn_deg: float
    a_xy: tuple[float, float]  # where the arc starts, local metres

    @property
    def curvature(self) -> float:
        return math.radians(abs(self.turn_deg)) / (2.0 * self.t_m)

    def at(self, f: float) -> tuple[float, float, float]:
        """(x, y, course) at fraction ``f`` (0..1) of the arc."""
        k = 1.0 if self.turn_deg > 0 else -1.0
        phi = math.radians(f * self.turn_deg)
        c0 = math.radians(self.course_in_deg)
        r = self.t_m / math.tan(math.radians(abs(self.turn_deg)) / 2.0)
        x = self.a_xy[0] + k * r * (math.cos(c0) - math.cos(c0 + phi))
        y = self.a_xy[1] + k * r * (math.sin(c0 + phi) - math.sin(c0))
        return x, y, (self.course_in_deg + f * self.turn_deg) % 360.0


class RoundedRoute:
    """A ``Route`` whose vertices are arcs; see the module docstring."""

    def __init__(self, route: Route, corner_radius_m: float = CORNER_RADIUS_M) -> None:
        """Round every vertex of ``route``.

        Raises:
            ValueError: a radius that is not positive.
        """
        if not corner_radius_m > 0:
            raise ValueError(f"corner_radius_m must be positive, got {corner_radius_m}")
        self.route = route
        self.length_m = route.length_m
        s_v = route.vertex_s_m
        x, y = route.xy_at(s_v)
        seg_len = np.diff(np.append(s_v, route.length_m))
        courses = [route.course_at(float(s)) for s in s_v]
        arcs: list[_Arc] = []
        spans: list[CornerSpan] = []
        for i, s in enumerate(s_v):
            turn = (courses[i] - courses[i - 1] + 180.0) % 360.0 - 180.0
            if abs(turn) < MIN_TURN_DEG:
                continue
            corner = abs(turn) > CORNER_MIN_TURN_DEG
            radius = corner_radius_m if corner else BEND_RADIUS_M
            share = MAX_SEGMENT_SHARE * min(seg_len[i - 1], seg_len[i])
            t = min(radius * math.tan(math.radians(abs(turn)) / 2.0), share)
            c_in = math.radians(courses[i - 1])
            a_xy = (float(x[i]) - t * math.sin(c_in), float(y[i]) - t * math.cos(c_in))
            arc = _Arc(float(s), t, courses[i - 1], turn, a_xy)
            arcs.append(arc)
            if corner:
                s_in, s_out = (float(s) - t) % self.length_m, (float(s) + t) % self.length_m
                spans.append(CornerSpan(f"corner-{i}", s_in, s_out, turn, arc.curvature))
        self._arcs = arcs
        self._arc_s = [a.s_v for a in arcs]
        self._spans = tuple(spans)

    @property
    def corner_spans(self) -> tuple[CornerSpan, ...]:
        return self._spans

    def _arc(self, s_m: float) -> tuple[_Arc, float] | None:
        """The arc at ``s_m`` and the fraction of it driven, or None on a straight."""
        if not self._arcs:
            return None
        s = math.fmod(s_m, self.length_m) % self.length_m
        i = bisect_right(self._arc_s, s)
        for j in (i - 1, i % len(self._arcs)):
            arc = self._arcs[j]
            d = s - arc.s_v
            d -= self.length_m * round(d / self.length_m)  # nearest copy of the vertex
            if abs(d) < arc.t_m:
                return arc, (d + arc.t_m) / (2.0 * arc.t_m)
        return None

    def latlon_at(self, s_m: float) -> tuple[float, float]:
        """WGS84 (lat, lon) degrees at ``s_m`` metres along the route."""
        found = self._arc(s_m)
        if found is None:
            lat, lon = self.route.latlon_at(s_m)
            return float(lat), float(lon)
        x, y, _ = found[0].at(found[1])
        lat, lon = self.route.to_latlon(np.asarray(x), np.asarray(y))
        return float(lat), float(lon)

    def course_at(self, s_m: float) -> float:
        """Heading at ``s_m``, degrees true, clockwise from north."""
        found = self._arc(s_m)
        return self.route.course_at(s_m) if found is None else found[0].at(found[1])[2]

    def curvature_at(self, s_m: float) -> float:
        """Change of heading per metre at ``s_m``, rad/m (0 on straights)."""
        found = self._arc(s_m)
        return 0.0 if found is None else found[0].curvature
