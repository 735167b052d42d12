"""The collection-day simulator: courses driven on the street grid, fixes and ground truth."""

from __future__ import annotations

import math
import time as clock
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, CitytrackConfig, load_config
from citytrack.geo import LocalFrame
from firmware_sim.collection import (
    DISPOSAL,
    CollectionModel,
    DayStop,
    DayTrace,
    Disposal,
    LunchModel,
    ReceiverModel,
    TruckDay,
    UnconfiguredStop,
    simulate_day,
    simulate_week,
)
from firmware_sim.collection_week import simulate_collection_week, truck_days
from firmware_sim.streets import DrivingModel, LegPlan, MotionBuilder, gauss_markov

TZ = ZoneInfo("Asia/Tokyo")
DEPOT = (34.6560, 135.4930)
FRAME = LocalFrame(*DEPOT)
M_PER_DEG = math.radians(1.0) * 6_371_008.8
# no noise, no dropouts: what the receiver sends is the true motion
EXACT = ReceiverModel(position_sigma_m=0.0, speed_sigma_mps=0.0, outages_per_h=0.0, epoch_loss=0.0)
NO_LUNCH = LunchModel(probability=0.0)


def at_m(east_m: float, north_m: float) -> tuple[float, float]:
    """(lat, lon) of a place ``east_m``, ``north_m`` from the depot."""
    lat, lon = FRAME.to_latlon(east_m, north_m)
    return float(lat), float(lon)


def stop(i: int, kg: float = 150.0) -> DayStop:
    """Points on a serpentine through a few blocks north-east of the depot."""
    row, col = divmod(i, 4)
    east = (col if row % 2 == 0 else 3 - col) * 250.0 + 120.0
    return DayStop(f"p{i:02d}", *at_m(east, 180.0 + 200.0 * row), kg)


def day(
    stops: Sequence[DayStop | Disposal],
    *,
    leave: datetime = datetime(2025, 1, 6, 9, 30, tzinfo=TZ),
    capacity_kg: float = 2000.0,
    disposal_m: tuple[float, float] = (-400.0, -300.0),
    unload_s: float = 900.0,
    unconfigured: Sequence[UnconfiguredStop] = (),
) -> TruckDay:
    disposal = at_m(*disposal_m)
    return TruckDay(
        "truck-01", list(stops), DEPOT, disposal, capacity_kg, leave, unload_s, unconfigured
    )


