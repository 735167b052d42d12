"""The fix filter: one verdict per fix, each rejection reason, look-ahead, gaps, reordering."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.driving.quality import (
    JUMP_HOLD_S,
    FilterCounts,
    FilterState,
    Reason,
    Verdict,
    angle_diff_deg,
    filter_fixes,
    flush,
    step,
)
from citytrack.config import QualityConfig
from citytrack.geo import distance_between_m
from citytrack.wire import Fix
from tests import gnss_tracks as g

CFG = QualityConfig()
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def drive(rate_hz: float = 1.0, speed_mps: float = 10.0, seconds: float = 10.0) -> list[Fix]:
    """A clean straight drive north."""
    return g.fixes(g.cruise(speed_mps, seconds, rate_hz))


def run(track: Sequence[Fix]) -> tuple[FilterCounts, list[Verdict]]:
    state, verdicts = filter_fixes(track, CFG)
    return state.counts, verdicts


def accepted(verdicts: Sequence[Verdict]) -> list[Fix]:
    return [v.fix for v in verdicts if v.accepted]


def reasons(verdicts: Sequence[Verdict]) -> list[Reason]:
    return [v.reason for v in verdicts if v.reason is not None]


def with_(fix: Fix, **update: object) -> Fix:
    return fix.model_copy(update=update)


def test_a_clean_drive_is_accepted_in_order_with_one_restart_at_the_start() -> None:
    track = drive()
    counts, verdicts = run(track)
    assert accepted(verdicts) == track
    assert [v.restart for v in verdicts] == [True] + [False] * (len(track) - 1)
    assert verdicts[0].since_last_s is None and verdicts[1].since_last_s == pytest.approx(1.0)
    assert (counts.accepted, counts.gaps, counts.rejected) == (len(track), 0, 0)


def test_a_fix_is_settled_when_the_next_one_passes() -> None:
    a, b, c = drive()[:3]
    state, settled = step(FilterState(), a, CFG)
    assert settled == [] and state.pending == a
    state, settled = step(state, b, CFG)
    assert [v.fix for v in settled] == [a] and state.pending == b
    state, settled = step(state, with_(c, hdop=9.0), CFG)  # rejected at once; b still waits
    assert reasons(settled) == [Reason.HIGH_HDOP] and state.pending == b
    state, settled = flush(state, CFG)
    assert [(v.fix, v.accepted) for v in settled] == [(b, True)]
    assert flush(state, CFG) == (state, [])


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        ({"speed_mps": None}, Reason.NO_SPEED),
        ({"quality": 0}, Reason.NO_FIX),
        ({"mode": 1}, Reason.NO_FIX),
        ({"hdop": 5.1}, Reason.HIGH_HDOP),
        ({"sats_used": 3}, Reason.FEW_SATS),
    ],
)
def test_fixes_the_receiver_does_not_vouch_for_are_rejected(
    update: dict[str, object], reason: Reason
) -> None:
    track = drive()
    track[4] = with_(track[4], **update)
    counts, verdicts = run(track)
    assert reasons(verdicts) == [reason]
    assert getattr(counts, reason.value) == 1 and counts.rejected == 1
    assert accepted(verdicts) == track[:4] + track[5:]


def test_fields_a_receiver_does_not_report_pass() -> None:
    track = [with_(f, hdop=None, sats_used=None, quality=None, mode=None) for f in drive()]
    assert accepted(run(track)[1]) == track


def test_duplicates_and_late_fixes_are_rejected_and_change_nothing() -> None:
    track = drive()
    # a copy of the waiting fix, a copy of an accepted one, and fixes older than accepted
    noisy = [*track[:4], track[3], track[2], track[0], track[1], *track[4:]]
    counts, verdicts = run(noisy)
    assert accepted(verdicts) == track
    assert (counts.duplicate, counts.out_of_order) == (2, 2)


def test_two_fixes_swapped_on_the_way_are_put_back_in_order() -> None:
    track = drive()
    swapped = [*track[:3], track[4], track[3], *track[5:]]
    counts, verdicts = run(swapped)
    assert accepted(verdicts) == track and counts.rejected == 0


def test_a_repeated_fix_while_moving_is_stale_but_not_at_standstill() -> None:
    track = drive()
    held = [with_(track[3], seq=track[k].seq, fix_time=track[k].fix_time) for k in (4, 5)]
    counts, verdicts = run([*track[:4], *held, *track[6:]])
    assert counts.stale == 2 and reasons(verdicts) == [Reason.STALE] * 2
    parked = [with_(f, lat_deg=34.67, lon_deg=135.49, speed_mps=0.0) for f in drive()]
    assert run(parked)[0].accepted == len(parked)


def test_a_stale_hold_then_a_fresh_fix_restarts_after_the_gap() -> None:
    track = drive()
    held = [with_(track[2], seq=f.seq, fix_time=f.fix_time) for f in track[3:7]]
    counts, verdicts = run([*track[:3], *held, *track[7:]])
    fresh = next(v for v in verdicts if v.fix == track[7])
    assert fresh.restart and fresh.since_last_s == pytest.approx(5.0)
    assert counts.gaps == 1


@pytest.mark.parametrize("rate_hz", [1, 10])
@pytest.mark.parametrize("offset_m", [(0, 60), (60, 0), (0, -60), (-400, 300), (5000, 0)])
def test_a_position_jump_is_rejected_and_the_drive_goes_on(
    rate_hz: int, offset_m: tuple[float, float]
) -> None:
    track = drive(rate_hz, speed_mps=12.0)
    k = len(track) // 2
    track[k] = g.moved(track[k], *offset_m)
    counts, verdicts = run(track)
    assert reasons(verdicts) == [Reason.JUMP] and counts.jump == 1
    assert accepted(verdicts) == track[:k] + track[k + 1 :]


def test_a_jump_lasting_several_epochs_is_rejected_whole() -> None:
    track = drive(speed_mps=12.0)
    away = [g.moved(f, 80.0, 0.0).model_copy(update={"speed_mps": 16.0}) for f in track[4:7]]
    counts, verdicts = run([*track[:4], *away, *track[7:]])
    assert counts.jump == 3 and accepted(verdicts) == track[:4] + track[7:]
    assert next(v for v in verdicts if v.fix == track[7]).restart  # 4 s after track[3]


def test_a_position_shift_that_persists_is_taken_up_as_a_restart() -> None:
    track = drive(speed_mps=8.0, seconds=15)
    shifted = track[:5] + [g.moved(f, 60.0, 0.0) for f in track[5:]]
    counts, verdicts = run(shifted)
    taken = accepted(verdicts)
    k = shifted.index(taken[5])  # the first shifted fix accepted
    assert taken == shifted[:5] + shifted[k:] and counts.jump == k - 5 >= 3
    assert (shifted[k].fix_time - track[4].fix_time).total_seconds() <= JUMP_HOLD_S + 1
    assert next(v for v in verdicts if v.fix == shifted[k]).restart


@pytest.mark.parametrize("rate_hz", [1, 10])
@pytest.mark.parametrize("spike_mps", [2.5, 6.0, -6.0, 15.0])
def test_a_one_epoch_speed_spike_is_rejected(rate_hz: int, spike_mps: float) -> None:
    track = drive(rate_hz)
    k = len(track) // 2
    track[k] = with_(track[k], speed_mps=10.0 + spike_mps)
    _, verdicts = run(track)
    assert reasons(verdicts) == [Reason.SPEED_SPIKE]
    assert accepted(verdicts) == track[:k] + track[k + 1 :]


def test_a_speed_change_beyond_one_g_is_rejected_on_arrival() -> None:
    track = drive(10)
    glitch = [with_(f, speed_mps=14.0) for f in track[20:23]]  # three epochs, +4 m/s
    counts, _ = run([*track[:20], *glitch, *track[23:]])
    assert counts.speed_spike == 3 and counts.accepted == len(track) - 3


@pytest.mark.parametrize("error_deg", [25.0, -40.0, 170.0])
def test_a_one_epoch_course_spike_is_rejected(error_deg: float) -> None:
    track = drive(1, speed_mps=10.0)
    k = len(track) // 2
    track[k] = with_(track[k], course_deg=(error_deg + 360.0) % 360.0)
    _, verdicts = run(track)
    assert reasons(verdicts) == [Reason.COURSE_SPIKE]


def test_small_wobbles_and_slow_course_noise_pass() -> None:
    track = drive(1, speed_mps=10.0)
    track[5] = with_(track[5], speed_mps=10.7, course_deg=4.0)  # 0.7 m/s up, 0.7 across
    slow = [with_(f, speed_mps=2.0, course_deg=(90.0 * i) % 360) for i, f in enumerate(track)]
    assert run(track)[0].rejected == 0
    assert run(slow)[0].course_spike == 0


def test_turns_and_real_braking_are_not_spikes() -> None:
    for m in (g.turn(11.1, 90, 2, 1), g.brake(12, 5.5, 1), g.turn(6, -180, 4, 1)):
        assert run(g.fixes(m))[0].rejected == 0


def test_a_gap_is_reported_and_nothing_is_judged_across_it() -> None:
    track = drive(speed_mps=10.0, seconds=12)
    gappy = [*track[:5], *track[8:]]  # 3 s without a fix
    counts, verdicts = run(gappy)
    after = next(v for v in verdicts if v.fix == track[8])
    assert after.restart and counts.gaps == 1 and counts.accepted == len(gappy)
    # nothing before the gap vouches for the first fix after it: its successor decides
    gappy[5] = with_(gappy[5], speed_mps=40.0)
    counts, verdicts = run(gappy)
    assert reasons(verdicts) == [Reason.SPEED_SPIKE] and counts.gaps == 1
    assert next(v for v in verdicts if v.fix == gappy[6]).restart


def test_counts_add_up() -> None:
    counts = FilterCounts(accepted=5, gaps=1, stale=2, jump=1)
    assert counts.rejected == 3
    assert counts.as_dict()["stale"] == 2 and sum(counts.as_dict().values()) == 9


def test_distance_and_angle_helpers() -> None:
    a = drive()[0]
    assert distance_between_m(a, g.moved(a, 30.0, 40.0)) == pytest.approx(50.0, rel=1e-3)
    assert angle_diff_deg(1.0, 359.0) == pytest.approx(2.0)
    assert angle_diff_deg(359.0, 1.0) == pytest.approx(-2.0)


# --- properties --------------------------------------------------------------------------


def arrivals(rate_hz: int, speed: float, course0: float, seed: int) -> tuple[list[Fix], list[Fix]]:
    """A noisy drive, and the drive as it might arrive: one-epoch glitches where the
    receiver made them (just after the fix they copy, at least three fixes apart, not the
    very first), duplicates and late replays anywhere."""
    rng = np.random.default_rng(seed)
    m = g.cruise(speed, 20, rate_hz, course0=course0)
    track = g.fixes(m, rng=rng, speed_sigma=0.1, position_sigma_m=3.0)
    spots = rng.permutation(np.arange(2, len(track) - 2, 3))[: int(rng.integers(0, 6))]
    out: list[Fix] = []
    for i, fix in enumerate(track):
        out.append(fix)
        if i not in spots:
            continue
        later = fix.fix_time + timedelta(milliseconds=1)
        junk = ["hdop", "jump", "spike"][int(rng.integers(0, 3))]
        if junk == "hdop":
            out.append(with_(fix, hdop=9.0, fix_time=later))
        elif junk == "jump":
            out.append(with_(g.moved(fix, 300.0, 0.0), fix_time=later))
        else:
            out.append(with_(fix, speed_mps=40.0, fix_time=later))
    for _ in range(int(rng.integers(0, 6))):
        at = int(rng.integers(1, len(out) + 1))
        out.insert(at, out[int(rng.integers(0, at))])
    return track, out


@PROPERTY
@given(
    rate_hz=st.sampled_from([1, 10]),
    speed=st.floats(0, 20),
    course0=st.floats(0, 359),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_fix_gets_one_verdict_and_accepted_fixes_come_in_time_order(
    rate_hz: int, speed: float, course0: float, seed: int
) -> None:
    clean, track = arrivals(rate_hz, speed, course0, seed)
    counts, verdicts = run(track)
    assert sorted(id(v.fix) for v in verdicts) == sorted(id(f) for f in track)
    assert counts.accepted + counts.rejected == len(track)
    assert accepted(verdicts) == clean  # no glitch, and every real fix once, in order
