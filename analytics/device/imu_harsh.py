"""Harsh braking, acceleration and cornering from an accelerometer mounted any way round.

Size: one detector's state machine (trackers, moving median, grade and drift correction,
episodes); its parts share one clock and one calibration, so it stays one module.

Pure: no clock (time is each sample's), no I/O, no numpy (it runs on the vehicle unit).
One ``ImuHarshDetector`` per vehicle; feed it the accelerometer's samples (``feed``, POSIX
seconds and m/s^2 on the sensor's own axes) and the GNSS receiver's speeds
(``observe_speed``, with the course when the fix has one), each stream in time order,
interleaved in any way: a speed is used once the samples have passed its time.

Calibration. Nothing is assumed about how the sensor sits: ``analytics.device.imu_calibration``
learns its axes (gravity + bias, forward, left) from the receiver's speed, one window per
speed: the window acceleration of ``analytics.driving.harsh`` over about a second against the mean
reading over the same window. Until that fit converges (about 10 s of pulling away) the
detector cannot tell braking from cornering and emits no event at all: its samples are
counted in ``ImuCounters.uncalibrated_samples``. Once converged it stays so and keeps
refining. The two streams must stay roughly in step (live sources are): a speed more than
``HISTORY_S`` behind the samples finds none left to average and is not used.

Grade and drift. The offset is gravity as the sensor saw it at rest, but a road that
climbs or falls tilts gravity into the forward axis (5 % is 0.49 m/s^2, as much as a
gentle acceleration), and the bias drifts with temperature. For every speed window in
which the receiver says the speed is steady enough (``|x| <= STEADY_MPS2``: no harsh
manoeuvre, no speed glitch) and the sensor was not jolted (a vertical reading beyond
``JOLT_MPS2``: a pothole, a joint or a hump, which also jolts it fore and aft), the
longitudinal reading over the window minus the receiver's acceleration is the residual
(grade + bias error, clipped to ``RESIDUAL_MAX_MPS2``); the median of the residuals of
the last ``RESIDUAL_S`` is taken off ``long``. Without a new steady window (a tunnel, a
long manoeuvre) the correction is held ``RESIDUAL_HOLD_S``, then fades out with time
constant ``RESIDUAL_FADE_S``. The correction lags the road by a second or two: at the
foot of a ramp, for a few seconds, up to its whole grade is still in ``long``.

Detection. Per sample, ``d = reading - offset`` (gravity + bias, from the calibration);
``long = forward . d / gain - residual`` (+ accelerating; ``gain`` is the fitted slope's
length: the cab's pitch makes the reading larger than the change of speed),
``lat = left . d / lateral_gain`` (+ to the left: a left turn; the cab's roll, see below).
Each is the median over a centred ``LOWPASS_S`` window: road vibration averages out, and a
pothole, a joint or a hump, which jolts the sensor for less than half the window, is ignored
instead of being spread over it. Per axis, filtered values at or beyond the vehicle class
threshold form an episode (``harsh_braking_mps2`` decelerating, ``harsh_acceleration_mps2``
accelerating, ``harsh_cornering_mps2`` either way, one direction per episode) that survives
dips under the threshold shorter than ``LINGER_S``. It becomes one ``ImuHarshEvent`` when it
ends, if it lasted ``min_duration_s``. Values count only while the vehicle moves: a speed
observed less than ``SPEED_STALE_S`` ago, carried forward by integrating ``long``, must have
been at least ``min_speed_mps`` within the last ``GATE_HOLD_S`` (as the GNSS detector's
one-second window counts if either end is fast enough, so a harsh stop counts to the end; a
crew loading a parked truck shakes it). Without a recent speed (a tunnel) values count. A
gap of more than ``MAX_SAMPLE_GAP_S`` between samples closes the open episodes and restarts
the filter; samples not after the previous one are dropped and counted.

Roll. The cab's roll makes ``lat`` read larger than the true lateral acceleration too (about
10-25 % on a loaded truck). The receiver's course measures it: for every speed window whose
two ends have a course and a speed of at least ``COURSE_MIN_MPS`` (below walking pace the
course is noise) and in which the sensor was not jolted, the receiver's lateral acceleration
is the mean speed times the change of course (wrapped across 359 -> 0) over the window's
time, + to the left; ``analytics.device.imu_calibration.LateralFit`` fits the lateral reading over
the window against it (windows beyond ``LAT_MAX_MPS2``, or whose reading disagrees with it
by more than roll can explain, ``LAT_AGREE_MPS2`` and ``LAT_AGREE_SHARE``, are glitches and
skipped), and ``lat`` is divided by the gain it gives, which stays 1 until turns have been
seen and reaches the fitted slope gradually. Without courses (an old receiver, a caller that
feeds speeds only) nothing is corrected: an IMU cornering event can then come from a turn a
little under the threshold.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Literal, NamedTuple

from analytics.device.imu_calibration import Calibration, LateralFit, MountingFit, Vec, axpy, dot
from citytrack.config import VehicleClass
from citytrack.counters import Counters
from citytrack.wire import EventKind

REFERENCE_MIN_S = 0.95
"""Shortest speed window (1 s nominal), s."""
SPEED_GAP_S = 2.5
"""Longest speed window; a longer gap between speeds restarts the windows, s."""
MIN_WINDOW_SAMPLES = 5
"""A speed window needs at least this many samples to be used."""
STILL_MPS = 0.3
"""Both speeds of a window under this: the vehicle stands still, m/s."""
LOWPASS_S = 0.5
"""Span of the centred moving median over long and lat, s."""
LINGER_S = 0.5
"""An episode survives filtered values under its threshold for less than this, s."""
SPEED_STALE_S = 3.0
"""A speed older than this no longer gates detection, s."""
GATE_HOLD_S = 1.0
"""Values count this long after the speed was last at least ``min_speed_mps``, s."""
MAX_SAMPLE_GAP_S = 0.5
"""Longer between samples: open episodes close and the filter restarts, s."""
HISTORY_S = 4.0
"""Samples kept to average over speed windows, s."""
STEADY_MPS2 = 2.0
"""A speed window whose |acceleration| is at most this measures the grade residual, m/s^2."""
JOLT_MPS2 = 3.0
"""A vertical reading (gravity taken off) beyond this is a jolt, m/s^2 (vibration: ~0.5)."""
RESIDUAL_MAX_MPS2 = 1.5
"""Residuals are clipped to this: 10 % of grade plus a bias error, m/s^2."""
RESIDUAL_S = 3.0
"""The grade correction is the median of the residuals of this many seconds of windows, s."""
RESIDUAL_HOLD_S = 5.0
"""The correction is held this long after the last steady window, s."""
RESIDUAL_FADE_S = 20.0
"""then fades out with this time constant, s."""
COURSE_MIN_MPS = 1.5
"""A course counts only with a speed of at least this (walking pace), m/s."""
LAT_MAX_MPS2 = 6.0
"""A receiver lateral acceleration beyond this is a course glitch, m/s^2."""
LAT_AGREE_MPS2 = 0.3
LAT_AGREE_SHARE = 0.4
"""A window whose lateral reading differs from the receiver's lateral acceleration ``x``
by more than ``LAT_AGREE_MPS2 + LAT_AGREE_SHARE * |x|`` is a course glitch (multipath, a
slow course) or a jolt, not roll, and is skipped (m/s^2; share of |x|)."""
DURATION_EPS_S = 1e-3

Direction = Literal["left", "right"]
HarshKind = EventKind  # one of citytrack.wire.HARSH_KINDS


@dataclass(frozen=True, slots=True)
class ImuSample:
    """One accelerometer reading: POSIX time (s) and specific force on the sensor's axes."""

    t_s: float
    ax_mps2: float
    ay_mps2: float
    az_mps2: float


