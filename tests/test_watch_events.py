"""The child-watch event engine: a scripted school day, timers, history, replay (pure)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.watch.engine import WatchEventEngine
from analytics.watch.events import WatchEvent, WatchEventKind
from citytrack.config.watch import Child, Guardian, School, Station, WatchConfig

K = WatchEventKind
JST = ZoneInfo("Asia/Tokyo")
MONDAY = date(2024, 5, 13)

WATCH = WatchConfig(
    schools=[
        School(id="s1", name="School 1", ward="Naniwa", lat_deg=34.66, lon_deg=135.49),
        School(
            id="s2", name="School 2 (no gate station)", ward="Chuo", lat_deg=34.68, lon_deg=135.50
        ),
    ],
    stations=[
        Station(
            id="gate-s1",
            name="School 1 gate",
            kind="school_gate",
            school_id="s1",
            ward="Naniwa",
            lat_deg=34.66,
            lon_deg=135.49,
        ),
        Station(
            id="road-1",
            name="Ward office",
            kind="roadside",
            ward="Naniwa",
            lat_deg=34.659,
            lon_deg=135.496,
        ),
        Station(
            id="edge-1",
            name="Sennichimae crossing",
            kind="area_boundary",
            ward="Naniwa",
            lat_deg=34.666,
            lon_deg=135.498,
        ),
        Station(id="bus-7", name="Bus 7", kind="mobile", ward="Naniwa"),
    ],
    children=[
        Child(id="c1", name="Hana", school_id="s1", guardian_ids=["g1"]),
        Child(id="c2", name="Yuto", school_id="s1", guardian_ids=["g1"]),
        Child(id="c3", name="Mei", school_id="s1", guardian_ids=["g2"]),
        Child(id="c4", name="Sota", school_id="s2", guardian_ids=["g2"]),
    ],
    guardians=[Guardian(id="g1", name="Sato"), Guardian(id="g2", name="Ito")],
    area_timeout_min=30,
)
STATION = {s.id: s for s in WATCH.stations}


def at(hhmm: str, day: date = MONDAY) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=JST)


def kinds(events: list[WatchEvent]) -> list[tuple[str, WatchEventKind]]:
    return [(e.child_id, e.kind) for e in events]


@pytest.fixture
def engine() -> WatchEventEngine:
    return WatchEventEngine(WATCH, JST)


def passage(engine: WatchEventEngine, child: str, station: str, hhmm: str) -> list[WatchEvent]:
    return engine.on_passage(child, STATION[station], at(hhmm))


def test_a_scripted_school_day(engine: WatchEventEngine) -> None:
    log: list[WatchEvent] = []

    def step(events: list[WatchEvent]) -> list[tuple[str, WatchEventKind]]:
        log.extend(events)
        return kinds(events)

    # morning: c1 walks past the ward office, then through the gate; c2 straight to school
    assert step(passage(engine, "c1", "road-1", "07:40")) == [
        ("c1", K.PASSED),
        ("c1", K.ENTERED_AREA),
    ]
    assert step(passage(engine, "c1", "gate-s1", "07:50")) == [
        ("c1", K.PASSED),
        ("c1", K.ARRIVED_SCHOOL),
    ]
    assert step(passage(engine, "c1", "gate-s1", "07:52")) == [("c1", K.PASSED)]
    assert step(passage(engine, "c2", "gate-s1", "07:55")) == [
        ("c2", K.PASSED),
        ("c2", K.ENTERED_AREA),
        ("c2", K.ARRIVED_SCHOOL),
    ]
    # the deadline: only c3 is missing (c4's school has no gate station to see anyone)
    assert step(engine.due(at("08:14") + timedelta(seconds=59))) == []
    missing = engine.due(at("08:15"))
    assert step(missing) == [("c3", K.NOT_ARRIVED)]
    assert missing[0].time == at("08:15").astimezone(UTC)
    assert (missing[0].school_id, missing[0].station_id) == ("s1", None)
    assert step(engine.due(at("08:20"))) == []
    # c3 arrives late: still reported, once
    assert step(passage(engine, "c3", "gate-s1", "08:31")) == [
        ("c3", K.PASSED),
        ("c3", K.ENTERED_AREA),
        ("c3", K.ARRIVED_SCHOOL),
    ]
    assert step(engine.due(at("09:00"))) == []
    # afternoon: c1 leaves through the gate and crosses the area boundary
    assert step(passage(engine, "c1", "gate-s1", "15:00")) == [
        ("c1", K.PASSED),
        ("c1", K.LEFT_SCHOOL),
    ]
    assert step(passage(engine, "c1", "edge-1", "15:10")) == [("c1", K.PASSED), ("c1", K.LEFT_AREA)]
    assert step(passage(engine, "c1", "edge-1", "15:20")) == [("c1", K.PASSED)]
    # c2 leaves and is not seen again: left the area after 30 minutes of silence
    assert step(passage(engine, "c2", "gate-s1", "15:05")) == [
        ("c2", K.PASSED),
        ("c2", K.LEFT_SCHOOL),
    ]
    assert step(engine.due(at("15:34"))) == []
    timed_out = engine.due(at("15:40"))
    assert step(timed_out) == [("c2", K.LEFT_AREA)]
    assert timed_out[0].time == at("15:35").astimezone(UTC)
    assert timed_out[0].station_id == "gate-s1"
    assert step(engine.due(at("17:00"))) == []

    assert len({e.event_id for e in log}) == len(log)
    milestones = Counter((e.child_id, e.kind) for e in log if e.kind != K.PASSED)
    assert max(milestones.values()) == 1
    assert all(e.time.utcoffset() == timedelta(0) for e in log)


def test_gate_passages_soon_after_arrival_are_not_leaving(engine: WatchEventEngine) -> None:
    passage(engine, "c1", "gate-s1", "07:50")
    assert kinds(passage(engine, "c1", "gate-s1", "10:49")) == [("c1", K.PASSED)]
    assert kinds(passage(engine, "c1", "gate-s1", "10:50")) == [
        ("c1", K.PASSED),
        ("c1", K.LEFT_SCHOOL),
    ]


def test_min_school_stay_is_configurable() -> None:
    engine = WatchEventEngine(WATCH, JST, min_school_stay=timedelta(minutes=30))
    passage(engine, "c1", "gate-s1", "07:50")
    assert kinds(passage(engine, "c1", "gate-s1", "08:20"))[-1] == ("c1", K.LEFT_SCHOOL)


def test_boundary_before_leaving_school_is_not_leaving_the_area(engine: WatchEventEngine) -> None:
    assert kinds(passage(engine, "c1", "edge-1", "07:30")) == [
        ("c1", K.PASSED),
        ("c1", K.ENTERED_AREA),
    ]
    passage(engine, "c1", "gate-s1", "07:50")
    # silence at school is not leaving the area
    assert [e for e in engine.due(at("09:00")) if e.child_id == "c1"] == []


def test_another_schools_gate_is_not_arriving() -> None:
    gate2 = Station(
        id="gate-s2", name="School 2 gate", kind="school_gate", school_id="s2", ward="Chuo",
        lat_deg=34.68, lon_deg=135.5,
    )  # fmt: skip
    engine = WatchEventEngine(WATCH.model_copy(update={"stations": [*WATCH.stations, gate2]}), JST)
    assert kinds(engine.on_passage("c1", gate2, at("07:50"))) == [
        ("c1", K.PASSED),
        ("c1", K.ENTERED_AREA),
    ]
    assert kinds(engine.on_passage("c4", gate2, at("07:51")))[-1] == ("c4", K.ARRIVED_SCHOOL)


def test_no_not_arrived_on_a_weekend_or_long_after_the_deadline() -> None:
    saturday = MONDAY - timedelta(days=2)
    assert WatchEventEngine(WATCH, JST).due(at("08:30", saturday)) == []
    assert WatchEventEngine(WATCH, JST).due(at("12:14")) != []
    assert WatchEventEngine(WATCH, JST).due(at("12:15")) == []  # hub back after an outage


def test_each_day_starts_afresh(engine: WatchEventEngine) -> None:
    tuesday = MONDAY + timedelta(days=1)
    monday_arrival = passage(engine, "c1", "gate-s1", "07:50")
    tuesday_arrival = engine.on_passage("c1", STATION["gate-s1"], at("07:49", tuesday))
    assert kinds(tuesday_arrival) == kinds(monday_arrival)
    assert {e.event_id for e in tuesday_arrival}.isdisjoint(e.event_id for e in monday_arrival)
    # the day boundary is local: 00:30 JST on Wednesday is Tuesday in UTC
    wednesday = at("00:30", tuesday + timedelta(days=1))
    assert kinds(engine.on_passage("c1", STATION["road-1"], wednesday))[-1] == (
        "c1",
        K.ENTERED_AREA,
    )


def test_a_late_passage_from_yesterday_changes_nothing_today(engine: WatchEventEngine) -> None:
    tuesday = MONDAY + timedelta(days=1)
    engine.on_passage("c1", STATION["road-1"], at("07:30", tuesday))
    late = passage(engine, "c1", "gate-s1", "07:50")  # Monday's, delivered on Tuesday
    assert kinds(late) == [("c1", K.PASSED)]
    arrival = engine.on_passage("c1", STATION["gate-s1"], at("07:55", tuesday))
    assert kinds(arrival)[-1] == ("c1", K.ARRIVED_SCHOOL)


def test_not_arrived_only_for_children_who_usually_come(engine: WatchEventEngine) -> None:
    # Monday, no history: every child of a gated school is expected
    passage(engine, "c1", "gate-s1", "07:50")
    assert kinds(engine.due(at("08:15"))) == [("c2", K.NOT_ARRIVED), ("c3", K.NOT_ARRIVED)]
    passage(engine, "c2", "gate-s1", "08:40")
    # Tuesday: c1 and c2 came on Monday, c3 did not
    tuesday = MONDAY + timedelta(days=1)
    assert engine.usually_at_school("c2", tuesday)
    assert not engine.usually_at_school("c3", tuesday)
    assert kinds(engine.due(at("08:15", tuesday))) == [
        ("c1", K.NOT_ARRIVED),
        ("c2", K.NOT_ARRIVED),
    ]


def test_history_looks_back_a_bounded_number_of_days() -> None:
    engine = WatchEventEngine(WATCH, JST, history_days=2)
    passage(engine, "c3", "gate-s1", "07:50")  # Monday
    for offset in (1, 2):  # c3 absent on Tuesday and Wednesday, others seen
        engine.on_passage("c1", STATION["gate-s1"], at("07:50", MONDAY + timedelta(offset)))
    thursday = MONDAY + timedelta(days=3)
    assert not engine.usually_at_school("c3", thursday)
    assert engine.usually_at_school("c1", thursday)


def test_event_ids_are_deterministic_and_replay_rebuilds_the_day() -> None:
    script = [("c1", "road-1", "07:40"), ("c1", "gate-s1", "07:50"), ("c2", "gate-s1", "07:55")]
    first, second = WatchEventEngine(WATCH, JST), WatchEventEngine(WATCH, JST)
    live = [e for c, s, t in script for e in passage(first, c, s, t)]
    live += first.due(at("08:15"))
    assert [e for c, s, t in script for e in passage(second, c, s, t)] == live[:-1]
    # a restarted hub replays today's stored passages (any order): nothing repeats
    restarted = WatchEventEngine(WATCH, JST)
    stored = [(c, s, at(t).astimezone(UTC)) for c, s, t in reversed(script)]
    assert (
        restarted.replay([*stored, ("gone", "road-1", at("07:00")), ("c1", "gone", at("07:01"))])
        == 3
    )
    assert kinds(passage(restarted, "c1", "gate-s1", "07:58")) == [("c1", K.PASSED)]
    due = restarted.due(at("08:16"))
    assert [e.event_id for e in due] == [live[-1].event_id]  # same id: stored once


def test_bad_input_is_refused(engine: WatchEventEngine) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.on_passage("c1", STATION["road-1"], datetime(2024, 5, 13, 7, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.due(datetime(2024, 5, 13, 8, 15))
    with pytest.raises(ValueError, match="unknown child"):
        engine.on_passage("nobody", STATION["road-1"], at("07:00"))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c1", "c2", "c3", "c4"]),
            st.sampled_from(sorted(STATION)),
            st.integers(min_value=0, max_value=3 * 24 * 60 - 1),
        ),
        max_size=40,
        unique=True,
    ),
    st.lists(st.integers(min_value=0, max_value=3 * 24 * 60 - 1), max_size=10),
)
def test_milestones_at_most_once_per_child_and_day(
    script: list[tuple[str, str, int]], ticks: list[int]
) -> None:
    engine = WatchEventEngine(WATCH, JST)
    start = datetime.combine(MONDAY, datetime.min.time(), tzinfo=JST)
    events: list[WatchEvent] = []
    inputs = [(m, "p", c, s) for c, s, m in script] + [(m, "t", "", "") for m in ticks]
    for minute, what, child, station in sorted(inputs):
        now = start + timedelta(minutes=minute)
        if what == "p":
            events += engine.on_passage(child, STATION[station], now)
        else:
            events += engine.due(now)
    assert Counter(e.kind for e in events)[K.PASSED] == len(script)
    per_day = Counter(
        (e.child_id, e.kind, e.time.astimezone(JST).date())
        for e in events
        if e.kind not in (K.PASSED, K.LEFT_AREA)  # a timeout LEFT_AREA may cross midnight
    )
    assert all(n == 1 for n in per_day.values())
    assert len({e.event_id for e in events}) == len(events)


def test_a_rolled_back_transaction_leaves_no_trace(engine: WatchEventEngine) -> None:
    """A batch that did not commit is retried: the engine must say the same things again,
    timers included."""
    passage(engine, "c1", "road-1", "07:30")
    engine.begin()
    first = kinds(passage(engine, "c1", "gate-s1", "07:40"))
    assert (("c1", K.ARRIVED_SCHOOL)) in first
    first_timers = kinds(engine.due(at("08:20")))
    engine.rollback()
    engine.begin()
    assert kinds(passage(engine, "c1", "gate-s1", "07:40")) == first
    assert kinds(engine.due(at("08:20"))) == first_timers
    engine.commit()
    assert (("c1", K.ARRIVED_SCHOOL)) not in kinds(passage(engine, "c1", "gate-s1", "07:41"))
    # a rollback after a commit has nothing to undo
    engine.rollback()
    assert (("c1", K.ARRIVED_SCHOOL)) not in kinds(passage(engine, "c1", "gate-s1", "07:42"))
