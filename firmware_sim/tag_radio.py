"""The radio between a walking child's beacon tag and the roadside stations.

A tag advertises every ``RadioModel.interval_s`` seconds, each gap jittered uniformly by
``±interval_jitter`` (BLE adds a random advDelay of 0-10 ms to every advertising event;
cheap tags also drift). Each advertisement reaches each station independently:

- RSSI from the log-distance path-loss model
  ``rssi = rssi_at_1m_dbm - 10 * path_loss_exponent * log10(d / 1 m) + N(0, sigma_db)``,
  with ``d`` the slant distance (the station's antenna ``height_diff_m`` above the tag),
  then rounded to whole dBm as radios report it;
- a station hears nothing below ``floor_dbm`` (its receiver sensitivity);
- and loses an advertisement it could hear with probability ``loss`` (collisions, the
  scanner on another channel or busy).

``hear_trip`` does this for one trip of one tag at once, vectorised over advertisements x
stations within ``RadioModel.max_range_m`` of the way. ``eid_per_time`` finds which rotating
EID a tag broadcast at each time with few calls to the resolver. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from firmware_sim.school_morning import Trip

RANGE_SIGMAS = 5.0  # beyond the range where the mean RSSI is this many sigmas below the floor


@dataclass(frozen=True)
class RadioModel:
    """Tag advertising and propagation; see the module docstring. dBm, dB, m, s."""

    interval_s: float = 1.0
    interval_jitter: float = 0.1
    loss: float = 0.2
    rssi_at_1m_dbm: float = -59.0
    path_loss_exponent: float = 2.2
    sigma_db: float = 4.0
    floor_dbm: float = -100.0
    height_diff_m: float = 1.5
    tlm_every: int = 10

    def __post_init__(self) -> None:
        """Raises: ValueError: a parameter out of its range."""
        if not self.interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {self.interval_s}")
        if not 0 <= self.interval_jitter < 1:
            raise ValueError(f"interval_jitter must be in [0, 1), got {self.interval_jitter}")
        if not 0 <= self.loss <= 1:
            raise ValueError(f"loss must be in [0, 1], got {self.loss}")
        if not (self.path_loss_exponent > 0 and self.sigma_db >= 0 and self.tlm_every >= 1):
            raise ValueError("need path_loss_exponent > 0, sigma_db >= 0, tlm_every >= 1")

    def mean_rssi_dbm(self, distance_m: np.ndarray) -> np.ndarray:
        """Mean RSSI (dBm) at slant distances (m); distances under 0.1 m count as 0.1 m."""
        d = np.maximum(np.asarray(distance_m, dtype=float), 0.1)
        rssi: np.ndarray = self.rssi_at_1m_dbm - 10.0 * self.path_loss_exponent * np.log10(d)
        return rssi

    @property
    def max_range_m(self) -> float:
        """Horizontal distance beyond which a station practically never hears a tag, m."""
        margin_db = self.rssi_at_1m_dbm + RANGE_SIGMAS * self.sigma_db - self.floor_dbm
        return float(10.0 ** (margin_db / (10.0 * self.path_loss_exponent)))


@dataclass(frozen=True)
class Heard:
    """What the stations heard of one tag on one trip, one row per (advertisement, station).

    ``t_s``: seconds after the plan's t0; ``adv``: the tag's advertisement counter since it
    was switched on; ``station``: index into the plan's fixed stations; ``rssi_dbm`` whole
    dBm; ``distance_m``: the true slant distance.
    """

    t_s: np.ndarray
    adv: np.ndarray
    station: np.ndarray
    rssi_dbm: np.ndarray
    distance_m: np.ndarray

    @classmethod
    def empty(cls) -> Heard:
        f, i = np.empty(0, dtype=float), np.empty(0, dtype=np.int64)
        return cls(f, i, i, f, f)


def advertising_times(
    trip: Trip, first_adv: int, radio: RadioModel, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Times (s after t0) and counters of a tag's advertisements during the trip.

    ``first_adv`` is the tag's counter at the trip's start; the phase is random.
    """
    duration_s = trip.arrive_s - trip.depart_s
    n = math.ceil(duration_s / (radio.interval_s * (1.0 - radio.interval_jitter))) + 2
    j = radio.interval_jitter
    gaps = radio.interval_s * (1.0 + rng.uniform(-j, j, n))
    t = trip.depart_s + rng.uniform(0.0, radio.interval_s) + np.cumsum(gaps) - gaps[0]
    t = t[t <= trip.arrive_s]
    return t, first_adv + np.arange(len(t), dtype=np.int64)


def hear_trip(
    trip: Trip,
    first_adv: int,
    radio: RadioModel,
    station_xy_m: np.ndarray,
    rng: np.random.Generator,
) -> Heard:
    """Every advertisement of one tag on ``trip`` that a station heard (see the module)."""
    t, adv = advertising_times(trip, first_adv, radio, rng)
    if not len(station_xy_m) or not len(t):
        return Heard.empty()
    near = np.flatnonzero(trip.path.closest(station_xy_m)[1] < radio.max_range_m)
    if not len(near):
        return Heard.empty()
    pos = trip.path.xy_at(trip.speed_mps * (t - trip.depart_s))
    delta = pos[:, None, :] - station_xy_m[None, near, :]
    dist = np.sqrt(np.sum(delta**2, axis=2) + radio.height_diff_m**2)
    rssi = radio.mean_rssi_dbm(dist) + radio.sigma_db * rng.standard_normal(dist.shape)
    heard = (rssi >= radio.floor_dbm) & (rng.random(dist.shape) >= radio.loss)
    i, k = np.nonzero(heard)
    return Heard(t[i], adv[i], near[k], np.round(rssi[i, k]), dist[i, k])


def eid_per_time(eid_at: Callable[[int], str], t_s: np.ndarray, period_s: float) -> list[str]:
    """The EID broadcast at each of the sorted times ``t_s``; ``eid_at(i)`` asks for time i.

    An EID changes every ``period_s`` seconds and never repeats, so a run of times shorter
    than a period with the same EID at both ends has that EID throughout: bisecting on
    that costs about ``log2(n)`` calls per rotation instead of one per advertisement.
    """
    n = len(t_s)
    out: list[str] = [""] * n
    if n == 0:
        return out
    stack = [(0, n - 1, eid_at(0), eid_at(n - 1) if n > 1 else eid_at(0))]
    while stack:
        lo, hi, e_lo, e_hi = stack.pop()
        if e_lo == e_hi and t_s[hi] - t_s[lo] < period_s:
            out[lo : hi + 1] = [e_lo] * (hi - lo + 1)
        elif hi - lo <= 1:
            out[lo], out[hi] = e_lo, e_hi
        else:
            mid = (lo + hi) // 2
            e_mid = eid_at(mid)
            stack += [(lo, mid, e_lo, e_mid), (mid, hi, e_mid, e_hi)]
    return out
