"""The score formula: worked examples, bounds, monotonicity, risk classes and roll-ups."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.driving.scorecard import (
    KINDS,
    Exposure,
    ScoreWeights,
    build_scorecard,
    period_starts,
    risk_class,
    roll_up,
    score,
)

JST = ZoneInfo("Asia/Tokyo")

counts = st.dictionaries(st.sampled_from([*KINDS, "tailgating"]), st.integers(0, 500))
exposures = st.builds(
    Exposure,
    km=st.floats(0, 5000),
    driving_s=st.floats(0, 400_000),
    events=counts,
    speeding_s=st.floats(0, 400_000),
)


def test_worked_examples_of_the_docstring() -> None:
    brakes = score(Exposure(km=10, driving_s=1000, events={"harsh_braking": 2}))
    assert brakes.penalties["harsh_braking"] == pytest.approx(320)
    assert (brakes.value, brakes.risk) == (0.0, "high")
    mixed = Exposure(km=400, driving_s=36_000, events={"harsh_braking": 2}, speeding_s=1080)
    assert mixed.speeding_share() == pytest.approx(0.03)
    result = score(mixed)
    assert result.penalties["harsh_braking"] == pytest.approx(8)
    assert result.penalties["speeding_time"] == pytest.approx(6)
    assert (result.value, result.risk) == (86.0, "mild")


def test_clean_driving_scores_100_and_no_distance_has_no_score() -> None:
    assert score(Exposure(km=50, driving_s=7200)).value == 100.0
    nothing = score(Exposure(events={"harsh_braking": 3}, speeding_s=10))
    assert (nothing.value, nothing.risk, dict(nothing.penalties)) == (None, "none", {})


@given(exposures)
def test_score_is_within_0_and_100(exposure: Exposure) -> None:
    value = score(exposure).value
    assert value is None or 0 <= value <= 100
    assert (value is None) == (exposure.km <= 0)


@given(exposures, st.sampled_from([*KINDS, "tailgating"]), st.integers(1, 50))
def test_more_events_never_raise_the_score(exposure: Exposure, kind: str, extra: int) -> None:
    more = exposure + Exposure(events={kind: extra})
    before, after = score(exposure).value, score(more).value
    assert (before is None) == (after is None)
    assert before is None or after <= before  # type: ignore[operator]


@given(exposures, st.floats(0, 100_000))
def test_more_time_speeding_never_raises_the_score(exposure: Exposure, extra_s: float) -> None:
    more = exposure + Exposure(speeding_s=extra_s)
    before, after = score(exposure).value, score(more).value
    assert before is None or after <= before  # type: ignore[operator]


def test_speeding_counts_by_time_share_capped_at_all_of_it() -> None:
    half = Exposure(km=10, driving_s=1000, speeding_s=500, events={"speeding": 40})
    assert score(half).penalties["speeding"] == 0  # episodes: weight 0
    assert score(half).penalties["speeding_time"] == pytest.approx(100)
    assert Exposure(km=1, driving_s=10, speeding_s=99).speeding_share() == 1.0
    assert Exposure(km=1, speeding_s=99).speeding_share() == 0.0


def test_weights_and_exposures_refuse_negatives() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        ScoreWeights(speeding_pct=-1)
    with pytest.raises(ValueError, match=">= 0"):
        ScoreWeights(per_100km={"harsh_braking": -16})
    with pytest.raises(ValueError, match="negative"):
        Exposure(km=-1)
    with pytest.raises(ValueError, match="negative"):
        Exposure(events={"harsh_braking": -1})


def test_custom_weights_change_the_penalties() -> None:
    exposure = Exposure(km=100, driving_s=3600, events={"tailgating": 2})
    assert score(exposure).value == 100.0  # an unweighted kind costs nothing
    assert score(exposure, ScoreWeights(per_100km={"tailgating": 5})).value == 90.0


@pytest.mark.parametrize(
    ("value", "risk"),
    [(100, "low"), (90, "low"), (89.9, "mild"), (75, "mild"), (74.9, "medium"), (60, "medium"),
     (59.9, "high"), (0, "high"), (None, "none")],
)  # fmt: skip
def test_risk_classes_are_geotabs_defaults(value: float | None, risk: str) -> None:
    assert risk_class(value) == risk


def test_roll_up_sums_days_into_iso_weeks() -> None:
    mon = date(2024, 5, 13)
    days = [
        (mon + timedelta(6), Exposure(km=5, events={"harsh_braking": 1})),  # Sunday
        (mon, Exposure(km=10, driving_s=100)),
        (mon + timedelta(7), Exposure(km=1)),
    ]
    weeks = roll_up(days, "week")
    assert list(weeks) == [mon, mon + timedelta(7)]
    assert weeks[mon] == Exposure(km=15, driving_s=100, events={"harsh_braking": 1})
    assert list(roll_up(days, "day")) == [mon, mon + timedelta(6), mon + timedelta(7)]


def test_period_starts_cover_the_range_in_local_days() -> None:
    # 2024-05-15 15:00 UTC is Thursday 00:00 in Tokyo; the end is exclusive
    start = datetime(2024, 5, 14, 15, tzinfo=UTC)
    end = datetime(2024, 5, 20, 15, tzinfo=UTC)  # Tuesday 00:00 JST
    days = period_starts(start, end, JST, "day")
    assert days[0] == date(2024, 5, 15) and days[-1] == date(2024, 5, 20) and len(days) == 6
    assert period_starts(start, end, JST, "week") == [date(2024, 5, 13), date(2024, 5, 20)]
    with pytest.raises(ValueError, match="start < end"):
        period_starts(end, start, JST, "day")


def test_build_scorecard_fills_periods_without_data() -> None:
    start = datetime(2024, 5, 13, tzinfo=JST)
    card = build_scorecard(
        "drv-a", "A", [(date(2024, 5, 14), Exposure(km=20, driving_s=2000))],
        start=start, end=start + timedelta(days=3), tz=JST, period="day",
    )  # fmt: skip
    assert [p.score for p in card.periods] == [None, 100.0, None]
    assert card.total.km == 20 and card.total.score == 100.0
    assert card.total.events == dict.fromkeys(KINDS, 0)
    assert card.start == start.astimezone(UTC) and card.timezone == "Asia/Tokyo"


def test_too_little_driving_is_not_scored_yet() -> None:
    """After 0.8 km one harsh brake would cost 2,000 points: not enough driving to judge."""
    weights = ScoreWeights(min_km=50, min_driving_s=3600)
    tiny = Exposure(km=0.8, driving_s=120, events={"harsh_braking": 1})
    result = score(tiny, weights)
    assert (result.value, result.risk, result.status) == (None, "none", "not_enough_driving")
    assert dict(result.penalties) == {}
    # the distance alone is not enough, nor the time alone
    assert score(Exposure(km=60, driving_s=1800), weights).status == "not_enough_driving"
    assert score(Exposure(km=40, driving_s=7200), weights).status == "not_enough_driving"
    enough = score(Exposure(km=60, driving_s=7200, events={"harsh_braking": 1}), weights)
    assert enough.status == "scored" and enough.value == pytest.approx(100 - 1600 / 60, abs=0.05)
    assert score(Exposure(), weights).status == "no_driving"
    with pytest.raises(ValueError, match="minimums"):
        ScoreWeights(min_km=-1)


def test_a_period_scorecard_says_why_it_has_no_score() -> None:
    weights = ScoreWeights(min_km=50, min_driving_s=3600)
    start = datetime(2026, 11, 30, tzinfo=JST)  # a Monday
    days = [(date(2026, 11, 30), Exposure(km=0.8, driving_s=120, events={"harsh_braking": 1}))]
    card = build_scorecard(
        "drv-x", None, days, start=start, end=start + timedelta(days=2), tz=JST,
        period="day", weights=weights,
    )  # fmt: skip
    assert [(p.score, p.status) for p in card.periods] == [
        (None, "not_enough_driving"), (None, "no_driving"),
    ]  # fmt: skip
    assert card.total.events_per_100km is not None  # the rates are still there to read
