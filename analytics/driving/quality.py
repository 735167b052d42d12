"""Which fixes the driving detectors may trust: one verdict per fix, one fix of look-ahead.

Size: one filter whose checks (order, staleness, HDOP, satellites, jumps, spikes) share
the look-ahead state; it is kept whole so the order of the checks reads in one place.

Pure: no clock (time is the fix's GNSS time), no I/O. ``step(state, fix, cfg)`` returns the
new state and the verdicts that fix settled; ``flush`` settles the fix still waiting.

A receiver's Doppler speed and course (RMC/VTG) are good to about 0.1 m/s, but now and then
it repeats a stale fix, reports a fix it has not got, or glitches: a multipath position
tens or hundreds of metres off for a few epochs (often with a wrong speed too), a speed or
course spike. A detector that trusts every fix turns one glitch into harsh braking.

Checks on arrival (the reason a fix is rejected in brackets)::

    order     not newer than the last accepted fix [out_of_order]; at the time of the
              last accepted or the waiting fix [duplicate]
    content   no speed [no_speed]; GGA quality 0 or GSA mode 1 [no_fix]; HDOP over
              max_hdop [high_hdop]; under min_sats satellites [few_sats] (absent passes)
    stale     same position, speed and course as the fix before, although that speed
              moved the truck STALE_MIN_MOVE_M or more [stale]
    physics   against the last accepted fix, if within max_gap_s: further than the truck
              can have gone (its last trusted speed, pulling away at MAX_PULL_MPS2, at
              most max_implied_speed_mps) plus the position tolerance [jump]; on the
              track of a fix just rejected as a jump, decisively rather than on the
              trusted one, up to JUMP_HOLD_S after it [jump]; a speed change beyond
              MAX_ACCEL_MPS2, tyre grip [speed_spike]

The position tolerance adds both fixes' errors (JUMP_SLACK_M + HDOP x UERE_M each),
NOISE_GAIN times the receiver's recent position noise (a running average of how far each
accepted fix lay off the track its Doppler speed predicts: metres in open sky, tens of
metres between tall buildings) and DRIFT_MPS per second. A jump is rejected for as long as
it lasts, speed and course included (a solution that jumped is suspect as a whole); a
position that stays shifted is taken up after JUMP_HOLD_S, as a restart.

A fix that passes waits for the next that passes; it is then checked again against the
fix accepted just before it, and judged between its neighbours (if neither interval
exceeds ``max_gap_s``): it is a spike [speed_spike, course_spike] if its speed (or course,
as cross-track velocity, speed x sin(error)) stands out from both neighbours', to the same
side, by more than SPIKE_SIDE_MPS and than they differ from each other, and lies off the
line between them by more than SPIKE_MPS. A glitch under 0.8 m/s moves a 1 s window by
under 0.8 m/s^2, which keeps calm driving (1 m/s^2 pulling away, 1.5 braking or cornering)
under every class threshold. A peak just before hard braking is no spike (its neighbours
differ more than it stands out). A wrong speed held two epochs or more without a position
jump looks like a real change and is not caught here. The first fix after a gap has
nothing before it to vouch for it: if its successor finds it impossible, it is rejected.

Gaps: an accepted fix more than ``max_gap_s`` after the previous accepted one (and the
first fix) has ``restart=True``: detectors must not estimate anything across it.

Order: accepted verdicts come out in ``fix_time`` order. A fix that arrives after a newer
one but is newer than the last accepted fix takes its place (the network swapped two
messages); anything older is ``out_of_order`` and changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum

from citytrack.config import QualityConfig
from citytrack.counters import Counters
from citytrack.geo import distance_between_m
from citytrack.wire import Fix

COURSE_MIN_SPEED_MPS = 3.0
"""Below this speed a receiver's course over ground is mostly noise, m/s."""
STALE_MIN_MOVE_M = 1.0
"""A truck that moved this far must report a new position (receivers resolve < 0.2 m), m."""
MAX_ACCEL_MPS2 = 10.0
"""About 1 g: no road vehicle on tyres brakes or accelerates harder, m/s^2."""
SPEED_SLACK_MPS = 0.3
"""Allowance for Doppler speed noise on top of MAX_ACCEL_MPS2 x dt, m/s."""
MAX_PULL_MPS2 = 5.0
"""Hardest forward acceleration of any truck (0.5 g; loaded ones manage half), m/s^2."""
JUMP_SLACK_M = 5.0
"""Position error that HDOP does not show, per pair of fixes, m."""
UERE_M = 3.0
"""User equivalent range error: HDOP x UERE ~ one fix's horizontal error, m."""
ASSUMED_HDOP = 1.5
"""HDOP taken for a fix that does not report one."""
NOISE_GAIN = 3.0
"""How many times the receiver's recent position noise a move may be off its track."""
NOISE_ALPHA = 0.2
"""Weight of the newest accepted fix in the position-noise average (about 5 fixes)."""
NOISE_CAP_M = 50.0
"""One fix adds at most this much off-track distance to the noise average, m."""
JUMP_HOLD_S = 5.0
"""A jump may go on this long after the last accepted fix before its track is taken up, s."""
DRIFT_MPS = 5.0
"""How fast a correct position may move off its track (a receiver's static hold let go), m/s."""
SPIKE_MPS = 0.8
"""Velocity error from which a one-epoch excursion is a spike (see the module doc), m/s."""
SPIKE_SIDE_MPS = 0.5
"""A spike also stands out this much from each neighbour (5 x Doppler noise), m/s."""


