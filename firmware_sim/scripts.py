"""Scripted driving episodes: the driver misbehaves once, on cue, and we know exactly when.

Each ``EpisodePlan`` of a truck becomes a script that waits for its cue (``at_s`` and the
right situation), overrides the calm driver through a ``Control``, and measures the true
motion against the vehicle class threshold so the driver can record ground truth:

- ``harsh_braking``: moving at ``HARSH_BRAKE_MIN_SPEED_MPS`` or more, brake at about
  5 m/s^2 (always above the class threshold) to a stop, pause 2-3 s, drive on.
- ``harsh_acceleration``: stop calmly (or use a collection-point stop), pause, then
  accelerate at 3.2-3.5 m/s^2 (at least 0.6 above the class threshold) up to cruise.
- ``speeding_zone``: do not slow down for the next school zone, and in it drive at its
  limit + ``ZONE_EXCESS_KMH`` for ``HOLD_S`` or until leaving it.
- ``speeding_road``: outside school zones, accelerate calmly to the road limit +
  ``ROAD_EXCESS_KMH``, hold it ``HOLD_S``, then slow down calmly.
- ``harsh_cornering`` (rounded corners only, see ``firmware_sim.corners``): do not slow
  down for the next sharp corner; take it at the speed that puts the lateral acceleration
  ``CORNER_EXCESS_MPS2`` (+ up to 0.6) over the class threshold.

Measured "beyond" means acceleration/deceleration (lateral for cornering) above the class
threshold, or speed above limit + ``SPEEDING_TOLERANCE_KMH`` (the ``[detectors.speeding]``
default).

Errors::

    ScenarioError(ValueError)   an episode the truck's route cannot play
      .device_id, .kind
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from citytrack.config import EpisodePlan, Truck, VehicleClass
from citytrack.errors import InvalidInputError
from firmware_sim.corners import CornerAhead
from firmware_sim.driving import BRAKE_PLAN_MPS2, Control, DriveStep, DriveView, RoadProfile

HARSH_BRAKE_MIN_SPEED_MPS = 8.0
HARSH_BRAKE_MPS2 = 5.0  # nominal; at least the class threshold + 1.0
HARSH_ACCEL_MPS2 = 3.2  # nominal, + up to 0.3; at least the class threshold + 0.6
PAUSE_S = (2.0, 3.0)  # standstill after a harsh stop or before a harsh start
ZONE_EXCESS_KMH = 15.0
ROAD_EXCESS_KMH = 20.0
HOLD_S = 15.0
SPEEDING_TOLERANCE_KMH = 5.0
CORNER_EXCESS_MPS2 = 1.2  # nominal lateral acceleration over the class threshold
CORNER_MIN_TURN_DEG = 60.0  # a gentler corner would need an absurd speed to be harsh
CORNER_LOOKAHEAD_M = 300.0  # a corner further away than this is not yet the cue
GIVE_UP_S = 45.0  # a script that cannot complete its manoeuvre stops trying after this


class ScenarioError(InvalidInputError):
    """A scripted episode that this truck's route or speeds make impossible."""

    def __init__(self, message: str, *, device_id: str, kind: str) -> None:
        super().__init__(f"{device_id}: {kind}: {message}")
        self.device_id = device_id
        self.kind = kind


@dataclass(frozen=True)
class ScriptContext:
    """What every script needs: thresholds, cruise speed (m/s) and a random generator."""

    vehicle: VehicleClass
    cruise_mps: float
    rng: np.random.Generator


class _Script:
    """A small state machine: ``phase`` names the method that handles the next step."""

    kind: ClassVar[str] = ""

    def __init__(self, at_s: float, ctx: ScriptContext) -> None:
        self.at_s = at_s
        self.ctx = ctx
        self.phase = "armed"
        self.until_s = 0.0

    @property
    def finished(self) -> bool:
        return self.phase == "done"

    def control(self, view: DriveView) -> Control:
        handler: Callable[[DriveView], Control] = getattr(self, f"_{self.phase}")
        return handler(view)

    def _done(self, view: DriveView) -> Control:
        return Control()

    def measure(self, step: DriveStep) -> float | None:
        raise NotImplementedError

    def _pause_s(self) -> float:
        return float(self.ctx.rng.uniform(*PAUSE_S))


class HarshBrakingScript(_Script):
    kind = "harsh_braking"

    def __init__(self, at_s: float, ctx: ScriptContext) -> None:
        super().__init__(at_s, ctx)
        nominal = HARSH_BRAKE_MPS2 + float(ctx.rng.uniform(-0.2, 0.4))
        self.decel_mps2 = max(nominal, ctx.vehicle.harsh_braking_mps2 + 1.0)

    def _armed(self, view: DriveView) -> Control:
        cued = view.t_s >= self.at_s and not view.dwelling
        if cued and view.v_mps >= HARSH_BRAKE_MIN_SPEED_MPS:
            self.phase = "braking"
            return Control(forced_mps2=-self.decel_mps2)
        return Control()

    def _braking(self, view: DriveView) -> Control:
        if view.v_mps > 0.0:
            return Control(forced_mps2=-self.decel_mps2)
        self.phase, self.until_s = "standstill", view.t_s + self._pause_s()
        return Control(forced_mps2=0.0)

    def _standstill(self, view: DriveView) -> Control:
        if view.t_s < self.until_s:
            return Control(forced_mps2=0.0)
        self.phase = "done"
        return Control()

    def measure(self, step: DriveStep) -> float | None:
        decel = -step.a_mps2
        return decel if decel > self.ctx.vehicle.harsh_braking_mps2 else None


