"""The notification policy (pure): dedup across stations, once a day, rate limit, quiet hours."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.watch.events import WatchEvent, WatchEventKind
from citytrack.config.watch import Guardian
from hub.notify.policy import (
    Action,
    Decision,
    GuardianState,
    PolicyRules,
    decide,
    in_quiet_hours,
    quiet_end_after,
)

TOKYO = ZoneInfo("Asia/Tokyo")
DAY = datetime(2026, 4, 14, tzinfo=TOKYO)  # a Tuesday
SATO = Guardian(id="g-sato", name="Sato")
RULES = PolicyRules(
    dedup_window_s=120,
    max_per_child_per_hour=3,
    quiet_start=time(21, 0),
    quiet_end=time(6, 30),
    tz=TOKYO,
)
NOON = DAY.replace(hour=12)
K = WatchEventKind


def at(hhmmss: str, day: int = 0) -> datetime:
    h, m, s = (int(x) for x in (hhmmss + ":00").split(":")[:3])
    return DAY + timedelta(days=day, hours=h, minutes=m, seconds=s)


def ev(kind: K, hhmmss: str, station: str | None = "st-a", child: str = "c-hana") -> WatchEvent:
    return WatchEvent.create(kind, child, at(hhmmss), station_id=station, school_id="naniwa-es")


def run(
    events: Sequence[WatchEvent], now: datetime = NOON, rules: PolicyRules = RULES
) -> list[Decision]:
    state = GuardianState(SATO.id)
    out = []
    for event in events:
        state, decision = decide(state, event, SATO, now, rules)
        out.append(decision)
    return out


def actions(decisions: Sequence[Decision]) -> list[str]:
    return [d.action.value + (f":{d.reason}" if d.reason else "") for d in decisions]


def test_one_passage_seen_by_neighbouring_stations_is_one_notice() -> None:
    got = run([ev(K.PASSED, "07:42:03", "st-a"), ev(K.PASSED, "07:42:09", "st-b")])
    assert actions(got) == ["send", "drop:dedup_window"]


def test_passages_further_apart_than_the_window_are_separate() -> None:
    same_station = [ev(K.PASSED, "07:42", "st-a"), ev(K.PASSED, "15:10", "st-a")]
    assert actions(run(same_station)) == ["send", "send"]
    other_station = [ev(K.PASSED, "07:42:00", "st-a"), ev(K.PASSED, "07:44:01", "st-b")]
    assert actions(run(other_station)) == ["send", "send"]
    at_window = [ev(K.PASSED, "07:42:00", "st-a"), ev(K.PASSED, "07:44:00", "st-b")]
    assert actions(run(at_window)) == ["send", "drop:dedup_window"]


def test_out_of_order_events_dedup_on_event_time() -> None:
    got = run([ev(K.PASSED, "07:42:30", "st-b"), ev(K.PASSED, "07:42:00", "st-a")])
    assert actions(got) == ["send", "drop:dedup_window"]


def test_dedup_is_per_child_and_per_kind() -> None:
    got = run(
        [
            ev(K.PASSED, "07:42", child="c-hana"),
            ev(K.PASSED, "07:42", child="c-mio"),  # siblings walking together: two notices
            ev(K.ENTERED_AREA, "07:42", child="c-hana"),
        ]
    )
    assert actions(got) == ["send", "send", "send"]


def test_arrived_school_and_not_arrived_once_per_local_day() -> None:
    got = run(
        [
            ev(K.ARRIVED_SCHOOL, "07:58", "gate"),
            ev(K.ARRIVED_SCHOOL, "10:30", "gate"),  # back from a field trip
            WatchEvent.create(K.ARRIVED_SCHOOL, "c-hana", at("07:55", day=1), station_id="gate"),
            ev(K.NOT_ARRIVED, "08:15", None, child="c-mio"),
            ev(K.NOT_ARRIVED, "08:45", None, child="c-mio"),
        ]
    )
    assert actions(got) == ["send", "drop:once_per_day", "send", "send", "drop:once_per_day"]


def test_rate_limit_drops_the_excess_except_urgent() -> None:
    walk = [ev(K.PASSED, f"07:{m:02d}", f"st-{m}") for m in range(0, 60, 10)]
    got = run([*walk, ev(K.NOT_ARRIVED, "08:15", None), ev(K.PASSED, "09:05")])
    assert actions(got) == [
        *["send"] * 3,
        *["drop:rate_limited"] * 3,
        "send",  # urgent: never rate limited
        "send",  # an hour after the third notice
    ]


def test_rate_limit_is_per_child() -> None:
    hana = [ev(K.PASSED, f"07:{m:02d}", child="c-hana") for m in (0, 10, 20, 30)]
    mio = [ev(K.PASSED, f"07:{m:02d}", child="c-mio") for m in (0, 10, 20)]
    got = run([*hana, *mio])
    assert actions(got)[3] == "drop:rate_limited"
    assert actions(got)[4:] == ["send"] * 3


def test_quiet_hours_defer_non_urgent_to_quiet_end_and_urgent_goes_now() -> None:
    late = at("22:30")
    got = run([ev(K.LEFT_AREA, "22:29"), ev(K.NOT_ARRIVED, "22:29", None)], now=late)
    assert got[0] == Decision(Action.DEFER, at("06:30", day=1).astimezone(UTC), "quiet_hours")
    assert got[1] == Decision(Action.SEND, late.astimezone(UTC))
    early = run([ev(K.PASSED, "05:00")], now=at("05:00"))[0]
    assert early.action == Action.DEFER and early.due_at == at("06:30").astimezone(UTC)
    assert run([ev(K.PASSED, "06:30")], now=at("06:30"))[0].action == Action.SEND


@pytest.mark.parametrize(
    ("local", "start", "end", "quiet"),
    [
        ("20:59", "21:00", "06:30", False),
        ("21:00", "21:00", "06:30", True),
        ("23:59", "21:00", "06:30", True),
        ("00:00", "21:00", "06:30", True),
        ("06:29", "21:00", "06:30", True),
        ("06:30", "21:00", "06:30", False),
        ("12:30", "12:00", "13:00", True),
        ("13:00", "12:00", "13:00", False),
        ("03:00", "00:00", "00:00", False),  # equal: no quiet hours
    ],
)
def test_in_quiet_hours(local: str, start: str, end: str, quiet: bool) -> None:
    t = time.fromisoformat
    assert in_quiet_hours(t(local), t(start), t(end)) is quiet


def test_quiet_end_after_is_strictly_later() -> None:
    assert quiet_end_after(at("06:30"), RULES) == at("06:30", day=1).astimezone(UTC)
    assert quiet_end_after(at("23:00"), RULES) == at("06:30", day=1).astimezone(UTC)


def test_the_same_event_twice_is_one_notice_and_leaves_state_alone() -> None:
    event = ev(K.PASSED, "07:42")
    state, first = decide(GuardianState(SATO.id), event, SATO, NOON, RULES)
    again, second = decide(state, event, SATO, NOON, RULES)
    assert (first.action, second.action, second.reason) == (
        Action.SEND,
        Action.DROP,
        "duplicate_event",
    )
    assert again == state


def test_an_event_older_than_the_memory_is_stale() -> None:
    got = run([ev(K.PASSED, "11:00"), ev(K.PASSED, "07:00"), ev(K.PASSED, "10:01")])
    assert actions(got) == ["send", "drop:stale", "send"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="g-ito"):
        decide(GuardianState("g-ito"), ev(K.PASSED, "07:42"), SATO, NOON, RULES)
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(GuardianState(SATO.id), ev(K.PASSED, "07:42"), SATO, datetime(2026, 4, 14), RULES)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4 * 3600), st.sampled_from(["st-a", "st-b", "st-c"])),
        max_size=60,
    )
)
def test_never_a_storm(passages: list[tuple[int, str]]) -> None:
    """Whatever the stations report: kept notices are more than the window apart, and
    no hour holds more than the limit; every drop is explained by a kept notice."""
    events = [
        WatchEvent.create(K.PASSED, "c-hana", DAY + timedelta(hours=7, seconds=s), station_id=sid)
        for s, sid in passages
    ]
    decisions = run(events)
    kept = sorted(e.time for e, d in zip(events, decisions, strict=True) if d.action == "send")
    window = timedelta(seconds=RULES.dedup_window_s)
    assert all(b - a > window for a, b in itertools.pairwise(kept))
    for t in kept:
        in_hour = [k for k in kept if t - timedelta(hours=1) < k <= t]
        assert len(in_hour) <= RULES.max_per_child_per_hour
    for event, decision in zip(events, decisions, strict=True):
        if decision.reason == "dedup_window":
            assert any(abs(k - event.time) <= window for k in kept)