def l1_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Grid distance computed on its own: degrees to metres at the mean latitude."""
    north = abs(b[0] - a[0]) * M_PER_DEG
    east = abs(b[1] - a[1]) * M_PER_DEG * math.cos(math.radians(DEPOT[0]))
    return north + east


def fix_arrays(trace: DayTrace) -> dict[str, np.ndarray]:
    f = trace.fixes
    return {
        "t": np.array([x.fix_time.timestamp() for x in f]),
        "lat": np.array([x.lat_deg for x in f]),
        "lon": np.array([x.lon_deg for x in f]),
        "v": np.array([x.speed_mps for x in f]),
    }


def metres_between(lat: np.ndarray, lon: np.ndarray, p: tuple[float, float]) -> np.ndarray:
    dn = (lat - p[0]) * M_PER_DEG
    de = (lon - p[1]) * M_PER_DEG * math.cos(math.radians(p[0]))
    return np.hypot(dn, de)


# --- determinism -------------------------------------------------------------------------


def test_same_seed_same_day_other_seed_other_day() -> None:
    td = day([stop(i) for i in range(6)])
    a = simulate_day(td, np.random.default_rng(7))
    b = simulate_day(td, np.random.default_rng(7))
    c = simulate_day(td, np.random.default_rng(8))
    assert a.fixes == b.fixes and a.visits == b.visits and a.legs == b.legs
    assert a.duration_s == b.duration_s
    assert a.fixes != c.fixes and a.duration_s != c.duration_s


# --- course, service, capacity -----------------------------------------------------------


def test_every_stop_is_served_once_in_order_standing_still_for_its_service() -> None:
    stops = [stop(i, kg=60.0 + 40.0 * i) for i in range(12)]
    model = CollectionModel(lunch=NO_LUNCH)
    trace = simulate_day(day(stops), np.random.default_rng(3), model=model)
    served = [v for v in trace.visits if v.kind == "collection"]
    assert [v.point_id for v in served] == [s.point_id for s in stops]
    fx = fix_arrays(trace)
    for v, s in zip(served, stops, strict=True):
        dwell = (v.depart - v.arrive).total_seconds()
        assert dwell == pytest.approx(v.service_s, abs=1e-3)
        assert 0.5 < v.service_s / model.service.mean_s(s.kg) < 2.0
        inside = (fx["t"] > v.arrive.timestamp() + 0.5) & (fx["t"] < v.depart.timestamp() - 0.5)
        assert inside.sum() >= 0.9 * (dwell - 2)  # 1 Hz, a few lost epochs at most
        assert fx["v"][inside].max() < 0.5
        assert (
            metres_between(fx["lat"][inside], fx["lon"][inside], (s.lat_deg, s.lon_deg)).max() < 15
        )


def test_service_times_follow_base_plus_per_kg() -> None:
    model = CollectionModel(lunch=NO_LUNCH)
    stops = [stop(i, kg=kg) for i, kg in enumerate([20.0, 400.0] * 8)]
    trace = simulate_day(day(stops, capacity_kg=5000.0), np.random.default_rng(4), model=model)
    service = {v.point_id: v.service_s for v in trace.visits if v.kind == "collection"}
    light = np.mean([service[s.point_id] for s in stops if s.kg == 20.0])
    heavy = np.mean([service[s.point_id] for s in stops if s.kg == 400.0])
    assert light == pytest.approx(model.service.mean_s(20.0), rel=0.15)
    assert heavy == pytest.approx(model.service.mean_s(400.0), rel=0.15)


def loads_between_disposals(trace: DayTrace) -> list[float]:
    loads = [0.0]
    for v in trace.visits:
        if v.kind == "collection":
            loads[-1] += v.kg
        elif v.kind == "disposal":
            assert v.kg == pytest.approx(loads[-1])  # it empties what it carries
            loads.append(0.0)
    return loads


def test_reload_is_inserted_when_the_next_stop_would_overflow() -> None:
    stops = [stop(i, kg=400.0) for i in range(6)]
    trace = simulate_day(day(stops, capacity_kg=1000.0), np.random.default_rng(1))
    assert [(r.after_point_id, r.planned) for r in trace.reloads] == [
        ("p01", False),
        ("p03", False),
    ]
    assert max(loads_between_disposals(trace)) <= 1000.0
    disposal = [v for v in trace.visits if v.kind != "light"][-1]
    assert disposal.kind == "disposal" and disposal.point_id == "disposal"
    assert [v.kind for v in trace.visits if v.kind != "light"].count("disposal") == 3
    assert (trace.legs[-1].from_id, trace.legs[-1].to_id) == ("disposal", "depot")


def test_explicit_disposal_markers_are_honoured_and_capacity_still_holds() -> None:
    roomy = day([stop(0), stop(1), DISPOSAL, stop(2), stop(3)], capacity_kg=5000.0)
    trace = simulate_day(roomy, np.random.default_rng(1))
    assert [(r.after_point_id, r.planned, r.load_kg) for r in trace.reloads] == [
        ("p01", True, 300.0)
    ]
    tight: list[DayStop | Disposal] = [
        stop(0, 400.0),
        DISPOSAL,
        *(stop(i, 400.0) for i in range(1, 5)),
    ]
    trace = simulate_day(day(tight, capacity_kg=1000.0), np.random.default_rng(1))
    assert [(r.after_point_id, r.planned) for r in trace.reloads] == [
        ("p00", True),
        ("p02", False),
    ]
    assert max(loads_between_disposals(trace)) <= 1000.0


def test_a_trailing_marker_is_the_final_disposal() -> None:
    trace = simulate_day(day([stop(0), stop(1), DISPOSAL]), np.random.default_rng(1))
    assert trace.reloads == []
    assert [v.kind for v in trace.visits if v.kind != "light"] == [
        "collection",
        "collection",
        "disposal",
    ]


def test_a_stop_heavier_than_the_truck_is_refused() -> None:
    with pytest.raises(ValueError, match="p00"):
        day([stop(0, kg=2500.0)])
    with pytest.raises(ValueError, match="timezone"):
        day([stop(0)], leave=datetime(2025, 1, 6, 9, 30))


# --- windows -------------------------------------------------------------------------------


def windowed(stops: list[DayStop], index: int, opens: datetime) -> list[DayStop]:
    return [replace(s, not_before=opens) if i == index else s for i, s in enumerate(stops)]


def test_a_truck_early_at_a_window_stands_still_until_it_opens() -> None:
    leave = datetime(2025, 1, 6, 9, 30, tzinfo=TZ)
    opens = leave + timedelta(minutes=50)
    stops = windowed([stop(i) for i in range(6)], 3, opens)
    model = CollectionModel(lunch=NO_LUNCH, receiver=EXACT)
    trace = simulate_day(day(stops, leave=leave), np.random.default_rng(3), model=model)
    served = [v for v in trace.visits if v.kind == "collection"]
    assert [v.wait_s for i, v in enumerate(served) if i != 3] == [0.0] * 5
    v = served[3]
    assert v.arrive < opens and v.wait_s > 600
    # service starts when the window opens; the standstill is the wait plus the service
    assert abs(v.arrive + timedelta(seconds=v.wait_s) - opens) < timedelta(milliseconds=1)
    dwell = (v.depart - v.arrive).total_seconds()
    assert dwell == pytest.approx(v.wait_s + v.service_s, abs=1e-3) and dwell >= v.wait_s
    fx = fix_arrays(trace)
    inside = (fx["t"] > v.arrive.timestamp() + 0.5) & (fx["t"] < v.depart.timestamp() - 0.5)
    assert inside.sum() >= dwell - 2  # fixes still sent at 1 Hz while waiting
    assert fx["v"][inside].max() == 0.0
    at_stop = metres_between(fx["lat"][inside], fx["lon"][inside], (v.lat_deg, v.lon_deg))
    assert at_stop.max() < 1.0
    # without the window the same day's earlier visits are identical and nobody waits
    unwindowed_day = day([stop(i) for i in range(6)], leave=leave)
    plain = simulate_day(unwindowed_day, np.random.default_rng(3), model=model)
    unwindowed = [w for w in plain.visits if w.kind == "collection"]
    assert unwindowed[:3] == served[:3] and all(w.wait_s == 0.0 for w in plain.visits)
    assert trace.duration_s > plain.duration_s + 0.5 * v.wait_s


def test_a_window_already_open_costs_nothing_and_a_lunch_break_overlaps_the_wait() -> None:
    leave = datetime(2025, 1, 6, 11, 20, tzinfo=TZ)
    model = CollectionModel(lunch=LunchModel(probability=1.0))
    open_early = windowed([stop(i) for i in range(4)], 2, leave)
    trace = simulate_day(day(open_early, leave=leave), np.random.default_rng(1), model=model)
    assert all(v.wait_s == 0.0 for v in trace.visits)
    for seed in range(3):
        # the first stop reached after 11:30 has both the lunch break and a window at 12:30
        rng = np.random.default_rng(seed)
        probe = simulate_day(day([stop(i) for i in range(8)], leave=leave), rng, model=model)
        [lunch] = [v for v in probe.visits if v.break_s]
        index = int(str(lunch.point_id)[1:])
        opens = datetime(2025, 1, 6, 12, 30, tzinfo=TZ)
        stops = windowed([stop(i) for i in range(8)], index, opens)
        trace = simulate_day(day(stops, leave=leave), np.random.default_rng(seed), model=model)
        [v] = [w for w in trace.visits if w.point_id == lunch.point_id]
        assert v.break_s == lunch.break_s and v.wait_s > 0
        assert v.wait_s == pytest.approx(max(0.0, (opens - v.arrive).total_seconds() - v.break_s))
        dwell = (v.depart - v.arrive).total_seconds()
        assert dwell == pytest.approx(v.wait_s + v.service_s + v.break_s, abs=1e-3)


def test_a_window_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match=r"p01.*aware"):
        day(windowed([stop(0), stop(1)], 1, datetime(2025, 1, 6, 10, 0)))


# --- fixes ---------------------------------------------------------------------------------


def test_fixes_are_1hz_with_realistic_speeds_and_no_jumps() -> None:
    trace = simulate_day(day([stop(i) for i in range(16)]), np.random.default_rng(5), seq_start=41)
    fx = fix_arrays(trace)
    seqs = [f.seq for f in trace.fixes]
    assert seqs == list(range(41, 41 + len(seqs))) and trace.next_seq == seqs[-1] + 1
    dt = np.diff(fx["t"])
    assert np.all(dt >= 1.0) and np.allclose(dt, np.round(dt))
    assert np.mean(dt == 1.0) > 0.97 and len(trace.fixes) > 0.95 * trace.epochs
    assert fx["v"].max() < 45 / 3.6 and np.percentile(fx["v"], 90) > 15 / 3.6
    step = np.hypot(
        np.diff(fx["lat"]) * M_PER_DEG,
        np.diff(fx["lon"]) * M_PER_DEG * math.cos(math.radians(DEPOT[0])),
    )
    assert np.max(step / dt) < 16.0  # 45 km/h plus GPS noise, never a jump
    first = trace.fixes[0]
    assert first.fix_time == trace.leave_at and first.fix_time.tzinfo == UTC
    for f in trace.fixes:
        assert f.recv_time > f.fix_time
        assert (f.course_deg is None) == (f.speed_mps is not None and f.speed_mps < 0.3)
        assert f.sats_used is not None and 5 <= f.sats_used <= 12
        assert f.hdop is not None and 0.5 < f.hdop < 2.5 and f.quality == 1


def test_course_follows_the_street_grid_east_west_first() -> None:
    target = DayStop("p", *at_m(600.0, 400.0), 100.0)
    trace = simulate_day(
        day([target]), np.random.default_rng(2), model=CollectionModel(receiver=EXACT)
    )
    leg = trace.legs[0]
    on_leg = [
        f for f in trace.fixes if leg.depart < f.fix_time < leg.arrive and f.course_deg is not None
    ]
    courses = [round(f.course_deg or 0.0) % 360 for f in on_leg]
    turn = next(i for i, c in enumerate(courses) if c != 90)
    assert courses[:turn] == [90] * turn and set(courses[turn:]) == {0}
    corner_lat = on_leg[turn - 1].lat_deg
    assert (corner_lat - DEPOT[0]) * M_PER_DEG == pytest.approx(0.0, abs=0.5)


def test_true_distance_is_the_sum_of_grid_legs_and_matches_the_speed_integral() -> None:
    stops = [stop(i, kg=400.0) for i in range(8)]
    td = day(stops, capacity_kg=1000.0)
    model = CollectionModel(receiver=EXACT)
    trace = simulate_day(td, np.random.default_rng(6), model=model)
    sites = {s.point_id: (s.lat_deg, s.lon_deg) for s in stops}
    sites |= {"depot": td.depot, "disposal": td.disposal}
    path = [sites[leg.to_id] for leg in trace.legs]
    expected = sum(l1_m(a, b) for a, b in zip([td.depot, *path], path, strict=False))
    assert trace.distance_m == pytest.approx(expected, rel=1e-3)
    for leg in trace.legs:
        assert leg.distance_m == pytest.approx(l1_m(sites[leg.from_id], sites[leg.to_id]), rel=1e-3)
    v = fix_arrays(trace)["v"]
    assert len(v) == trace.epochs
    assert float(np.sum((v[1:] + v[:-1]) / 2)) == pytest.approx(trace.distance_m, rel=0.01)
    assert trace.duration_s == pytest.approx(trace.epochs - 1, abs=1.0)
    assert trace.back_at == trace.legs[-1].arrive


def test_lights_are_short_standstills_at_random_places() -> None:
    td = day([stop(i) for i in range(12)])
    places = []
    for seed in (1, 2):
        trace = simulate_day(td, np.random.default_rng(seed))
        lights = [v for v in trace.visits if v.kind == "light"]
        assert len(lights) >= 3
        assert all(10.0 <= v.service_s <= 40.0 for v in lights)
        places.append({(round(v.lat_deg, 5), round(v.lon_deg, 5)) for v in lights})
    assert not places[0] & places[1]


# --- time of day -------------------------------------------------------------------------


def driving_s(trace: DayTrace) -> float:
    standing = sum(v.service_s + v.break_s for v in trace.visits if v.kind != "light")
    return trace.duration_s - standing


def test_the_same_course_is_slower_in_the_morning_rush_than_at_eleven() -> None:
    stops = [stop(i) for i in range(8)]
    near = (300.0, -100.0)
    for seed in (1, 2, 3):
        rush = day(
            stops, leave=datetime(2025, 1, 6, 7, 45, tzinfo=TZ), disposal_m=near, unload_s=120
        )
        calm = day(
            stops, leave=datetime(2025, 1, 6, 11, 0, tzinfo=TZ), disposal_m=near, unload_s=120
        )
        model = CollectionModel(lunch=NO_LUNCH)
        slow = simulate_day(rush, np.random.default_rng(seed), model=model)
        fast = simulate_day(calm, np.random.default_rng(seed), model=model)
        assert slow.back_at.astimezone(TZ).time() < time(9, 0)  # stayed in the rush band
        assert slow.distance_m == pytest.approx(fast.distance_m)
        assert driving_s(slow) > 1.2 * driving_s(fast)


# --- outliers and unconfigured stops -------------------------------------------------------


def lunch_visits(trace: DayTrace) -> list[tuple[str | None, float, time]]:
    return [
        (v.point_id, v.break_s, v.arrive.astimezone(TZ).time()) for v in trace.visits if v.break_s
    ]


def test_a_lunch_break_happens_only_where_configured() -> None:
    stops = [stop(i) for i in range(16)]
    always = CollectionModel(lunch=LunchModel(probability=1.0))
    never = CollectionModel(lunch=LunchModel(probability=0.0))
    noon = day(stops, leave=datetime(2025, 1, 6, 11, 0, tzinfo=TZ))
    morning = day(stops, leave=datetime(2025, 1, 6, 8, 0, tzinfo=TZ))
    for seed in range(3):
        taken = lunch_visits(simulate_day(noon, np.random.default_rng(seed), model=always))
        assert len(taken) == 1
        point, break_s, local = taken[0]
        assert 1800 <= break_s <= 3600 and time(11, 30) <= local < time(13, 0)
        trace = simulate_day(noon, np.random.default_rng(seed), model=always)
        first_in_window = next(
            v.point_id
            for v in trace.visits
            if v.kind == "collection" and v.arrive.astimezone(TZ).time() >= time(11, 30)
        )
        assert point == first_in_window
        [lunch] = [v for v in trace.visits if v.break_s]
        assert (lunch.depart - lunch.arrive).total_seconds() == pytest.approx(
            lunch.service_s + lunch.break_s, abs=1e-3
        )
        fx = fix_arrays(trace)
        inside = (fx["t"] > lunch.arrive.timestamp()) & (fx["t"] < lunch.depart.timestamp())
        assert inside.sum() > 0.9 * lunch.break_s and fx["v"][inside].max() < 0.5
        assert lunch_visits(simulate_day(noon, np.random.default_rng(seed), model=never)) == []
        morning_trace = simulate_day(morning, np.random.default_rng(seed), model=always)
        assert morning_trace.back_at.astimezone(TZ).time() < time(11, 30)
        assert lunch_visits(morning_trace) == []


def test_an_unconfigured_stop_recurs_at_the_same_place_on_most_days() -> None:
    shop = UnconfiguredStop("shop-1", *at_m(450.0, 250.0), after_point_id="p02", probability=0.8)
    td = day([stop(i) for i in range(6)], unconfigured=[shop])
    days = {date(2025, 1, 6) + timedelta(days=k): [td] for k in range(10)}
    traces = simulate_week(days, seed=3)
    seen = 0
    for [trace] in traces.values():
        kinds = [(v.kind, v.point_id) for v in trace.visits if v.kind != "light"]
        if ("unconfigured", "shop-1") in kinds:
            seen += 1
            assert kinds[kinds.index(("collection", "p02")) + 1] == ("unconfigured", "shop-1")
    assert 5 <= seen <= 10
    never = day([stop(i) for i in range(6)], unconfigured=[replace(shop, probability=0.0)])
    trace = simulate_day(never, np.random.default_rng(0))
    assert all(v.kind != "unconfigured" for v in trace.visits)


# --- week ----------------------------------------------------------------------------------


def test_a_week_continues_seq_per_device_and_trucks_do_not_disturb_each_other() -> None:
    a = day([stop(i) for i in range(4)])
    b = replace(a, device_id="truck-02")
    d0, d1 = date(2025, 1, 6), date(2025, 1, 7)
    both = simulate_week({d1: [a, b], d0: [a, b]}, seed=9, seq_start={"truck-01": 100})
    alone = simulate_week({d0: [a], d1: [a]}, seed=9, seq_start={"truck-01": 100})
    assert list(both) == [d0, d1]
    assert both[d0][0].fixes[0].seq == 100 and both[d0][1].fixes[0].seq == 1
    assert both[d1][0].fixes[0].seq == both[d0][0].next_seq
    assert both[d0][0].fixes == alone[d0][0].fixes and both[d1][0].visits == alone[d1][0].visits
    assert both[d0][0].fixes[5].lat_deg != both[d0][1].fixes[5].lat_deg


@pytest.fixture(scope="module")
def cfg() -> CitytrackConfig:
    return load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)


def test_collection_week_builds_days_from_the_city_config(cfg: CitytrackConfig) -> None:
    city = cfg.city
    positions = {p.id: (p.lat_deg, p.lon_deg) for p in city.collection_points}
    courses = {
        "truck-01": ["cp-01", "cp-02", city.disposal_site.id, "cp-05"],
        "truck-02": ["cp-03"],
    }
    kg = {"cp-01": 300.0, "cp-02": 250.0, "cp-05": 200.0, "cp-03": 100.0}
    monday = date(2025, 1, 6)
    plan = truck_days(cfg, courses, positions, kg, monday, 2)
    first = plan[monday][0]
    truck = city.truck("truck-01")
    assert truck is not None and first.capacity_kg == cfg.routes.capacity_kg[truck.vehicle_class]
    local = first.leave_at.astimezone(ZoneInfo(city.timezone))
    assert (local.date(), local.time()) == (monday, cfg.routes.shift_start)
    assert first.depot == (city.depot.lat_deg, city.depot.lon_deg)
    assert first.unload_s == cfg.routes.unload_s
    ids = [s.point_id if isinstance(s, DayStop) else "marker" for s in first.stops]
    assert ids == ["cp-01", "cp-02", "marker", "cp-05"]
    only_tuesday = {"cp-03": 100.0}
    plan = truck_days(
        cfg,
        courses,
        positions,
        kg,
        monday,
        2,
        kg_for_day=lambda d: only_tuesday if d.weekday() == 1 else kg,
    )
    assert [t.device_id for t in plan[monday + timedelta(days=1)]] == ["truck-02"]


def test_collection_week_refuses_unknown_trucks_and_points_and_simulates(
    cfg: CitytrackConfig,
) -> None:
    city = cfg.city
    positions = {p.id: (p.lat_deg, p.lon_deg) for p in city.collection_points}
    courses = {"truck-01": ["cp-01", "cp-02", city.disposal_site.id, "cp-05"]}
    kg = {"cp-01": 300.0, "cp-02": 250.0, "cp-05": 200.0}
    monday = date(2025, 1, 6)
    with pytest.raises(ValueError, match="truck-99"):
        truck_days(cfg, {"truck-99": ["cp-01"]}, positions, kg, monday, 1)
    with pytest.raises(ValueError, match="cp-77"):
        truck_days(cfg, {"truck-01": ["cp-77"]}, positions, kg, monday, 1)
    traces = simulate_collection_week(cfg, courses, positions, kg, monday, 1, seed=1)
    served = [v.point_id for v in traces[monday][0].visits if v.kind == "collection"]
    assert served == ["cp-01", "cp-02", "cp-05"]
    assert [r.planned for r in traces[monday][0].reloads] == [True]


def test_collection_week_takes_departures_per_day_and_windows_every_day(
    cfg: CitytrackConfig,
) -> None:
    city = cfg.city
    zone = ZoneInfo(city.timezone)
    positions = {p.id: (p.lat_deg, p.lon_deg) for p in city.collection_points}
    courses = {"truck-01": ["cp-01", "cp-02"], "truck-02": ["cp-03"]}
    kg = {"cp-01": 300.0, "cp-02": 250.0, "cp-03": 100.0}
    monday, tuesday = date(2025, 1, 6), date(2025, 1, 7)
    departures = {monday: {"truck-01": time(10, 15)}}
    opens = {"cp-02": time(11, 0)}
    plan = truck_days(
        cfg, courses, positions, kg, monday, 2, departures=departures, not_before=opens
    )
    leave = {(d, t.device_id): t.leave_at.astimezone(zone) for d in plan for t in plan[d]}
    assert leave[monday, "truck-01"] == datetime.combine(monday, time(10, 15), zone)
    for key in ((monday, "truck-02"), (tuesday, "truck-01"), (tuesday, "truck-02")):
        assert leave[key] == datetime.combine(key[0], cfg.routes.shift_start, zone)
    for d in (monday, tuesday):
        stops = {s.point_id: s for s in plan[d][0].stops if isinstance(s, DayStop)}
        assert stops["cp-01"].not_before is None
        assert stops["cp-02"].not_before == datetime.combine(d, time(11, 0), zone)
    traces = simulate_collection_week(
        cfg, courses, positions, kg, monday, 1, seed=1, departures=departures, not_before=opens
    )
    first = traces[monday][0]
    assert first.fixes[0].fix_time == datetime.combine(monday, time(10, 15), zone)
    [v] = [v for v in first.visits if v.point_id == "cp-02"]
    assert v.arrive.astimezone(zone).time() < time(11, 0) and v.wait_s > 0
    started = v.arrive + timedelta(seconds=v.wait_s + v.break_s)
    assert abs(started - datetime.combine(monday, time(11, 0), zone)) < timedelta(milliseconds=1)


# --- building blocks -----------------------------------------------------------------------


def test_a_leg_ends_at_rest_at_its_length_with_bounded_ramps() -> None:
    motion = MotionBuilder()
    plan = LegPlan(730.0, 410.0, [(200.0, 25.0)], 30 / 3.6, 0.8, 1.1, 12 / 3.6)
    lights = motion.drive_leg(plan)
    assert [round(s) for _, s, _ in lights] == [200]
    t = np.arange(0.0, motion.t_s + 5.0, 0.1)
    s, v = motion.sample(t)
    assert s[-1] == pytest.approx(730.0) and v[-1] == 0.0
    assert np.all(np.diff(s) >= -1e-9) and v.max() <= 30 / 3.6 + 1e-9
    dv = np.diff(v) / 0.1
    assert dv.max() <= 0.8 + 1e-6 and dv.min() >= -1.1 - 1e-6
    corner = np.argmin(np.abs(s - 410.0))
    assert v[corner] <= 12 / 3.6 + 0.1
    light = (s > 199.9) & (s < 200.1)
    assert np.sum(v[light] == 0.0) * 0.1 == pytest.approx(25.0, abs=0.2)


def test_gauss_markov_noise_has_its_sigma_and_correlation() -> None:
    x = gauss_markov(200_000, 10.0, 2.0, np.random.default_rng(0))
    assert np.std(x) == pytest.approx(2.0, rel=0.05)
    assert np.corrcoef(x[1:], x[:-1])[0, 1] == pytest.approx(math.exp(-0.1), abs=0.01)


def test_congestion_profile_bands() -> None:
    profile = DrivingModel().congestion
    assert profile.cruise_kmh(8) < profile.cruise_kmh(11) > profile.cruise_kmh(17)
    assert profile.cruise_kmh(6) == profile.cruise_kmh(20)


def test_simulation_speed_note(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints fixes per second; timing belongs in benchmarks, so nothing is asserted on it."""
    td = day([stop(i) for i in range(16)] * 2, capacity_kg=2000.0)
    start = clock.perf_counter()
    traces = simulate_week({date(2025, 1, 6): [td], date(2025, 1, 7): [td]}, seed=1)
    elapsed = clock.perf_counter() - start
    n = sum(len(t.fixes) for [t] in traces.values())
    assert n > 0.95 * sum(t.epochs for [t] in traces.values())
    with capsys.disabled():
        print(f"\nbench: {n} collection fixes in {elapsed:.2f} s ({n / elapsed:,.0f} fixes/s)")
