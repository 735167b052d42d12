"""The learning pass over synthetic truck-days: traffic lights are not proposed as stations,
and a truck that waits for a station's window does not make its service look slow."""

from __future__ import annotations

from datetime import date, datetime, time

import numpy as np

from analytics.routing.learn import LearnResult, learn_route_stats
from analytics.routing.points import Site
from analytics.routing.stops import DayTrack
from citytrack.config.routes import RoutesConfig
from tests.truck_days import TZ, SimDay, Stop, days_from, simulate_day

ROUTES = RoutesConfig()
DAY = date(2026, 3, 2)
DEPOT = Site("depot", "Depot", 34.6560, 135.4930)
POINT = Site("cp-a", "A", 34.6560, 135.4990)  # 550 m east of the depot
LIGHT = (34.6560, 135.4960)  # on the way, a light that is red on some days only
SHOP = (34.6590, 135.4990)  # a shop's bins north of A: served every day, configured nowhere


def _sim(stop_at_light: list[bool], point_dwell_s: float) -> list[SimDay]:
    rng = np.random.default_rng(5)
    days = []
    for day, red in zip(days_from(DAY, len(stop_at_light)), stop_at_light, strict=True):
        stops = [Stop(DEPOT.lat_deg, DEPOT.lon_deg, 30)]
        if red:
            stops.append(Stop(*LIGHT, 35))
        stops += [Stop(POINT.lat_deg, POINT.lon_deg, point_dwell_s), Stop(*SHOP, 80)]
        stops.append(Stop(DEPOT.lat_deg, DEPOT.lon_deg, 30))
        days.append(simulate_day("truck-01", day, stops, rng))
    return days


def _days(stop_at_light: list[bool], point_dwell_s: float) -> list[DayTrack]:
    return [d.track for d in _sim(stop_at_light, point_dwell_s)]


def _learn(
    tracks: list[DayTrack], windows: dict[str, tuple[time, time]] | None = None
) -> LearnResult:
    return learn_route_stats(tracks, {"cp-a": POINT}, {"depot": DEPOT}, None, ROUTES, TZ, windows)


def test_a_light_red_on_half_the_days_is_not_proposed_but_the_shop_is() -> None:
    red = [True, False, True, False, True, False]  # dwells on 3 days: a place by day count
    result = _learn(_days(red, 70))
    lights = [p for p in result.places if abs(p.lon_deg - LIGHT[1]) < 2e-4]
    assert lights and lights[0].days == 3  # DBSCAN alone would make it a place
    (proposal,) = result.match.proposals
    assert abs(proposal.lat_deg - SHOP[0]) < 1e-4 and abs(proposal.lon_deg - SHOP[1]) < 1e-4
    assert result.irregular == 1
    strict_red = [True] * 6  # red every day: a truck stops there every time, so proposed
    assert len(_learn(_days(strict_red, 70)).match.proposals) == 2


def test_waiting_for_a_window_is_not_service_time() -> None:
    # the truck reaches A about 08:32 and A opens at 09:00: each dwell is ~30 min, most
    # of it waiting
    days = _sim([False] * 4, 1800 + 70)
    tracks = [d.track for d in days]
    opens = [datetime.combine(d.track.day, time(9), TZ).timestamp() for d in days]
    at_a = [next(t for t in d.truth if abs(t.lon_deg - POINT.lon_deg) < 1e-6) for d in days]
    true_service = float(np.median([t.end_s - o for t, o in zip(at_a, opens, strict=True)]))
    naive = {e.point_id: e for e in _learn(tracks).service}["cp-a"]
    windowed = {e.point_id: e for e in _learn(tracks, {"cp-a": (time(9), time(11))}).service}
    assert naive.value_s > 1700
    assert 60 < true_service < 400
    assert abs(windowed["cp-a"].value_s - true_service) < 15
    assert windowed["cp-a"].n_obs == naive.n_obs == 4
