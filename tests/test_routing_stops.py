"""Stop detection on simulated truck-days with known stops, and places across days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from analytics.routing.points import Site
from analytics.routing.stops import (
    DayTrack,
    Dwell,
    cluster_dwells,
    detect_dwells,
    match_places,
)
from citytrack.config.routes import RoutesConfig
from citytrack.geo import distance_m
from tests.truck_days import SimDay, Stop, TrueDwell, days_from, grid_stops, simulate_day

ROUTES = RoutesConfig()
DEPOT = Site("depot", "Naniwa collection depot", 34.6560, 135.4930)
DISPOSAL = Site("disposal", "Suminoe incineration plant", 34.6460, 135.4850)
DAY = date(2026, 3, 2)


def _overlaps(dwell: Dwell, truth: TrueDwell) -> bool:
    return dwell.start.timestamp() <= truth.end_s and dwell.end.timestamp() >= truth.start_s


def _random_day(rng: np.random.Generator, device: str, day: date) -> SimDay:
    spots = grid_stops(rng, 25, (34.6600, 135.4900))
    stops = [Stop(DEPOT.lat_deg, DEPOT.lon_deg, 90)]
    stops += [Stop(lat, lon, float(rng.uniform(25, 300))) for lat, lon in spots]
    return simulate_day(device, day, stops, rng)


def test_known_stops_are_found_with_small_position_error() -> None:
    rng = np.random.default_rng(7)
    errors_m: list[float] = []
    truths = found = false_dwells = 0
    for k in range(10):
        sim = _random_day(rng, f"truck-{k % 3}", DAY)
        dwells = detect_dwells(sim.track, ROUTES)
        for truth in sim.truth:
            truths += 1
            hits = [d for d in dwells if _overlaps(d, truth)]
            if hits:
                found += 1
                errors_m.append(
                    distance_m(hits[0].lat_deg, hits[0].lon_deg, truth.lat_deg, truth.lon_deg)
                )
        false_dwells += sum(1 for d in dwells if not any(_overlaps(d, t) for t in sim.truth))
    recall = found / truths
    median_error_m = float(np.median(errors_m))
    print(f"recall {recall:.3f} over {truths} stops, median position error {median_error_m:.1f} m")
    assert recall >= 0.95
    assert median_error_m < 4.0  # receiver noise is 3 m (1 sigma); the median beats it
    assert false_dwells == 0


def _standing(seconds: int, *, t0: float = 1_772_400_000.0) -> tuple[np.ndarray, ...]:
    t = t0 + np.arange(seconds, dtype=np.float64)
    lat = np.full(seconds, 34.6600) + np.random.default_rng(1).normal(0, 2e-5, seconds)
    lon = np.full(seconds, 135.4900) + np.random.default_rng(2).normal(0, 2e-5, seconds)
    return t, lat, lon, np.zeros(seconds)


def test_a_speed_glitch_and_an_outage_do_not_split_a_dwell() -> None:
    t, lat, lon, speed = _standing(180)
    speed[40] = 2.5  # one-epoch speed glitch
    keep = np.ones(180, dtype=bool)
    keep[70:100] = False  # the unit drops out for 30 s
    track = DayTrack("truck-01", DAY, t[keep], lat[keep], lon[keep], speed[keep])
    (dwell,) = detect_dwells(track, ROUTES)
    assert dwell.duration_s == pytest.approx(179.0)


def test_a_long_outage_ends_the_dwell_and_a_short_halt_is_none() -> None:
    t, lat, lon, speed = _standing(400)
    keep = np.ones(400, dtype=bool)
    keep[100:300] = False  # 200 s without fixes: more than MAX_GAP_S
    track = DayTrack("truck-01", DAY, t[keep], lat[keep], lon[keep], speed[keep])
    assert [d.duration_s for d in detect_dwells(track, ROUTES)] == [99.0, 99.0]
    short = DayTrack("truck-01", DAY, *(a[:10] for a in _standing(10)))
    assert detect_dwells(short, ROUTES) == []


def test_missing_speeds_are_implied_from_positions() -> None:
    sim = simulate_day(
        "truck-01",
        DAY,
        [Stop(34.66, 135.49, 60), Stop(34.662, 135.492, 120), Stop(34.664, 135.49, 60)],
        np.random.default_rng(3),
        noise_m=1.0,
    )
    blind = DayTrack(
        "truck-01",
        DAY,
        sim.track.t_s,
        sim.track.lat_deg,
        sim.track.lon_deg,
        np.full(len(sim.track.t_s), np.nan),
    )
    dwells = detect_dwells(blind, ROUTES)
    assert len(dwells) == 3
    assert dwells[1].duration_s == pytest.approx(119, abs=3)


def test_track_arrays_must_agree() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        DayTrack("t", DAY, np.arange(3.0), np.zeros(2), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="increase"):
        DayTrack("t", DAY, np.array([2.0, 1.0]), np.zeros(2), np.zeros(2), np.zeros(2))


POINTS = {
    "cp-a": Site("cp-a", "A", 34.6600, 135.4900),
    "cp-b": Site("cp-b", "B", 34.6615, 135.4920),
    "cp-c": Site("cp-c", "C", 34.6630, 135.4900),
}
SHOP = (34.6620, 135.4960)  # a shop's bins: served every day, configured nowhere
ONE_OFF = (34.6650, 135.4940)  # stopped there once


def _week() -> list[Dwell]:
    rng = np.random.default_rng(11)
    dwells: list[Dwell] = []
    for k, day in enumerate(days_from(DAY, 5)):
        stops = [Stop(DEPOT.lat_deg, DEPOT.lon_deg, 120)]
        stops += [Stop(p.lat_deg, p.lon_deg, float(rng.uniform(60, 120))) for p in POINTS.values()]
        stops.append(Stop(*SHOP, 90))
        if k == 2:
            stops.append(Stop(*ONE_OFF, 300))
        stops.append(Stop(DEPOT.lat_deg, DEPOT.lon_deg, 60))
        dwells += detect_dwells(simulate_day("truck-01", day, stops, rng).track, ROUTES)
    return dwells


def test_places_across_days_match_points_and_propose_the_regular_unconfigured_stop() -> None:
    dwells = _week()
    places = cluster_dwells(dwells, ROUTES)
    match = match_places(places, POINTS, {"depot": DEPOT, "disposal": DISPOSAL}, ROUTES)
    assert set(match.matched) == set(POINTS)
    assert set(match.sites) == {"depot"}  # never proposed
    (proposal,) = match.proposals  # the shop; the one-off stop is no place
    assert distance_m(proposal.lat_deg, proposal.lon_deg, *SHOP) < 5.0
    assert (proposal.days, proposal.dwells) == (5, 5)
    assert proposal.median_dwell_s == pytest.approx(89, abs=3)
    assert (proposal.first_day, proposal.last_day) == (DAY, days_from(DAY, 5)[-1])
    assert all(len(match.point_dwells(p)) == 5 for p in POINTS)
    labels = match.labelled()
    assert {labels[d] for d in match.point_dwells("cp-b")} == {"cp-b"}


def test_a_place_needs_dwells_on_cluster_min_days() -> None:
    dwells = _week()
    strict = ROUTES.model_copy(update={"cluster_min_days": 6})
    assert cluster_dwells(dwells, strict) == []
    lenient = ROUTES.model_copy(update={"cluster_min_days": 1})
    match = match_places(cluster_dwells(dwells, lenient), POINTS, {"depot": DEPOT}, lenient)
    assert len(match.proposals) == 2  # the shop and, now, the one-off stop


def test_several_dwells_on_one_day_count_one_day() -> None:
    def dwell(day: date, minute: int) -> Dwell:
        start = datetime(2026, 3, day.day, 1, minute, tzinfo=UTC)
        return Dwell("t", day, start, start.replace(second=50), 34.66, 135.49)

    same_day = [dwell(DAY, m) for m in range(0, 50, 10)]
    assert cluster_dwells(same_day, ROUTES) == []  # five dwells, one day