class Reason(StrEnum):
    """Why a fix was rejected."""

    OUT_OF_ORDER = "out_of_order"
    DUPLICATE = "duplicate"
    NO_SPEED = "no_speed"
    NO_FIX = "no_fix"
    HIGH_HDOP = "high_hdop"
    FEW_SATS = "few_sats"
    STALE = "stale"
    JUMP = "jump"
    SPEED_SPIKE = "speed_spike"
    COURSE_SPIKE = "course_spike"


@dataclass(frozen=True)
class Verdict:
    """The filter's decision on one fix.

    ``reason`` is None for an accepted fix. ``restart`` (accepted fixes only): no accepted
    fix in the ``max_gap_s`` before this one, so detectors start afresh here.
    ``since_last_s``: seconds since the previous accepted fix (None for the first).
    """

    fix: Fix
    reason: Reason | None = None
    restart: bool = False
    since_last_s: float | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class FilterCounts(Counters):
    """Monotonic counts: fixes accepted, gaps reported, and rejections per reason."""

    accepted: int = 0
    gaps: int = 0
    out_of_order: int = 0
    duplicate: int = 0
    no_speed: int = 0
    no_fix: int = 0
    high_hdop: int = 0
    few_sats: int = 0
    stale: int = 0
    jump: int = 0
    speed_spike: int = 0
    course_spike: int = 0

    def add(self, verdict: Verdict) -> FilterCounts:
        """These counts with ``verdict`` counted."""
        if verdict.reason is None:
            gap = verdict.restart and verdict.since_last_s is not None
            return replace(self, accepted=self.accepted + 1, gaps=self.gaps + int(gap))
        name = verdict.reason.value
        return replace(self, **{name: getattr(self, name) + 1})

    @property
    def rejected(self) -> int:
        """All rejections, whatever the reason."""
        return sum(int(getattr(self, f.name)) for f in fields(self)) - self.accepted - self.gaps


@dataclass(frozen=True)
class FilterState:
    """Per-device state: the last accepted fix, the fix awaiting its successor, counts,
    the latest fix rejected as a jump (until a fix is accepted again), and the recent
    position noise (m)."""

    last: Fix | None = None
    pending: Fix | None = None
    counts: FilterCounts = field(default_factory=FilterCounts)
    jumped: Fix | None = None
    noise_m: float = 0.0