@dataclass(frozen=True)
class ImuHarshEvent:
    """One harsh episode: kind, POSIX start and end (s), peak filtered |acceleration| and
    the threshold it crossed (m/s^2), and for cornering which way the vehicle turned."""

    kind: HarshKind
    start_t_s: float
    end_t_s: float
    peak_mps2: float
    threshold_mps2: float
    direction: Direction | None = None

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_t_s, UTC)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp(self.end_t_s, UTC)

    @property
    def duration_s(self) -> float:
        return self.end_t_s - self.start_t_s


@dataclass
class ImuCounters(Counters):
    samples: int = 0
    out_of_order: int = 0  # samples not after the previous one, dropped
    gaps: int = 0  # filter restarts after a gap between samples
    uncalibrated_samples: int = 0  # samples before calibration converged: nothing detected
    speeds: int = 0
    speed_windows: int = 0  # windows used by the calibration fit
    grade_windows: int = 0  # steady windows that measured the grade residual
    course_windows: int = 0  # windows that measured the lateral gain
    events: int = 0
    calibrated: int = 0  # 1 once calibration has converged (a gauge)

    GAUGES: ClassVar[frozenset[str]] = frozenset({"calibrated"})


class _Point(NamedTuple):
    t_s: float
    sum_mps2: Vec  # running sum of readings up to and including this sample
    n: int  # samples up to and including this one
    integral_mps: float  # running integral of the longitudinal acceleration, m/s


