"""Scripted work that is not misbehaviour: stop-and-go collection rounds, and parking.

Both follow the driver's script protocol (``firmware_sim.driving.EpisodeScript``) and are
recorded like episodes, under kinds that are not alerts (``COLLECTION_WORK``, ``PARKED``):
the scenario generator turns those records into stretches of driving, to count false
alerts against.

- ``StopAndGoScript``: a garbage truck working a street. It slows gently to a halt, waits
  10-40 s while the crew loads, creeps 20-60 m at 11-18 km/h (accelerating and braking at
  0.5-0.9 m/s^2), halts again, ``stops`` times. Recorded from the first braking to the end
  of the last halt; the record's peak is the top speed, m/s.
- ``ParkScript``: slows gently to a stop and stays ``park_s`` seconds. Recorded while
  parked (peak 0).

Randomness only from the ``numpy.random.Generator`` given. Pure: no clock, no I/O.
"""

from __future__ import annotations

import numpy as np

from firmware_sim.driving import Control, DriveStep, DriveView

COLLECTION_WORK = "collection_work"
PARKED = "parked"
HALT_S = (10.0, 40.0)  # crew loading at a collection point
GAP_M = (20.0, 60.0)  # from one halt to the next
CREEP_MPS = (3.0, 5.0)  # 11-18 km/h between halts
GENTLE_MPS2 = (0.5, 0.9)  # acceleration and braking between halts
PARK_BRAKE_MPS2 = (0.6, 1.0)
STOP_MARGIN_M = 10.0  # room left before the next corner when a gentle stop begins


def _room_to_stop(view: DriveView, at_s: float, brake_mps2: float) -> bool:
    """Cued, and able to stop gently before the next corner, stop or zone entry.

    The gentle stop ignores the driver's look-ahead, so it must not begin where the truck
    would roll into a corner at speed.
    """
    if view.t_s < at_s or view.dwelling:
        return False
    return view.room_m > view.v_mps * view.v_mps / (2.0 * brake_mps2) + STOP_MARGIN_M


class StopAndGoScript:
    """Collection work along the street: ``stops`` halts, gentle moves between them."""

    kind = COLLECTION_WORK

    def __init__(self, at_s: float, rng: np.random.Generator, stops: int) -> None:
        """Raises: ValueError: fewer than one stop."""
        if stops < 1:
            raise ValueError(f"stops must be at least 1, got {stops}")
        self.at_s = at_s
        self.rng = rng
        self.halts_left = stops
        self.phase = "armed"
        self.creep_mps = float(rng.uniform(*CREEP_MPS))
        self.accel_mps2 = float(rng.uniform(*GENTLE_MPS2))
        self.brake_mps2 = float(rng.uniform(*GENTLE_MPS2))
        self.until_s = 0.0
        self.halt_at_m = 0.0  # where the next halt is, along the route (m)

    @property
    def finished(self) -> bool:
        return self.phase == "done"

    def control(self, view: DriveView) -> Control:
        if self.phase == "armed":
            if not _room_to_stop(view, self.at_s, self.brake_mps2):
                return Control()
            self.phase = "stopping"
        if self.phase == "halt" and view.t_s >= self.until_s:
            if self.halts_left == 0:
                self.phase = "done"
                return Control()
            self.phase, self.halt_at_m = "moving", view.s_m + float(self.rng.uniform(*GAP_M))
        if self.phase == "moving":
            # Brake in time to come to rest at the halt point (within a step's travel).
            if view.v_mps * view.v_mps / (2.0 * self.brake_mps2) < self.halt_at_m - view.s_m:
                return Control(ceiling_mps=self.creep_mps, accel_mps2=self.accel_mps2)
            self.phase = "stopping"
        if self.phase == "stopping":
            if view.v_mps > 0.0:
                return Control(forced_mps2=-self.brake_mps2)
            self.halts_left -= 1
            self.phase, self.until_s = "halt", view.t_s + float(self.rng.uniform(*HALT_S))
        return Control(forced_mps2=0.0) if self.phase == "halt" else Control()

    def measure(self, step: DriveStep) -> float | None:
        """Speed (m/s) while the work goes on; None before and after."""
        return step.v_mps if self.phase in ("moving", "stopping", "halt") else None


class ParkScript:
    """Pull over gently and stay parked ``park_s`` seconds."""

    kind = PARKED

    def __init__(self, at_s: float, rng: np.random.Generator, park_s: float) -> None:
        """Raises: ValueError: a parking time that is not positive."""
        if not park_s > 0:
            raise ValueError(f"park_s must be positive, got {park_s}")
        self.at_s = at_s
        self.park_s = park_s
        self.brake_mps2 = float(rng.uniform(*PARK_BRAKE_MPS2))
        self.phase = "armed"
        self.until_s = 0.0

    @property
    def finished(self) -> bool:
        return self.phase == "done"

    def control(self, view: DriveView) -> Control:
        if self.phase == "armed":
            if not _room_to_stop(view, self.at_s, self.brake_mps2):
                return Control()
            self.phase = "stopping"
        if self.phase == "stopping":
            if view.v_mps > 0.0:
                return Control(forced_mps2=-self.brake_mps2)
            self.phase, self.until_s = "parked", view.t_s + self.park_s
        if self.phase == "parked":
            if view.t_s < self.until_s:
                return Control(forced_mps2=0.0)
            self.phase = "done"
        return Control()

    def measure(self, step: DriveStep) -> float | None:
        """0.0 while parked; None otherwise."""
        return 0.0 if self.phase == "parked" else None