def angle_diff_deg(a_deg: float, b_deg: float) -> float:
    """``a - b`` wrapped to [-180, 180), degrees (so 1 - 359 is +2)."""
    return (a_deg - b_deg + 180.0) % 360.0 - 180.0


def _dt_s(a: Fix, b: Fix) -> float:
    return (b.fix_time - a.fix_time).total_seconds()


def _speed(fix: Fix) -> float:
    return fix.speed_mps if fix.speed_mps is not None else 0.0


def _tolerance_m(a: Fix, b: Fix, noise_m: float) -> float:
    """How far two correct fixes' positions may be off the motion between them, m."""
    hdops = sum(f.hdop if f.hdop is not None else ASSUMED_HDOP for f in (a, b))
    return JUMP_SLACK_M + UERE_M * hdops + NOISE_GAIN * noise_m + DRIFT_MPS * _dt_s(a, b)


def _off_track_m(a: Fix, b: Fix) -> float:
    """How much further apart two fixes are than their mean speed takes a truck in the time
    between them, m (negative: nearer)."""
    return distance_between_m(a, b) - (_speed(a) + _speed(b)) / 2 * abs(_dt_s(a, b))


def _learn_noise(state: FilterState, fix: Fix, cfg: QualityConfig) -> float:
    """The position-noise average once ``fix`` is accepted after ``state.last``, m."""
    last = state.last
    if last is None or _dt_s(last, fix) > cfg.max_gap_s:
        return state.noise_m
    off_m = min(abs(_off_track_m(last, fix)), NOISE_CAP_M)
    return state.noise_m + NOISE_ALPHA * (off_m - state.noise_m)


# --- checks on arrival -----------------------------------------------------------------


def _order(state: FilterState, fix: Fix) -> Reason | None:
    last, pending = state.last, state.pending
    if last is not None and fix.fix_time <= last.fix_time:
        return Reason.DUPLICATE if fix.fix_time == last.fix_time else Reason.OUT_OF_ORDER
    if pending is not None and fix.fix_time == pending.fix_time:
        return Reason.DUPLICATE
    return None


def _content(fix: Fix, cfg: QualityConfig) -> Reason | None:
    if fix.speed_mps is None:
        return Reason.NO_SPEED
    if fix.quality == 0 or fix.mode == 1:
        return Reason.NO_FIX
    if fix.hdop is not None and fix.hdop > cfg.max_hdop:
        return Reason.HIGH_HDOP
    if fix.sats_used is not None and fix.sats_used < cfg.min_sats:
        return Reason.FEW_SATS
    return None


def _stale(prev: Fix, fix: Fix) -> bool:
    """The receiver repeated ``prev`` although the truck was moving."""
    same = (prev.lat_deg, prev.lon_deg, prev.speed_mps, prev.course_deg) == (
        fix.lat_deg,
        fix.lon_deg,
        fix.speed_mps,
        fix.course_deg,
    )
    return same and _speed(fix) * _dt_s(prev, fix) >= STALE_MIN_MOVE_M


def _motion(last: Fix | None, fix: Fix, noise_m: float, cfg: QualityConfig) -> Reason | None:
    """Impossible motion from ``last`` to ``fix`` (if ``last`` is recent enough to judge)."""
    if last is None:
        return None
    dt = _dt_s(last, fix)
    if dt > cfg.max_gap_s:
        return None
    # the fix's own speed may be part of the glitch: reach from the last trusted speed
    reach_m = min(_speed(last) * dt + MAX_PULL_MPS2 * dt * dt / 2, cfg.max_implied_speed_mps * dt)
    if distance_between_m(last, fix) > reach_m + _tolerance_m(last, fix, noise_m):
        return Reason.JUMP
    if abs(_speed(fix) - _speed(last)) > MAX_ACCEL_MPS2 * dt + SPEED_SLACK_MPS:
        return Reason.SPEED_SPIKE
    return None