@dataclass
class _Episode:
    key: tuple[HarshKind, Direction | None]
    start_t_s: float
    last_t_s: float
    peak_mps2: float


class _MovingMedian:
    """The median of the values added over the last ``span_s`` seconds (kept sorted)."""

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self._window: deque[tuple[float, float]] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._window)

    @property
    def first_t_s(self) -> float:
        return self._window[0][0]

    @property
    def median(self) -> float:
        values, n = self._sorted, len(self._sorted)
        return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])

    def add(self, t_s: float, value: float) -> None:
        self._window.append((t_s, value))
        insort(self._sorted, value)
        while self._window[0][0] <= t_s - self.span_s:
            _, old = self._window.popleft()
            del self._sorted[bisect_left(self._sorted, old)]

    def clear(self) -> None:
        self._window.clear()
        self._sorted.clear()


class _Tracker:
    """Episodes on one axis: filtered values in, events out (see the module docstring)."""

    def __init__(
        self,
        classify: Callable[[float], tuple[HarshKind, Direction | None] | None],
        cfg: VehicleClass,
    ) -> None:
        self.classify = classify
        self.cfg = cfg
        self.open: _Episode | None = None

    def step(self, t_s: float, value: float, live: bool) -> list[ImuHarshEvent]:
        key = self.classify(value) if live else None
        events: list[ImuHarshEvent] = []
        ep = self.open
        if ep is not None and key != ep.key and (key is not None or t_s - ep.last_t_s >= LINGER_S):
            events = self.flush()
            ep = None
        if key is not None:
            if ep is None:
                self.open = _Episode(key, t_s, t_s, abs(value))
            else:
                ep.last_t_s, ep.peak_mps2 = t_s, max(ep.peak_mps2, abs(value))
        return events

    def flush(self) -> list[ImuHarshEvent]:
        ep, self.open = self.open, None
        if ep is None or ep.last_t_s - ep.start_t_s < self.cfg.min_duration_s - DURATION_EPS_S:
            return []
        kind, direction = ep.key
        threshold = {
            EventKind.HARSH_BRAKING: self.cfg.harsh_braking_mps2,
            EventKind.HARSH_ACCELERATION: self.cfg.harsh_acceleration_mps2,
            EventKind.HARSH_CORNERING: self.cfg.harsh_cornering_mps2,
        }[kind]
        return [ImuHarshEvent(kind, ep.start_t_s, ep.last_t_s, ep.peak_mps2, threshold, direction)]