class HarshAccelerationScript(_Script):
    kind = "harsh_acceleration"

    def __init__(self, at_s: float, ctx: ScriptContext) -> None:
        super().__init__(at_s, ctx)
        nominal = HARSH_ACCEL_MPS2 + float(ctx.rng.uniform(0.0, 0.3))
        self.accel_mps2 = max(nominal, ctx.vehicle.harsh_acceleration_mps2 + 0.6)
        self.launched_s = 0.0

    def _room_needed_m(self, view: DriveView) -> float:
        """Stop calmly, launch hard to cruise, then still be able to slow for what is ahead."""
        c = view.cruise_mps
        stop = view.v_mps**2 / (2 * BRAKE_PLAN_MPS2)
        return stop + c * c / (2 * self.accel_mps2) + c * c / (2 * BRAKE_PLAN_MPS2) + 20.0

    def _armed(self, view: DriveView) -> Control:
        if view.t_s < self.at_s:
            return Control()
        if view.dwelling:  # a collection-point stop is the standstill we need
            self.phase, self.until_s = "standstill", view.t_s + view.dwell_left_s
            return Control()
        if view.v_mps <= 0.0:
            self.phase, self.until_s = "standstill", view.t_s + self._pause_s()
            return Control(forced_mps2=0.0)
        if view.room_m >= self._room_needed_m(view):
            self.phase = "stopping"
            return Control(forced_mps2=-BRAKE_PLAN_MPS2)
        return Control()

    def _stopping(self, view: DriveView) -> Control:
        if view.v_mps > 0.0:
            return Control(forced_mps2=-BRAKE_PLAN_MPS2)
        self.phase, self.until_s = "standstill", view.t_s + self._pause_s()
        return Control(forced_mps2=0.0)

    def _standstill(self, view: DriveView) -> Control:
        if view.t_s < self.until_s or view.dwelling:
            return Control(forced_mps2=0.0)
        self.phase, self.launched_s = "launch", view.t_s
        return Control(accel_mps2=self.accel_mps2)

    def _launch(self, view: DriveView) -> Control:
        reached = view.v_mps >= view.ceiling_mps - 0.05
        if reached or view.t_s - self.launched_s > GIVE_UP_S:
            self.phase = "done"
            return Control()
        return Control(accel_mps2=self.accel_mps2)

    def measure(self, step: DriveStep) -> float | None:
        accel = step.a_mps2
        return accel if accel > self.ctx.vehicle.harsh_acceleration_mps2 else None


class _SpeedingScript(_Script):
    def measure(self, step: DriveStep) -> float | None:
        if self.phase == "armed":
            return None
        kmh = step.v_mps * 3.6
        return kmh if kmh > step.limit.limit_kmh + SPEEDING_TOLERANCE_KMH else None


class SpeedingZoneScript(_SpeedingScript):
    kind = "speeding_zone"

    def __init__(self, at_s: float, ctx: ScriptContext) -> None:
        super().__init__(at_s, ctx)
        self.zone_id = ""
        self.excess_kmh = ZONE_EXCESS_KMH + float(ctx.rng.uniform(-1.0, 1.0))
        self.entered_s = 0.0

    def _armed(self, view: DriveView) -> Control:
        in_school = view.limit.zone_kind == "school_zone"
        if view.t_s < self.at_s or in_school or view.next_school is None:
            return Control()
        self.zone_id, self.phase = view.next_school[0], "approach"
        return Control(ignore_zone=self.zone_id)

    def _approach(self, view: DriveView) -> Control:
        if view.limit.zone_id != self.zone_id:
            return Control(ignore_zone=self.zone_id)
        self.phase, self.entered_s = "speeding", view.t_s
        return self._speeding(view)

    def _speeding(self, view: DriveView) -> Control:
        left = view.limit.zone_id != self.zone_id
        if left or view.t_s - self.entered_s >= HOLD_S:
            self.phase = "done"
            return Control()
        target = (view.limit.limit_kmh + self.excess_kmh) / 3.6
        return Control(ceiling_mps=target, ignore_zone=self.zone_id)


