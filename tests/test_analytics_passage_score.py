"""Passage scoring against ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evaluation.passages import PassageKey, score_passages

T = datetime(2026, 11, 26, 22, 40, tzinfo=UTC)


def key(child: str, station: str, seconds: float) -> PassageKey:
    return PassageKey(child, station, T + timedelta(seconds=seconds))


def test_matches_within_tolerance_one_to_one() -> None:
    truth = [key("c1", "gate", 0), key("c2", "gate", 10), key("c1", "road", 100)]
    detected = [
        key("c1", "gate", 20),  # matches
        key("c1", "gate", 25),  # the same visit reported twice (EID rotated): merged
        key("c2", "gate", 200),  # too late: false, and c2 at the gate is missed
        key("c3", "road", 100),  # nobody passed: false
        key("c1", "road", 95),  # matches
    ]
    score = score_passages(truth, detected, tolerance_s=60)
    assert (score.truth, score.detected, score.matched, score.false) == (3, 4, 2, 2)
    assert score.recall == 2 / 3
    assert score.false_rate == 2 / 4
    unmerged = score_passages(truth, detected, tolerance_s=60, merge_s=0)
    assert (unmerged.detected, unmerged.false) == (5, 3)


def test_empty_inputs() -> None:
    assert score_passages([], []).recall == 1.0
    assert score_passages([], []).false_rate == 0.0
    assert score_passages([key("c", "s", 0)], []).recall == 0.0