def _still_jumped(state: FilterState, fix: Fix, cfg: QualityConfig) -> bool:
    """``fix`` lies on the track of a fix rejected as a jump (within ``max_gap_s`` of it),
    decisively rather than on the last accepted fix's (within JUMP_HOLD_S before it)."""
    last, jumped = state.last, state.jumped
    if last is None or jumped is None or _dt_s(last, fix) > JUMP_HOLD_S:
        return False
    if abs(_dt_s(jumped, fix)) > cfg.max_gap_s:
        return False
    # decisively nearer: by more than the tolerance, so that wander is not taken for a jump
    margin_m = _tolerance_m(last, fix, state.noise_m)
    return _off_track_m(jumped, fix) + margin_m < _off_track_m(last, fix)


def _physics(state: FilterState, fix: Fix, cfg: QualityConfig) -> Reason | None:
    """Impossible motion since the last accepted fix, or the continuation of a jump."""
    reason = _motion(state.last, fix, state.noise_m, cfg)
    if reason is None and _still_jumped(state, fix, cfg):
        return Reason.JUMP
    return reason


def _on_arrival(state: FilterState, fix: Fix, cfg: QualityConfig) -> Reason | None:
    reason = _order(state, fix) or _content(fix, cfg)
    if reason is not None:
        return reason
    pending = state.pending
    prev = pending if pending is not None and pending.fix_time < fix.fix_time else state.last
    if prev is not None and _stale(prev, fix):
        return Reason.STALE
    return _physics(state, fix, cfg)


# --- judgement between neighbours ------------------------------------------------------


def _weight(prev: Fix, mid: Fix, nxt: Fix) -> float:
    """Where ``mid`` sits in time between its neighbours, 0..1."""
    return _dt_s(prev, mid) / _dt_s(prev, nxt)


def _is_spike(up: float, down: float, between: float, off: float) -> bool:
    """A fix's velocity differences (m/s) from its two neighbours (``up``, ``down``), the
    neighbours' from each other (``between``), and the fix's from the line between them
    (``off``): a spike stands out from both neighbours, to the same side, by more than
    they differ from each other (a peak before hard braking is not a spike)."""
    side = min(abs(up), abs(down))
    same_side = up * down > 0 and side > max(SPIKE_SIDE_MPS, abs(between))
    return same_side and abs(off) > SPIKE_MPS


def _speed_spike(prev: Fix, mid: Fix, nxt: Fix) -> bool:
    v0, v, v1 = _speed(prev), _speed(mid), _speed(nxt)
    off = v - (v0 + _weight(prev, mid, nxt) * (v1 - v0))
    return _is_spike(v - v0, v - v1, v1 - v0, off)


def _course_spike(prev: Fix, mid: Fix, nxt: Fix) -> bool:
    trio = (prev, mid, nxt)
    if any(f.course_deg is None or _speed(f) < COURSE_MIN_SPEED_MPS for f in trio):
        return False
    c0, c, c1 = (f.course_deg or 0.0 for f in trio)
    expected = c0 + _weight(prev, mid, nxt) * angle_diff_deg(c1, c0)

    def across(deg: float) -> float:  # cross-track velocity of a course error, m/s
        return _speed(mid) * math.sin(math.radians(max(-90.0, min(90.0, deg))))

    left, right, between = angle_diff_deg(c, c0), angle_diff_deg(c, c1), angle_diff_deg(c1, c0)
    return _is_spike(
        across(left), across(right), across(between), across(angle_diff_deg(c, expected))
    )


def _judge(prev: Fix | None, mid: Fix, nxt: Fix, cfg: QualityConfig) -> Reason | None:
    """Reject ``mid`` as a one-epoch glitch between its neighbours, or None."""
    if prev is None or max(_dt_s(prev, mid), _dt_s(mid, nxt)) > cfg.max_gap_s:
        return None
    if _speed_spike(prev, mid, nxt):
        return Reason.SPEED_SPIKE
    if _course_spike(prev, mid, nxt):
        return Reason.COURSE_SPIKE
    return None


def _accept(last: Fix | None, fix: Fix, cfg: QualityConfig) -> Verdict:
    since = None if last is None else _dt_s(last, fix)
    return Verdict(fix, None, since is None or since > cfg.max_gap_s, since)


