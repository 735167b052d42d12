"""Service and travel times learned from stored fixes, and the day's routing problem.

``RouteStatsRepository.learn(cfg, start, end)`` reads each truck's stored fixes per local
day, keeps those the fix filter accepts (``analytics.driving.quality``), runs the pure learning
pass (``analytics.routing.learn``: dwells, places, matching, service and travel times) and
replaces the tables ``service_times``, ``travel_times`` and ``route_place_proposals``
(schema step ``0014_route_stats``) in one transaction: learning the same days twice leaves
the same rows. ``load`` reads them back as a ``RouteStats``; ``import_emissions`` replaces
the ``emissions`` table with a CSV's rows.

:func:`load_day_problem` is what planning calls: the points CSV of the configuration,
the expected garbage (the imported ``emissions`` table when it has rows, else the CSV
named by ``routes.emissions_csv``), the stored statistics, built into a ``DayProblem``.

Errors: ``analytics.routing.points.RouteDataError`` (a bad points or emissions CSV, every
bad row listed), ``analytics.routing.model.RoutingError`` (inputs that do not fit
together, no emissions anywhere), ``hub.storage.db.StoreUnavailableError`` /
``StoreRejectedError`` (the database failed), ``InvalidInputError`` (``end`` before ``start``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from analytics.driving.quality import filter_fixes
from analytics.routing.city import DayProblem, build_day_problem, configured_sites
from analytics.routing.emissions import Emissions, emissions_from, read_emissions_csv
from analytics.routing.learn import LearnResult, learn_route_stats
from analytics.routing.model import RoutingError
from analytics.routing.observed import RouteStats, ServiceEstimate, TravelObservation
from analytics.routing.points import PointsTable, Site, read_points_csv
from analytics.routing.stops import DayTrack, Proposal
from citytrack.config import CitytrackConfig
from citytrack.config.routes import RoutesConfig
from citytrack.errors import InvalidInputError
from hub.storage.db import Connection, translate_errors
from hub.storage.fleet import FixRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearnSummary:
    """What a learning pass found and stored, for people (``format_learn_summary``)."""

    start: date
    end: date
    result: LearnResult
    min_observations: int
    match_radius_m: float


def read_points(cfg: CitytrackConfig) -> PointsTable:
    """The points CSV named by ``routes.points_csv`` (none configured: no points).

    Raises:
        RouteDataError: the file is unreadable or has bad rows.
    """
    if cfg.routes.points_csv is None:
        return PointsTable()
    return read_points_csv(
        Path(cfg.routes.points_csv),
        reserved_ids=set(cfg.city.place_ids()),
        devices={t.device_id for t in cfg.city.trucks},
    )


def _days(start: date, end: date) -> Iterator[date]:
    if end < start:
        raise InvalidInputError(f"end {end} is before start {start}")
    for n in range((end - start).days + 1):
        yield start + timedelta(days=n)


class RouteStatsRepository:
    """Learned route statistics and imported emissions, over one connection (the caller
    owns it; each write runs in a transaction, a savepoint inside the caller's)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _tracks(self, cfg: CitytrackConfig, start: date, end: date) -> Iterator[DayTrack]:
        tz = ZoneInfo(cfg.city.timezone)
        fixes = FixRepository(self._conn)
        for day in _days(start, end):
            since = datetime.combine(day, time(), tzinfo=tz)
            until = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
            for truck in cfg.city.trucks:
                stored = fixes.track(truck.device_id, since, until)
                _, verdicts = filter_fixes(stored, cfg.detectors.quality)
                accepted = [v.fix for v in verdicts if v.accepted]
                if len(accepted) >= 2:
                    yield DayTrack.from_fixes(truck.device_id, day, accepted)

    def learn(self, cfg: CitytrackConfig, start: date, end: date) -> LearnSummary:
        """Learn from the local days ``start`` .. ``end`` (both included) of every
        configured truck and replace the stored statistics; see the module doc. The kg
        behind each dwell (for the service-time regression) come from the imported
        emissions, else from ``routes.emissions_csv``, else there are none (medians
        only). Raises as the module doc says."""
        city = cfg.city
        table = read_points(cfg)
        points = configured_sites(city, table)
        sites = {
            s.id: Site(s.id, s.name, s.lat_deg, s.lon_deg) for s in (city.depot, city.disposal_site)
        }
        result = learn_route_stats(
            self._tracks(cfg, start, end),
            points,
            sites,
            self.stored_emissions() or _csv_emissions(cfg, points),
            cfg.routes,
            ZoneInfo(city.timezone),
            table.windows(),
        )
        self._replace(result)
        log.info(
            "learned route stats %s..%s: %d dwells, %d places, %d proposals",
            start,
            end,
            result.dwells,
            len(result.places),
            len(result.match.proposals),
        )
        return LearnSummary(
            start, end, result, cfg.routes.min_observations, cfg.routes.match_radius_m
        )

    @translate_errors("store route stats")
    def _replace(self, result: LearnResult) -> None:
        service = [
            (s.point_id, s.value_s, s.slope_s_per_kg, s.ref_kg, s.n_obs, s.method)
            for s in result.service
        ]
        travel = [
            (t.from_id, t.to_id, t.band_start_h, t.duration_s, t.distance_m, t.n_obs)
            for t in result.travel
        ]
        proposals = [
            (n, p.lat_deg, p.lon_deg, p.days, p.dwells, p.median_dwell_s, p.first_day, p.last_day)
            for n, p in enumerate(result.match.proposals, start=1)
        ]
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("DELETE FROM service_times")
            cur.executemany(
                "INSERT INTO service_times (point_id, value_s, slope_s_per_kg, ref_kg, n_obs,"
                " method) VALUES (%s, %s, %s, %s, %s, %s)",
                service,
            )
            cur.execute("DELETE FROM travel_times")
            cur.executemany(
                "INSERT INTO travel_times (from_id, to_id, band_start_h, duration_s, distance_m,"
                " n_obs) VALUES (%s, %s, %s, %s, %s, %s)",
                travel,
            )
            cur.execute("DELETE FROM route_place_proposals")
            cur.executemany(
                "INSERT INTO route_place_proposals (proposal_no, lat_deg, lon_deg, days, dwells,"
                " median_dwell_s, first_day, last_day) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                proposals,
            )

    @translate_errors("load route stats")
    def load(self, routes: RoutesConfig) -> RouteStats:
        """The stored statistics, with ``routes``' fallbacks for what is missing."""
        service = [
            ServiceEstimate(str(pid), float(v), int(n), m, float(slope), float(ref))
            for pid, v, slope, ref, n, m in self._conn.execute(
                "SELECT point_id, value_s, slope_s_per_kg, ref_kg, n_obs, method"
                " FROM service_times ORDER BY point_id"
            )
        ]
        travel = [
            TravelObservation(str(a), str(b), int(h), float(dur), float(dist), int(n))
            for a, b, h, dur, dist, n in self._conn.execute(
                "SELECT from_id, to_id, band_start_h, duration_s, distance_m, n_obs"
                " FROM travel_times ORDER BY from_id, to_id, band_start_h"
            )
        ]
        return RouteStats.for_config(routes, service, travel)

    @translate_errors("load route place proposals")
    def proposals(self) -> list[Proposal]:
        """The stored proposals, most days first."""
        rows = self._conn.execute(
            "SELECT lat_deg, lon_deg, days, dwells, median_dwell_s, first_day, last_day"
            " FROM route_place_proposals ORDER BY proposal_no"
        ).fetchall()
        return [Proposal(*row) for row in rows]

    def import_emissions(self, path: Path, cfg: CitytrackConfig) -> int:
        """Replace the stored emissions with the CSV's rows (point ids checked against
        the configured points); returns how many rows were stored.

        Raises:
            RouteDataError: the file is unreadable or has bad rows (nothing is stored).
        """
        emissions = read_emissions_csv(path, configured_sites(cfg.city, read_points(cfg)))
        with (
            translate_errors("import emissions"),
            self._conn.transaction(),
            self._conn.cursor() as cur,
        ):
            cur.execute("DELETE FROM emissions")
            cur.executemany(
                "INSERT INTO emissions (point_id, weekday, kg) VALUES (%s, %s, %s)",
                [(e.point_id, e.weekday, e.kg) for e in emissions.rows],
            )
        return len(emissions.rows)

    @translate_errors("load emissions")
    def stored_emissions(self) -> Emissions | None:
        """The imported emissions, or None when none were imported."""
        rows = self._conn.execute(
            "SELECT point_id, weekday, kg FROM emissions ORDER BY point_id, weekday"
        ).fetchall()
        return emissions_from(rows) if rows else None


def _csv_emissions(cfg: CitytrackConfig, points: dict[str, Site]) -> Emissions | None:
    if cfg.routes.emissions_csv is None:
        return None
    return read_emissions_csv(Path(cfg.routes.emissions_csv), points)


def load_day_problem(conn: Connection, cfg: CitytrackConfig, day: date) -> DayProblem:
    """The collection problem of local ``day`` from the configuration's files and the
    stored statistics (see the module doc for where emissions come from).

    Raises:
        RouteDataError: a bad points or emissions CSV.
        RoutingError: no emissions imported nor configured, or inputs that do not fit.
        StoreUnavailableError, StoreRejectedError: the database failed.
    """
    repo = RouteStatsRepository(conn)
    points = read_points(cfg)
    emissions = repo.stored_emissions()
    if emissions is None:
        emissions = _csv_emissions(cfg, configured_sites(cfg.city, points))
        if emissions is not None:
            log.info("no imported emissions: using %s", cfg.routes.emissions_csv)
    if emissions is None:
        raise RoutingError(
            "no expected garbage: run `citytrack routes import-emissions` or set"
            " routes.emissions_csv"
        )
    stats = repo.load(cfg.routes)
    return build_day_problem(cfg.city, cfg.routes, day, stats, points, emissions)


def format_learn_summary(summary: LearnSummary) -> str:
    """The learning pass for people: counts, proposals, service and travel times."""
    r = summary.result
    at_sites = sum(len(v) for v in r.match.sites.values())
    matched = sum(len(v) for v in r.match.matched.values())
    lines = [
        f"learned from {summary.start} to {summary.end}: {r.tracks} truck-days,"
        f" {r.dwells} dwells found",
        f"places (dwells on enough days): {len(r.places)}; {matched} matched to"
        f" {len(r.match.matched)} collection points, {at_sites} at the depot or disposal"
        f" site; proposals: {len(r.match.proposals)}; {r.irregular} other places passed"
        " more often than stopped at (traffic lights), not proposed",
    ]
    if r.match.proposals:
        lines.append(
            f"proposed new points (no configured point within {summary.match_radius_m:g} m):"
        )
        lines += [
            f"  {p.lat_deg:.5f}, {p.lon_deg:.5f}  {p.days} days, {p.dwells} dwells, median"
            f" dwell {p.median_dwell_s:.0f} s ({p.first_day} .. {p.last_day})"
            for p in r.match.proposals
        ]
    lines.append(f"service times ({len(r.service)} points):")
    lines += [f"  {s.point_id}: {s.value_s:.0f} s, n_obs {s.n_obs}, {s.source}" for s in r.service]
    return "\n".join([*lines, *_travel_lines(summary)])


def _travel_lines(summary: LearnSummary) -> list[str]:
    r, enough = summary.result, summary.min_observations
    lines = [
        f"travel times: {r.traversals} traversals over {len(r.travel)} (from, to, band) pairs;"
        f" a pair with >= {enough} traversals is observed, else it falls back to distance"
    ]
    for band in sorted({t.band_start_h for t in r.travel}):
        pairs = [t for t in r.travel if t.band_start_h == band]
        observed = sum(1 for t in pairs if t.n_obs >= enough)
        lines.append(
            f"  band from {band:02d}:00: {observed} observed, {len(pairs) - observed} fallback"
        )
    return lines
