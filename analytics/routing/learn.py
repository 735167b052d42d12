"""From truck-days of fixes to service and travel times: the whole learning pass, pure.

``learn_route_stats`` runs :mod:`.stops` (dwells per truck-day, places across days,
matched to configured points and sites) and :mod:`.observed` (service time per matched
point, travel time per pair of sites and band) and returns everything a store or a
report needs. ``hub.route_stats`` feeds it stored fixes and stores the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import tzinfo

from analytics.routing.emissions import Emissions
from analytics.routing.observed import (
    ServiceEstimate,
    TravelObservation,
    estimate_service,
    group_travel,
    traversals,
)
from analytics.routing.points import Site
from analytics.routing.stops import (
    DayTrack,
    Dwell,
    Place,
    PlaceMatch,
    cluster_dwells,
    detect_dwells,
    match_places,
)
from citytrack.routes_config import RoutesConfig


@dataclass(frozen=True)
class LearnResult:
    """What one learning pass found: ``dwells`` and ``tracks`` counted, the ``places``
    (``cluster_min_days`` or more), how they matched, the estimates, and how many
    ``traversals`` back the travel observations."""

    tracks: int
    dwells: int
    places: tuple[Place, ...]
    match: PlaceMatch
    service: tuple[ServiceEstimate, ...]
    travel: tuple[TravelObservation, ...]
    traversals: int


def learn_route_stats(
    tracks: Iterable[DayTrack],
    points: Mapping[str, Site],
    sites: Mapping[str, Site],
    emissions: Emissions | None,
    routes: RoutesConfig,
    tz: tzinfo,
) -> LearnResult:
    """Learn from ``tracks`` (one per truck and local day). ``points``: configured
    collection points; ``sites``: depot and disposal site (matched, never proposed);
    ``emissions`` give each dwell's expected kg for the service regression (None: median
    only); ``tz``: the city's zone, for the bands of departure hours."""
    per_track: list[tuple[DayTrack, list[Dwell]]] = [
        (track, detect_dwells(track, routes)) for track in tracks
    ]
    every = [d for _, found in per_track for d in found]
    places = cluster_dwells(every, routes)
    match = match_places(places, points, sites, routes)
    labels = match.labelled()
    drives = [tr for track, found in per_track for tr in traversals(track, found, labels)]
    service = tuple(
        _service(pid, match, emissions, routes.default_service_s) for pid in sorted(match.matched)
    )
    travel = tuple(group_travel(drives, routes.speed_profile_kmh, tz))
    return LearnResult(
        len(per_track), len(every), tuple(places), match, service, travel, len(drives)
    )


def _service(
    point_id: str, match: PlaceMatch, emissions: Emissions | None, default_s: float
) -> ServiceEstimate:
    dwells = match.point_dwells(point_id)
    durations = [d.duration_s for d in dwells]
    kg = None
    if emissions is not None:
        kg = [emissions.kg(point_id, d.day.weekday()) for d in dwells]
    return estimate_service(point_id, durations, kg, default_s=default_s)
