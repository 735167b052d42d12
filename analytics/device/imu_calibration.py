"""How an accelerometer sits in a vehicle, learnt from the GNSS receiver's speed.

Pure, no numpy (it runs on the vehicle unit); ``analytics.device.imu_harsh`` feeds it. Nothing
is assumed about the sensor's axes. For each speed window (``x = (v_i - v_j) / (t_i -
t_j)`` over about one second, as ``analytics.driving.harsh`` takes it) the caller gives the mean
reading over the same window (``y``, a 3-vector), and ``MountingFit`` fits
``y = c + f * x`` per axis by least squares with exponential forgetting (``FORGET_S``),
each window weighted by the time since the previous speed (so any GNSS rate counts seconds
alike):

- the slope ``f`` is the forward axis in sensor coordinates, its sign given by the speed
  (no 180 degree ambiguity), its length about 1;
- the intercept ``c`` is gravity plus the sensor's bias (plus the mean lateral acceleration
  of the route); once the vehicle has stood still (windows marked ``still``) for
  ``STILL_MIN_S`` in all, the mean reading at rest replaces it (gravity + bias, tilted by
  the slope of the places it stood on). The windows at rest are forgotten with time like
  the others, so this follows the bias as it drifts with temperature.

The length of the slope is the gain of the longitudinal reading: about 1, more when the
cab pitches under acceleration (a nose that dives when braking tilts gravity forwards:
g x 0.4-1 deg per m/s^2 is 7-17 % more) or the sensor's scale is off; ``analytics.device.imu_harsh``
divides by it (``Calibration.gain``). Over a few windows the grade of the road confounds
it (a pull-away on a 2 % rise reads 0.2 m/s^2 more than the cruise after it), so the gain
is the length clipped to ``GAIN_RANGE`` and shrunk towards 1 until the windows hold
``GAIN_SXX`` of spread: ``1 + (clip(length) - 1) * spread / (spread + GAIN_SXX)``.

``up = c / |c|``, ``forward`` = ``f`` made orthogonal to ``up``, ``left = up x forward``.
The fit has converged when the windows hold enough change of speed (``sum w (x - mean)^2
>= CAL_MIN_SXX`` over ``CAL_MIN_S`` seconds of windows) and the slope is plausible (length
within ``SLOPE_NORM``, within ``MAX_SLOPE_TILT_DEG`` of the horizontal).

The cab also rolls out of a turn, tilting gravity into the lateral reading (g x 0.6-1.4 deg
per m/s^2 is 10-24 % more). The speed cannot see it, the course can: ``LateralFit`` fits
the mean lateral reading over a window against the receiver's lateral acceleration over
the same window (speed x rate of change of course), ``y = c + g * x`` by least squares
with the same forgetting (the intercept takes the crossfall and the lateral bias). Its
slope is the lateral gain, clipped to ``LAT_GAIN_RANGE`` and trusted gradually like the
longitudinal one: ``1 + (clip(g) - 1) * spread / (spread + LAT_GAIN_SXX)``; straight
driving gives no spread, turns do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FORGET_S = 600.0
"""Time constant of the fit's exponential forgetting, s."""
STILL_MIN_S = 2.0
"""Seconds at rest after which the mean reading at rest is the gravity + bias estimate, s."""
CAL_MIN_SXX = 1.0
"""Change of speed the fit needs: weighted spread of window accelerations, (m/s^2)^2 s."""
CAL_MIN_S = 5.0
"""Seconds of speed windows the fit needs."""
SLOPE_NORM = (0.8, 1.25)
"""Plausible length of the fitted forward axis (reading per m/s^2 of speed change)."""
MAX_SLOPE_TILT_DEG = 20.0
"""The forward axis found must be this close to horizontal, degrees."""
GAIN_RANGE = (0.95, 1.25)
"""Plausible gain of the longitudinal reading: sensor scale error, pitch of the cab."""
GAIN_SXX = 20.0
"""Spread of window accelerations at which the fitted gain gets half its weight, (m/s^2)^2 s."""

LAT_GAIN_RANGE = (0.95, 1.3)
"""Plausible gain of the lateral reading: sensor scale error, roll of the cab."""
LAT_GAIN_SXX = 5.0
"""Spread of lateral accelerations at which the lateral gain gets half its weight,
(m/s^2)^2 s."""

Vec = tuple[float, float, float]


def dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def axpy(k: float, a: Vec, b: Vec) -> Vec:
    """``k * a + b``."""
    return (k * a[0] + b[0], k * a[1] + b[1], k * a[2] + b[2])


def unit(a: Vec) -> Vec:
    n = math.sqrt(dot(a, a))
    return (a[0] / n, a[1] / n, a[2] / n)


def cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _scale(k: float, a: Vec) -> Vec:
    return (k * a[0], k * a[1], k * a[2])


@dataclass(frozen=True)
class Calibration:
    """The sensor's axes as learnt: unit vectors in sensor coordinates, the reading
    subtracted before projecting (gravity + bias, m/s^2), whether that was seen at rest,
    the length of the fitted slope (about 1) and the gain taken from it."""

    up: Vec
    forward: Vec
    left: Vec
    offset_mps2: Vec
    at_rest: bool
    slope_norm: float
    gain: float = 1.0  # reading along ``forward`` per m/s^2 of change of speed, as trusted