class ImuHarshDetector:
    """Edge harsh-event detection from an accelerometer, for one vehicle of class ``cfg``
    (thresholds m/s^2, ``min_duration_s``, ``min_speed_mps``); see the module docstring."""

    def __init__(self, cfg: VehicleClass) -> None:
        self.cfg = cfg
        self.counters = ImuCounters()
        self.calibration: Calibration | None = None
        self._fit = MountingFit()
        self._points: list[_Point] = []
        self._pending: deque[tuple[float, float | None, float | None]] = deque()
        self._speeds: list[tuple[float, float, float | None]] = []  # t_s, speed, course
        self._lat_fit = LateralFit()
        self.lateral_gain = 1.0
        """What ``lat`` is divided by (the cab's roll, learnt from the course)."""
        self._last_speed: tuple[float, float, float] | None = None  # t_s, m/s, integral then
        self._fast_t_s = -math.inf  # when the speed was last at least min_speed_mps
        self._long_median = _MovingMedian(LOWPASS_S)
        self._lat_median = _MovingMedian(LOWPASS_S)
        self._residuals = _MovingMedian(RESIDUAL_S)  # grade + bias error along forward
        self._residual_t_s = -math.inf  # when the last one was measured
        self._jolt_t_s = -math.inf  # when the sensor was last jolted
        self._long = _Tracker(self._long_kind, cfg)
        self._lat = _Tracker(self._lat_kind, cfg)

    def _long_kind(self, a: float) -> tuple[HarshKind, Direction | None] | None:
        if a <= -self.cfg.harsh_braking_mps2:
            return EventKind.HARSH_BRAKING, None
        return (
            (EventKind.HARSH_ACCELERATION, None) if a >= self.cfg.harsh_acceleration_mps2 else None
        )

    def _lat_kind(self, a: float) -> tuple[HarshKind, Direction | None] | None:
        if abs(a) < self.cfg.harsh_cornering_mps2:
            return None
        return EventKind.HARSH_CORNERING, "left" if a > 0 else "right"

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None

    @property
    def grade_correction_mps2(self) -> float:
        """What is taken off ``long`` now (grade + bias error along forward), m/s^2."""
        return self._residual(self._points[-1].t_s) if self._points else 0.0

    def observe_speed(
        self, t_s: float, speed_mps: float | None, course_deg: float | None = None
    ) -> None:
        """A receiver speed (m/s; None: the fix had none) at POSIX time ``t_s`` (s), and
        its course over ground (degrees clockwise from north; None: none)."""
        self.counters.speeds += 1
        self._pending.append((t_s, speed_mps, course_deg))
        if self._points and t_s <= self._points[-1].t_s:
            self._apply_speeds(self._points[-1].t_s)

    def feed_many(self, samples: Iterable[ImuSample]) -> list[ImuHarshEvent]:
        """``feed`` each sample; the events they ended, in order."""
        return [event for s in samples for event in self.feed(s)]

    def feed(self, sample: ImuSample) -> list[ImuHarshEvent]:
        """One reading; returns the events that ended with it."""
        last = self._points[-1] if self._points else None
        if last is not None and sample.t_s <= last.t_s:
            self.counters.out_of_order += 1
            return []
        self._apply_speeds(sample.t_s, before=True)
        self.counters.samples += 1
        events: list[ImuHarshEvent] = []
        if last is not None and sample.t_s - last.t_s > MAX_SAMPLE_GAP_S:
            self.counters.gaps += 1
            events = self._restart()
        reading = (sample.ax_mps2, sample.ay_mps2, sample.az_mps2)
        cal = self.calibration
        long = lat = 0.0
        if cal is not None:
            d = axpy(-1.0, cal.offset_mps2, reading)
            long = dot(cal.forward, d) / cal.gain - self._residual(sample.t_s)
            lat = dot(cal.left, d) / self.lateral_gain
            if abs(dot(cal.up, d)) > JOLT_MPS2:
                self._jolt_t_s = sample.t_s
        else:
            self.counters.uncalibrated_samples += 1
        self._remember(sample.t_s, reading, long, last)
        if cal is not None:
            events += self._detect(sample.t_s, long, lat)
        self.counters.events += len(events)
        return events

    def flush(self) -> list[ImuHarshEvent]:
        """End of data: close the open episodes; the events long enough to count."""
        events = self._restart()
        self.counters.events += len(events)
        return events

    def _restart(self) -> list[ImuHarshEvent]:
        self._long_median.clear()
        self._lat_median.clear()
        return [*self._long.flush(), *self._lat.flush()]

    def _remember(self, t_s: float, reading: Vec, long: float, last: _Point | None) -> None:
        if last is None:
            point = _Point(t_s, reading, 1, 0.0)
        else:
            dt = min(t_s - last.t_s, MAX_SAMPLE_GAP_S)
            total = axpy(1.0, reading, last.sum_mps2)
            point = _Point(t_s, total, last.n + 1, last.integral_mps + long * dt)
        self._points.append(point)
        if t_s - self._points[0].t_s > 2 * HISTORY_S:
            keep = bisect_right(self._points, t_s - HISTORY_S, key=lambda p: p.t_s)
            del self._points[: max(0, keep - 1)]

    # --- calibration from the receiver's speeds ----------------------------------------

    def _apply_speeds(self, until_t_s: float, *, before: bool = False) -> None:
        """Use the pending speeds the samples have reached (``before``: strictly before
        ``until_t_s``, the time of a sample not yet remembered)."""
        while self._pending and (
            self._pending[0][0] < until_t_s if before else self._pending[0][0] <= until_t_s
        ):
            self._use_speed(*self._pending.popleft())

    def _use_speed(self, t_s: float, speed: float | None, course: float | None) -> None:
        if self._speeds and t_s <= self._speeds[-1][0]:
            return  # a duplicate or late speed
        if speed is None or (self._speeds and t_s - self._speeds[-1][0] > SPEED_GAP_S):
            self._speeds = []
        if speed is None:
            return
        here = self._point_at(t_s)
        self._last_speed = (t_s, speed, here.integral_mps if here else 0.0)
        prev_t = self._speeds[-1][0] if self._speeds else None
        self._speeds.append((t_s, speed, course))
        j = bisect_right(self._speeds, t_s - REFERENCE_MIN_S, key=lambda s: s[0]) - 1
        if j < 0:
            return
        del self._speeds[:j]
        t_j, v_j, c_j = self._speeds[0]
        mean = self._mean_reading(t_j, t_s)
        if mean is None or prev_t is None:
            return
        weight = min(t_s - prev_t, 1.0)
        x = (speed - v_j) / (t_s - t_j)
        self._fit.add(x, mean, weight, still=speed < STILL_MPS and v_j < STILL_MPS)
        self.counters.speed_windows += 1
        calibration = self._fit.calibration()
        if calibration is not None:
            self.calibration = calibration
            self.counters.calibrated = 1
        self._measure_grade(t_j, t_s, x, mean)
        if c_j is not None and course is not None and min(v_j, speed) >= COURSE_MIN_MPS:
            turn = math.radians((course - c_j + 180.0) % 360.0 - 180.0)
            self._measure_roll(t_j, t_s, -0.5 * (v_j + speed) * turn / (t_s - t_j), mean, weight)

    def _measure_grade(self, t0_s: float, t_s: float, x_mps2: float, mean: Vec) -> None:
        """The residual of a steady, unjolted window (``t0_s``, ``t_s``]: what the forward
        axis read beyond the change of speed (grade and bias error); see the module
        docstring."""
        cal = self.calibration
        if cal is None or abs(x_mps2) > STEADY_MPS2 or self._jolt_t_s > t0_s:
            return
        r = dot(cal.forward, axpy(-1.0, cal.offset_mps2, mean)) / cal.gain - x_mps2
        self._residuals.add(t_s, max(-RESIDUAL_MAX_MPS2, min(RESIDUAL_MAX_MPS2, r)))
        self._residual_t_s = t_s
        self.counters.grade_windows += 1

    def _measure_roll(
        self, t0_s: float, t_s: float, lat_mps2: float, mean: Vec, weight_s: float
    ) -> None:
        """The lateral reading over an unjolted window (``t0_s``, ``t_s``] against the
        receiver's lateral acceleration ``lat_mps2``; see the module docstring."""
        cal = self.calibration
        if cal is None or abs(lat_mps2) > LAT_MAX_MPS2 or self._jolt_t_s > t0_s:
            return
        reading = dot(cal.left, axpy(-1.0, cal.offset_mps2, mean))
        if abs(reading - lat_mps2) > LAT_AGREE_MPS2 + LAT_AGREE_SHARE * abs(lat_mps2):
            return
        self._lat_fit.add(lat_mps2, reading, weight_s)
        self.lateral_gain = self._lat_fit.gain
        self.counters.course_windows += 1

    def _residual(self, t_s: float) -> float:
        """The grade correction at ``t_s``: held, then fading out without new windows."""
        if not self._residuals:
            return 0.0
        late = t_s - self._residual_t_s - RESIDUAL_HOLD_S
        fade = 1.0 if late <= 0 else math.exp(-late / RESIDUAL_FADE_S)
        return self._residuals.median * fade

    def _point_at(self, t_s: float) -> _Point | None:
        """The latest remembered sample at or before ``t_s``."""
        i = bisect_right(self._points, t_s, key=lambda p: p.t_s) - 1
        return self._points[i] if i >= 0 else None

    def _mean_reading(self, t0_s: float, t1_s: float) -> Vec | None:
        """Mean reading over samples in (t0_s, t1_s]; None if the history lacks them."""
        a, b = self._point_at(t0_s), self._point_at(t1_s)
        if a is None or b is None or b.n - a.n < MIN_WINDOW_SAMPLES:
            return None
        k = 1.0 / (b.n - a.n)
        s = axpy(-1.0, a.sum_mps2, b.sum_mps2)
        return (s[0] * k, s[1] * k, s[2] * k)

    # --- detection ---------------------------------------------------------------------

    def _moving(self, t_s: float) -> bool:
        """Whether values count at ``t_s``: no recent speed, or a recent one carried
        forward (integrating ``long``) that was at least ``min_speed_mps`` within the last
        ``GATE_HOLD_S``."""
        if self._last_speed is None:
            return True
        t0, v0, integral0 = self._last_speed
        if t_s - t0 > SPEED_STALE_S:
            return True
        if v0 + self._points[-1].integral_mps - integral0 >= self.cfg.min_speed_mps:
            self._fast_t_s = t_s
        return t_s - self._fast_t_s <= GATE_HOLD_S

    def _detect(self, t_s: float, long: float, lat: float) -> list[ImuHarshEvent]:
        self._long_median.add(t_s, long)
        self._lat_median.add(t_s, lat)
        first = self._long_median.first_t_s
        if len(self._long_median) < 2 or t_s - first < 0.6 * LOWPASS_S:
            return []
        centre = 0.5 * (t_s + first)
        live = self._moving(t_s)
        return [
            *self._long.step(centre, self._long_median.median, live),
            *self._lat.step(centre, self._lat_median.median, live),
        ]
