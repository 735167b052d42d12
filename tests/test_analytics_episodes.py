"""match_episodes: alerts against ground-truth labels, exact counts on built cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from citytrack.alerts import Alert
from evaluation.episodes import match_episodes
from firmware_sim.labels import EpisodeLabel

T0 = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def label(kind: str, start_s: float, end_s: float, device_id: str = "truck-01") -> EpisodeLabel:
    return EpisodeLabel(device_id, kind, at(start_s), at(end_s), peak_value=5.0)


def alert(kind: str, start_s: float, end_s: float, device_id: str = "truck-01") -> Alert:
    return Alert(
        device_id=device_id,
        kind=kind,
        severity="low",
        start_time=at(start_s),
        end_time=at(end_s),
        lat_deg=34.66,
        lon_deg=135.49,
    )


def counts(labels: list[EpisodeLabel], alerts: list[Alert], **kw: float) -> tuple[int, int, int]:
    score = match_episodes(labels, alerts, **kw)
    found = (score.detected, score.missed, score.false)
    assert score.as_dict() == dict(zip(("detected", "missed", "false"), found, strict=True))
    assert (len(score.matched), len(score.missed_labels), len(score.false_alerts)) == found
    return found


def test_overlapping_alert_of_the_same_kind_is_detected() -> None:
    score = match_episodes([label("harsh_braking", 10, 13)], [alert("harsh_braking", 11, 13)])
    assert score.as_dict() == {"detected": 1, "missed": 0, "false": 0}
    assert score.matched == ((label("harsh_braking", 10, 13), alert("harsh_braking", 11, 13)),)
    assert score.missed_labels == () and score.false_alerts == ()


def test_speeding_labels_match_speeding_alerts() -> None:
    labels = [label("speeding_zone", 5, 20), label("speeding_road", 40, 60)]
    alerts = [alert("speeding", 6, 19), alert("speeding", 41, 58)]
    assert counts(labels, alerts) == (2, 0, 0)


def test_slack_widens_the_label_window() -> None:
    labels, alerts = [label("harsh_braking", 10, 13)], [alert("harsh_braking", 17, 18)]
    assert counts(labels, alerts) == (1, 0, 0)  # 4 s after, default slack 5 s
    assert counts(labels, alerts, slack_s=3.0) == (0, 1, 1)
    assert counts([label("harsh_braking", 10, 13)], [alert("harsh_braking", 3, 4)]) == (0, 1, 1)


def test_device_and_kind_must_agree() -> None:
    labels = [label("harsh_braking", 10, 13)]
    assert counts(labels, [alert("harsh_braking", 10, 13, device_id="truck-02")]) == (0, 1, 1)
    assert counts(labels, [alert("harsh_acceleration", 10, 13)]) == (0, 1, 1)


def test_one_alert_matches_one_label_and_vice_versa() -> None:
    two_labels = [label("harsh_braking", 10, 12), label("harsh_braking", 12, 14)]
    assert counts(two_labels, [alert("harsh_braking", 11, 13)]) == (1, 1, 0)
    two_alerts = [alert("harsh_braking", 10, 11), alert("harsh_braking", 12, 13)]
    assert counts([label("harsh_braking", 10, 13)], two_alerts) == (1, 0, 1)


def test_the_matching_is_maximal_not_greedy() -> None:
    # the first label overlaps both alerts, the second only the earlier one: taking the
    # earlier alert for the first label would leave the second one unmatched
    labels = [label("speeding_zone", 0, 30), label("speeding_road", 1, 5)]
    alerts = [alert("speeding", 20, 25), alert("speeding", 2, 3)]
    assert counts(labels, alerts, slack_s=0.0) == (2, 0, 0)


def test_an_alert_kind_outside_the_contract_cannot_exist() -> None:
    with pytest.raises(ValidationError, match="kind"):
        alert("geofence_exit", 50, 51)


def test_nothing_to_match() -> None:
    assert counts([], []) == (0, 0, 0)
    assert counts([label("harsh_braking", 1, 2)], []) == (0, 1, 0)
    assert counts([], [alert("speeding", 1, 9), alert("harsh_braking", 1, 2)]) == (0, 0, 2)
