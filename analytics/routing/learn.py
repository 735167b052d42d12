"""From truck-days of fixes to service and travel times: the whole learning pass, pure.

``learn_route_stats`` runs :mod:`.stops` (dwells per truck-day, places across days,
matched to configured points and sites) and :mod:`.observed` (service time per matched
point, travel time per pair of sites and band) and returns everything a store or a
report needs. ``hub.routes.stats`` feeds it stored fixes and stores the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, tzinfo

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
    passes,
)
from citytrack.config.routes import RoutesConfig


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
    irregular: int = 0  # places left unproposed: trucks mostly drove past them


def learn_route_stats(
    tracks: Iterable[DayTrack],
    points: Mapping[str, Site],
    sites: Mapping[str, Site],
    emissions: Emissions | None,
    routes: RoutesConfig,
    tz: tzinfo,
    windows: Mapping[str, tuple[time, time]] | None = None,
) -> LearnResult:
    """Learn from ``tracks`` (one per truck and local day). ``points``: configured
    collection points; ``sites``: depot and disposal site (matched, never proposed);
    ``emissions`` give each dwell's expected kg for the service regression (None: median
    only); ``tz``: the city's zone, for the bands of departure hours and ``windows``
    (point id -> local opening and closing time): at a point with a window, service is
    counted from the later of the truck's arrival and the opening, so a truck that came
    early and waited does not make the station look slow.

    A place near no configured point is proposed only when trucks stopped there on at
    least ``proposal_min_stop_share`` of the times they passed it: a traffic light on a
    busy road sees dwells on many days, but far more passes driven straight through."""
    per_track: list[tuple[DayTrack, list[Dwell]]] = [
        (track, detect_dwells(track, routes)) for track in tracks
    ]
    every = [d for _, found in per_track for d in found]
    places = cluster_dwells(every, routes)
    match = match_places(places, points, sites, routes)
    tracks_seen = [track for track, _ in per_track]
    regular = tuple(
        p
        for p in match.proposals
        if p.dwells >= routes.proposal_min_stop_share * passes(p, tracks_seen, routes)
    )
    irregular = len(match.proposals) - len(regular)
    match = replace(match, proposals=regular)
    labels = match.labelled()
    drives = [tr for track, found in per_track for tr in traversals(track, found, labels)]
    opens = {pid: w[0] for pid, w in (windows or {}).items()}
    service = tuple(
        _service(pid, match, emissions, routes.default_service_s, opens.get(pid), tz)
        for pid in sorted(match.matched)
    )
    travel = tuple(group_travel(drives, routes.speed_profile_kmh, tz))
    return LearnResult(
        len(per_track), len(every), tuple(places), match, service, travel, len(drives), irregular
    )


def _service(
    point_id: str,
    match: PlaceMatch,
    emissions: Emissions | None,
    default_s: float,
    opens: time | None,
    tz: tzinfo,
) -> ServiceEstimate:
    dwells = match.point_dwells(point_id)
    durations = _service_durations(dwells, opens, tz)
    kg = None
    if emissions is not None:
        kg = [emissions.kg(point_id, d.day.weekday()) for d in dwells]
    return estimate_service(point_id, durations, kg, default_s=default_s)


def _service_durations(dwells: Sequence[Dwell], opens: time | None, tz: tzinfo) -> list[float]:
    """Each dwell's service time, s: from arrival, or from the window's opening (local
    time on the dwell's day) when the truck arrived before it."""
    if opens is None:
        return [d.duration_s for d in dwells]
    out = []
    for d in dwells:
        opening = datetime.combine(d.day, opens, tzinfo=tz)
        begin = max(d.start, opening)
        out.append(max(0.0, (d.end - begin).total_seconds()))
    return out