def _after(state: FilterState, verdict: Verdict, cfg: QualityConfig) -> FilterState:
    """``state`` with a settled ``verdict`` taken in (the waiting fix is left as it is)."""
    counts = state.counts.add(verdict)
    if verdict.accepted:
        noise_m = _learn_noise(state, verdict.fix, cfg)
        jumped = state.jumped  # forgotten once a fix after it is accepted
        if jumped is not None and jumped.fix_time < verdict.fix.fix_time:
            jumped = None
        return replace(state, last=verdict.fix, counts=counts, jumped=jumped, noise_m=noise_m)
    jumped = verdict.fix if verdict.reason is Reason.JUMP else state.jumped
    return replace(state, counts=counts, jumped=jumped)


def _verdict_on(
    state: FilterState, mid: Fix, nxt: Fix, cfg: QualityConfig, *, in_order: bool
) -> Verdict:
    """Settle ``mid``, the fix after ``state.last``, now that ``nxt`` follows it in time
    (``in_order``: ``nxt`` also arrived after it)."""
    last = state.last
    # against its accepted predecessor (which may have changed since mid arrived)
    reason = _physics(state, mid, cfg) or _judge(last, mid, nxt, cfg)
    verdict = _accept(last, mid, cfg) if reason is None else Verdict(mid, reason)
    if verdict.restart and in_order:
        # nothing before mid vouches for it: if its successor finds it impossible, the
        # first fix after a gap is the odd one out (a later glitch meets the same fate)
        unconfirmed = _motion(mid, nxt, state.noise_m, cfg)
        if unconfirmed is not None:
            verdict = Verdict(mid, unconfirmed)
    return verdict


def _settle(
    state: FilterState, mid: Fix, nxt: Fix, cfg: QualityConfig
) -> tuple[FilterState, list[Verdict]]:
    """Settle ``mid``, the earlier of the waiting fix and the new arrival ``nxt``; the
    later of the two waits afterwards."""
    in_order = mid is state.pending
    verdict = _verdict_on(state, mid, nxt, cfg, in_order=in_order)
    waiting = nxt if in_order else state.pending
    return replace(_after(state, verdict, cfg), pending=waiting), [verdict]


def step(state: FilterState, fix: Fix, cfg: QualityConfig) -> tuple[FilterState, list[Verdict]]:
    """Feed one fix; return the new state and the verdicts it settled (zero or one).

    A rejection on arrival is settled at once; a fix that passes is settled when the next
    passing fix arrives (or at ``flush``). Every fix gets exactly one verdict.
    """
    reason = _on_arrival(state, fix, cfg)
    if reason is not None:
        verdict = Verdict(fix, reason)
        return _after(state, verdict, cfg), [verdict]
    pending = state.pending
    if pending is None:
        return replace(state, pending=fix), []
    if fix.fix_time < pending.fix_time:  # late, but newer than the last accepted fix
        return _settle(state, fix, pending, cfg)
    return _settle(state, pending, fix, cfg)


def flush(state: FilterState, cfg: QualityConfig) -> tuple[FilterState, list[Verdict]]:
    """End of data: settle the waiting fix with what there is (no successor to judge it
    against, only its accepted predecessor)."""
    pending = state.pending
    if pending is None:
        return state, []
    reason = _physics(state, pending, cfg)
    verdict = _accept(state.last, pending, cfg) if reason is None else Verdict(pending, reason)
    return replace(_after(state, verdict, cfg), pending=None), [verdict]


def filter_fixes(fixes: Iterable[Fix], cfg: QualityConfig) -> tuple[FilterState, list[Verdict]]:
    """Run one device's fixes (in arrival order) through ``step`` and ``flush``."""
    state, verdicts = FilterState(), []
    for fix in fixes:
        state, settled = step(state, fix, cfg)
        verdicts.extend(settled)
    state, settled = flush(state, cfg)
    return state, [*verdicts, *settled]
