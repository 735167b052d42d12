"""GPS satellites in view from a street, for GSV/GSA and a plausible HDOP.

Ten to thirteen satellites drift slowly across the sky (real ones move about 0.5 degree a
minute); buildings block low ones now and then and release them a few seconds later (a
two-state Markov chain per satellite). Signal strength follows elevation. The satellites
in use are the tracked ones above the elevation mask with enough signal, and the dilutions
of precision come from their geometry (pseudo-range geometry matrix, as in IS-GPS-200's
navigation solution). The five highest satellites are never blocked, so the geometry
alone never loses the fix: losing it is the receiver model's decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MASK_DEG = 8.0  # elevation mask for satellites in use
MIN_USED_SNR_DBHZ = 22  # weaker satellites are tracked but not used
NO_DOP = 99.99  # what receivers print when there is no solution


@dataclass(frozen=True)
class SatelliteView:
    """One satellite as GSV reports it; ``snr_dbhz`` None means in view but not tracked."""

    prn: int
    elevation_deg: int
    azimuth_deg: int
    snr_dbhz: int | None


@dataclass(frozen=True)
class SkyFix:
    """The satellites in view, those used in the solution, and its dilutions of precision."""

    satellites: tuple[SatelliteView, ...]
    used_prns: tuple[int, ...]
    pdop: float
    hdop: float
    vdop: float


def dops(elevation_deg: np.ndarray, azimuth_deg: np.ndarray) -> tuple[float, float, float]:
    """(PDOP, HDOP, VDOP) for satellites at these elevations/azimuths; ``NO_DOP`` if < 4."""
    if len(elevation_deg) < 4:
        return NO_DOP, NO_DOP, NO_DOP
    el = np.radians(elevation_deg)
    az = np.radians(azimuth_deg)
    g = np.column_stack(
        [np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el), np.ones_like(el)]
    )
    try:
        q = np.linalg.inv(g.T @ g)
    except np.linalg.LinAlgError:
        return NO_DOP, NO_DOP, NO_DOP
    h = math.sqrt(max(q[0, 0] + q[1, 1], 0.0))
    v = math.sqrt(max(q[2, 2], 0.0))
    return min(math.hypot(h, v), NO_DOP), min(h, NO_DOP), min(v, NO_DOP)


class SkyModel:
    """Satellites over the truck; ``observe`` once per epoch, in time order."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        n = int(rng.integers(10, 14))
        self.prns = np.sort(rng.choice(np.arange(1, 33), size=n, replace=False))
        # as seen from the ground, low satellites are the common ones: sin(elevation) uniform
        self._el0 = np.degrees(np.arcsin(rng.uniform(math.sin(math.radians(3.0)), 0.99, n)))
        # a usable core spread around the sky, so the fix never hinges on the rest
        self._el0[:5] = np.degrees(np.arcsin(rng.uniform(0.5, 0.98, 5)))
        self._az0 = rng.uniform(0.0, 360.0, n)
        self._az0[:5] = (np.arange(5) * 72.0 + rng.uniform(0.0, 50.0, 5)) % 360.0
        self._el_rate = rng.uniform(-0.008, 0.008, n)  # deg/s
        self._az_rate = rng.uniform(-0.01, 0.01, n)  # deg/s
        self._snr_offset = rng.normal(0.0, 2.0, n)
        self._protected = np.argsort(-self._el0)[:5]
        self._blocked = (rng.random(n) < 0.2) & (self._el0 < 35.0)
        self._blocked[self._protected] = False

    def _update_blockage(self, el: np.ndarray, dt_s: float) -> None:
        """Low satellites get blocked more often; a blocked one clears in ~8 s."""
        block_rate = np.where(el < 30.0, 1 / 30.0, 1 / 150.0)
        clear_rate = 1 / 8.0
        u = self._rng.random(len(el))
        to_block = ~self._blocked & (u < 1 - np.exp(-block_rate * dt_s))
        to_clear = self._blocked & (u < 1 - np.exp(-clear_rate * dt_s))
        self._blocked = (self._blocked | to_block) & ~to_clear
        self._blocked[self._protected] = False

    def observe(self, t_s: float, dt_s: float, *, fix: bool) -> SkyFix:
        """The sky at ``t_s`` seconds; ``fix=False`` is a shadowed antenna (no solution)."""
        el = np.clip(self._el0 + self._el_rate * t_s, 1.0, 89.0)
        az = (self._az0 + self._az_rate * t_s) % 360.0
        self._update_blockage(el, dt_s)
        snr = 16.0 + 28.0 * np.sin(np.radians(el)) + self._snr_offset
        snr = snr + self._rng.normal(0.0, 1.0, len(el)) - (0.0 if fix else 14.0)
        tracked = ~self._blocked & (snr >= 12.0)
        usable = tracked & (el >= MASK_DEG) & (snr >= MIN_USED_SNR_DBHZ)
        order = np.argsort(-snr)
        used = [i for i in order if usable[i]][:12] if fix else []
        pdop, hdop, vdop = dops(el[used], az[used])
        sats = tuple(
            SatelliteView(
                int(p), round(float(e)), round(float(a)) % 360, round(float(s)) if t else None
            )
            for p, e, a, s, t in zip(self.prns, el, az, snr, tracked, strict=True)
        )
        return SkyFix(
            sats,
            tuple(int(self.prns[i]) for i in sorted(used)),
            round(pdop, 2),
            round(hdop, 2),
            round(vdop, 2),
        )