class MountingFit:
    """The running fit; ``add`` windows, read ``calibration()``."""

    def __init__(self) -> None:
        self.w = self.sx = self.sxx = 0.0  # weights, weighted x and x^2 (forgotten)
        self.sy: Vec = (0.0, 0.0, 0.0)
        self.sxy: Vec = (0.0, 0.0, 0.0)
        self.rest_w = 0.0  # weight of the windows at rest (forgotten with time)
        self.rest_sy: Vec = (0.0, 0.0, 0.0)
        self.rest_seconds = 0.0  # all the weight ever added at rest, s
        self.seconds = 0.0  # all the weight ever added, s

    def add(self, x_mps2: float, y_mps2: Vec, weight_s: float, *, still: bool) -> None:
        """One window: speed change ``x_mps2``, mean reading ``y_mps2`` over it, weight
        (s), and whether the vehicle stood still throughout."""
        k = math.exp(-weight_s / FORGET_S)
        self.w = k * self.w + weight_s
        self.sx = k * self.sx + weight_s * x_mps2
        self.sxx = k * self.sxx + weight_s * x_mps2 * x_mps2
        self.sy = axpy(weight_s, y_mps2, _scale(k, self.sy))
        self.sxy = axpy(weight_s * x_mps2, y_mps2, _scale(k, self.sxy))
        self.seconds += weight_s
        self.rest_w, self.rest_sy = k * self.rest_w, _scale(k, self.rest_sy)
        if still:
            self.rest_w += weight_s
            self.rest_sy = axpy(weight_s, y_mps2, self.rest_sy)
            self.rest_seconds += weight_s

    @property
    def spread(self) -> float:
        """Weighted sum of squared deviations of x from its mean, (m/s^2)^2 s."""
        return self.sxx - self.sx * self.sx / self.w if self.w > 0 else 0.0

    def line(self) -> tuple[Vec, Vec]:
        """(slope f, intercept c) of the fit; only when ``spread`` > 0."""
        mx = self.sx / self.w
        my = _scale(1.0 / self.w, self.sy)
        f = _scale(1.0 / self.spread, axpy(-mx * self.w, my, self.sxy))
        return f, axpy(-mx, f, my)

    def calibration(self) -> Calibration | None:
        """The sensor's axes, or None while the fit has not converged."""
        if self.seconds < CAL_MIN_S or self.spread < CAL_MIN_SXX:
            return None
        slope, intercept = self.line()
        at_rest = self.rest_seconds >= STILL_MIN_S and self.rest_w > 0
        offset = _scale(1.0 / self.rest_w, self.rest_sy) if at_rest else intercept
        up = unit(offset)
        norm = math.sqrt(dot(slope, slope))
        if not SLOPE_NORM[0] <= norm <= SLOPE_NORM[1]:
            return None
        if abs(dot(slope, up)) / norm > math.sin(math.radians(MAX_SLOPE_TILT_DEG)):
            return None
        forward = unit(axpy(-dot(slope, up), up, slope))
        trust = self.spread / (self.spread + GAIN_SXX)
        gain = 1.0 + (min(max(norm, GAIN_RANGE[0]), GAIN_RANGE[1]) - 1.0) * trust
        return Calibration(up, forward, cross(up, forward), offset, at_rest, norm, gain)


class LateralFit:
    """The running fit of the lateral reading against the receiver's lateral
    acceleration; ``add`` windows, read ``gain``."""

    def __init__(self) -> None:
        self.w = self.sx = self.sxx = self.sy = self.sxy = 0.0  # forgotten sums
        self.seconds = 0.0  # all the weight ever added, s

    def add(self, x_mps2: float, y_mps2: float, weight_s: float) -> None:
        """One window: the receiver's lateral acceleration ``x_mps2``, the mean lateral
        reading ``y_mps2`` over it, weight (s)."""
        k = math.exp(-weight_s / FORGET_S)
        self.w = k * self.w + weight_s
        self.sx = k * self.sx + weight_s * x_mps2
        self.sxx = k * self.sxx + weight_s * x_mps2 * x_mps2
        self.sy = k * self.sy + weight_s * y_mps2
        self.sxy = k * self.sxy + weight_s * x_mps2 * y_mps2
        self.seconds += weight_s

    @property
    def spread(self) -> float:
        """Weighted sum of squared deviations of x from its mean, (m/s^2)^2 s."""
        return self.sxx - self.sx * self.sx / self.w if self.w > 0 else 0.0

    @property
    def slope(self) -> float | None:
        """Lateral reading per m/s^2 of lateral acceleration; None without spread."""
        spread = self.spread
        if spread <= 0.0:
            return None
        return (self.sxy - self.sx * self.sy / self.w) / spread

    @property
    def gain(self) -> float:
        """The slope clipped to ``LAT_GAIN_RANGE``, shrunk towards 1 by the spread."""
        slope = self.slope
        if slope is None:
            return 1.0
        trust = self.spread / (self.spread + LAT_GAIN_SXX)
        return 1.0 + (min(max(slope, LAT_GAIN_RANGE[0]), LAT_GAIN_RANGE[1]) - 1.0) * trust