class SpeedingRoadScript(_SpeedingScript):
    kind = "speeding_road"

    def __init__(self, at_s: float, ctx: ScriptContext) -> None:
        super().__init__(at_s, ctx)
        self.excess_kmh = ROAD_EXCESS_KMH + float(ctx.rng.uniform(-1.0, 2.0))
        self.started_s = 0.0

    def _target(self, view: DriveView) -> float:
        return (view.limit.limit_kmh + self.excess_kmh) / 3.6

    def _armed(self, view: DriveView) -> Control:
        in_school = view.limit.zone_kind == "school_zone"
        if view.t_s < self.at_s or in_school or view.dwelling:
            return Control()
        self.phase, self.started_s = "speeding", view.t_s
        return Control(ceiling_mps=self._target(view))

    def _speeding(self, view: DriveView) -> Control:
        gave_up = view.t_s - self.started_s > GIVE_UP_S
        if view.limit.zone_kind == "school_zone" or gave_up:
            self.phase = "done"
            return Control()
        if view.v_mps >= self._target(view) - 0.05:
            self.phase, self.until_s = "hold", view.t_s + HOLD_S
        return Control(ceiling_mps=self._target(view))

    def _hold(self, view: DriveView) -> Control:
        if view.t_s >= self.until_s or view.limit.zone_kind == "school_zone":
            self.phase = "done"
            return Control()
        return Control(ceiling_mps=self._target(view))


class HarshCorneringScript(_Script):
    kind = "harsh_cornering"

    def __init__(self, at_s: float, ctx: ScriptContext) -> None:
        super().__init__(at_s, ctx)
        excess = CORNER_EXCESS_MPS2 + float(ctx.rng.uniform(0.0, 0.6))
        self.lateral_mps2 = ctx.vehicle.harsh_cornering_mps2 + excess
        self.corner: CornerAhead | None = None
        self.exit_m = 0.0
        self.speed_mps = 0.0

    def _armed(self, view: DriveView) -> Control:
        c = view.next_corner
        if view.t_s < self.at_s or view.dwelling or c is None or c.ref is None:
            return Control()
        if abs(c.turn_deg) < CORNER_MIN_TURN_DEG or c.distance_m > CORNER_LOOKAHEAD_M:
            return Control()
        if not math.isfinite(c.curvature_per_m):
            return Control()  # a sharp corner has no speed at which it is merely harsh
        arc_m = math.radians(abs(c.turn_deg)) / c.curvature_per_m
        if c.distance_m < arc_m + 10.0:
            return Control()  # within the arc (its exit is ahead) or too close to speed up
        self.corner, self.phase = c, "approach"
        self.speed_mps = math.sqrt(self.lateral_mps2 / c.curvature_per_m)
        self.exit_m = view.s_m + c.distance_m + arc_m + 1.0
        return self._approach(view)

    def _approach(self, view: DriveView) -> Control:
        if self.corner is None or view.s_m >= self.exit_m:
            self.phase = "done"
            return Control()
        return Control(ceiling_mps=self.speed_mps, ignore_corner=self.corner.ref)

    def measure(self, step: DriveStep) -> float | None:
        lateral = step.lateral_mps2
        return lateral if lateral > self.ctx.vehicle.harsh_cornering_mps2 else None


SCRIPTS: dict[str, type[_Script]] = {
    cls.kind: cls
    for cls in (
        HarshBrakingScript,
        HarshAccelerationScript,
        SpeedingZoneScript,
        SpeedingRoadScript,
        HarshCorneringScript,
    )
}


def check_playable(plan: EpisodePlan, truck: Truck, profile: RoadProfile) -> None:
    """Refuse an episode the route cannot play.

    Raises:
        ScenarioError: no school zone on the route (``speeding_zone``), no stretch outside
            school zones (``speeding_road``), or never fast enough to brake hard
            (``harsh_braking``).
    """

    def fail(message: str) -> ScenarioError:
        return ScenarioError(message, device_id=truck.device_id, kind=plan.kind)

    if plan.kind == "speeding_zone" and not profile.has_kind("school_zone"):
        raise fail("the route never enters a school zone")
    if plan.kind == "speeding_road" and not (
        profile.has_kind("default") or profile.has_kind("road")
    ):
        raise fail("the route never leaves school zones")
    top = profile.best_calm_speed_mps(truck.cruise_kmh / 3.6)
    if plan.kind == "harsh_braking" and top < HARSH_BRAKE_MIN_SPEED_MPS + 0.3:
        raise fail(
            f"the truck never drives faster than {top * 3.6:.0f} km/h; harsh braking "
            f"needs {HARSH_BRAKE_MIN_SPEED_MPS * 3.6:.0f} km/h or more"
        )


def make_scripts(
    truck: Truck, vehicle: VehicleClass, profile: RoadProfile, rng: np.random.Generator
) -> list[_Script]:
    """One script per planned episode, in order of ``at_s``.

    Raises:
        ScenarioError: see ``check_playable``.
    """
    ctx = ScriptContext(vehicle, truck.cruise_kmh / 3.6, rng)
    plans = sorted(truck.episodes, key=lambda p: p.at_s)
    for plan in plans:
        check_playable(plan, truck, profile)
    return [SCRIPTS[plan.kind](plan.at_s, ctx) for plan in plans]
