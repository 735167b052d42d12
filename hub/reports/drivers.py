"""The driving-tendency report, one self-contained HTML file: :func:`collect` queries it,
:func:`render` writes the page (``citytrack report drivers``, ``app.cli.report``).

For a time range: a fleet overview ranking the drivers by safety score (with distance,
driving time, events per 100 km by kind and the share of driving time speeding), then
per driver: events by kind per local day, the speed profile while driving, the score
trend by day and by ISO week, where the events happened along the route, and the trips
(count, km, driving time, mean trip length, stops, and a table) that the hub's rollups
built (``hub.storage.trips``). A range without driving says so ("No driving in this
period").

Self-contained: plotly.js is embedded (the machines that open it are offline; no CDN, no
map tiles), the charts are Plotly figure specs in ``<script type="application/json"
class="figure">`` blocks, and the numbers behind them sit in ``<script
type="application/json" id="scorecards">``: per driver the daily and weekly
``analytics.driving.scorecard.DriverScorecard``, the same objects
``GET /api/drivers/{id}/scorecard``
returns, and the ``analytics.driving.scorecard.TripSummary`` of ``GET /api/drivers/{id}/trips``. The
score formula is in ``analytics.driving.scorecard``'s docstring and, in short, in the
report itself.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from analytics.driving.scorecard import (
    DEFAULT_WEIGHTS,
    KINDS,
    DriverScorecard,
    PeriodScore,
    ScoreWeights,
    TripSummary,
    build_scorecard,
    summarize_trips,
)
from hub.reports import figures as figs
from hub.reports.page import Page
from hub.reports.trips import trips_html
from hub.storage.drivers import (
    DriverDay,
    DriverEvent,
    DriverStatsRepository,
    RoutePoint,
)
from hub.storage.trips import StoredStop, StoredTrip, TripRepository

NO_DRIVING = "No driving in this period"
NOT_ENOUGH = "not enough driving yet"


@dataclass(frozen=True)
class DriverSection:
    """One driver's part of the report."""

    daily: DriverScorecard
    weekly: DriverScorecard
    speed_profile: dict[float, float]
    route: list[RoutePoint]
    events: list[DriverEvent]
    devices: list[str]
    trips: list[StoredTrip] = field(default_factory=list)
    stops: list[StoredStop] = field(default_factory=list)

    @property
    def trip_summary(self) -> TripSummary:
        return summarize_trips(self.trips, self.stops)


@dataclass(frozen=True)
class FleetReport:
    """Everything the report shows; ``sections`` ranked best score first."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    weights: ScoreWeights
    sections: list[DriverSection]
    idle: dict[str, str] = field(default_factory=dict)  # drivers without driving: id -> name
    unattributed_km: float = 0.0  # on trucks with no registered or rostered driver


def _rank_key(section: DriverSection) -> tuple[float, float]:
    total = section.daily.total
    return (-(total.score if total.score is not None else -1.0), -total.km)


def _section(
    stats: DriverStatsRepository,
    driver: str,
    name: str | None,
    days: list[DriverDay],
    profile: dict[float, float],
    window: tuple[datetime, datetime, ZoneInfo],
    weights: ScoreWeights,
) -> DriverSection:
    start, end, tz = window
    exposures = [(d.day, d.exposure) for d in days]
    daily, weekly = (
        build_scorecard(
            driver, name, exposures, start=start, end=end, tz=tz, period=period, weights=weights
        )
        for period in ("day", "week")
    )
    devices = sorted({d.device_id for d in days})
    return DriverSection(
        daily=daily,
        weekly=weekly,
        speed_profile=profile,
        route=stats.route(driver, start, end, devices=devices),
        events=stats.events(driver, start, end),
        devices=devices,
    )


def collect(
    stats: DriverStatsRepository,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    trips: TripRepository | None = None,
) -> FleetReport:
    """Query what the report shows for ``[start, end)`` (trips only when ``trips`` is given).

    Raises:
        ValueError: naive times or ``end <= start``.
        StoreUnavailableError, StoreRejectedError: the database failed.
    """
    names = stats.drivers()
    days = stats.days(start, end, tz)
    profiles = stats.speed_profile(start, end)
    drivers = sorted({d.driver_id for d in days if d.driver_id is not None})
    sections = [
        _section(
            stats,
            driver,
            names.get(driver),
            [d for d in days if d.driver_id == driver],
            profiles.get(driver, {}),
            (start, end, tz),
            weights,
        )
        for driver in drivers
    ]
    if trips is not None:
        sections = _with_trips(sections, trips, start, end)
    return FleetReport(
        start=start,
        end=end,
        tz=tz,
        weights=weights,
        sections=sorted(sections, key=_rank_key),
        idle={i: n for i, n in names.items() if i not in drivers},
        unattributed_km=sum(d.exposure.km for d in days if d.driver_id is None),
    )


def _with_trips(
    sections: list[DriverSection], repo: TripRepository, start: datetime, end: datetime
) -> list[DriverSection]:
    """The sections with their drivers' trips and stops starting in ``[start, end)``."""
    trips, stops = repo.trips(start, end), repo.stops(start, end)
    return [
        replace(
            s,
            trips=[t for t in trips if t.driver_id == s.daily.driver_id],
            stops=[p for p in stops if p.driver_id == s.daily.driver_id],
        )
        for s in sections
    ]


# --- rendering ------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1320px; padding: 16px 24px; color: #222; }
h1 { font-size: 24px; margin: 4px 0; } h2 { font-size: 19px; margin: 28px 0 6px; }
.sub { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e3e3e3; text-align: right; }
th { background: #f3f4f6; } td.l, th.l { text-align: left; }
.badge { display: inline-block; min-width: 44px; padding: 2px 6px; border-radius: 4px;
         color: white; font-weight: 600; text-align: center; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.chart { border: 1px solid #e5e7eb; border-radius: 6px; min-height: 320px; }
.chart.fleet { min-height: 0; }
.driver { border-top: 3px solid #4c78a8; margin-top: 26px; }
h3 { font-size: 15px; margin: 16px 0 4px; }
.empty { font-size: 22px; padding: 40px; text-align: center; background: #f6f6f6;
         border-radius: 8px; color: #444; margin: 24px 0; }
.note { font-size: 12.5px; color: #444; background: #f8fafc; border: 1px solid #e5e7eb;
        border-radius: 6px; padding: 8px 12px; margin: 10px 0; }
"""


def _badge(card: DriverScorecard) -> str:
    total = card.total
    text = "-" if total.score is None else f"{total.score:.0f}"
    color = figs.RISK_COLORS[total.risk]
    return f'<span class="badge" style="background:{color}">{text}</span>'


def _fleet_table(report: FleetReport) -> str:
    seen = {k for s in report.sections for k in s.daily.total.events}
    kinds = [*KINDS, *sorted(seen - set(KINDS))]
    head = "".join(f"<th>{html.escape(figs.label(k))} /100 km</th>" for k in kinds)
    rows = []
    for rank, s in enumerate(report.sections, 1):
        t = s.daily.total
        rates = t.events_per_100km or {}
        cells = "".join(f"<td>{rates.get(k, 0):.2f}</td>" for k in kinds)
        cells += f"<td>{s.trip_summary.trips}</td>"
        name = html.escape(s.daily.driver_name or s.daily.driver_id)
        place = rank if t.score is not None else ""  # no score, no place in the ranking
        rows.append(
            f"<tr><td>{place}</td><td class='l'>{name} <small>({html.escape(s.daily.driver_id)})"
            f"</small></td><td>{_badge(s.daily)}</td><td>{_risk_text(t, report.weights)}</td>"
            f"<td>{t.km:.1f}</td><td>{t.driving_s / 3600:.1f}</td>{cells}"
            f"<td>{100 * t.speeding_share:.1f} %</td><td>{sum(t.events.values())}</td></tr>"
        )
    for driver, name in report.idle.items():
        rows.append(
            f"<tr><td></td><td class='l'>{html.escape(name)} <small>"
            f"({html.escape(driver)})</small></td><td colspan='{7 + len(kinds)}' "
            f"class='l'>{NO_DRIVING.lower()}</td></tr>"
        )
    return (
        "<table><tr><th>#</th><th class='l'>Driver</th><th>Score</th><th>Risk</th><th>km</th>"
        f"<th>Driving h</th>{head}<th>Trips</th><th>Time speeding</th><th>Events</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _risk_text(t: PeriodScore, weights: ScoreWeights) -> str:
    """The risk class, or why there is none: not enough driving yet (how much of what)."""
    if t.status != "not_enough_driving":
        return html.escape(t.risk)
    return (
        f"{NOT_ENOUGH} ({t.km:.1f} of {weights.min_km:g} km, "
        f"{t.driving_s / 3600:.1f} of {weights.min_driving_s / 3600:g} h driving)"
    )


def _minimum_text(weights: ScoreWeights) -> str:
    if weights.min_km <= 0 and weights.min_driving_s <= 0:
        return ""
    return (
        f" Less than {weights.min_km:g} km or {weights.min_driving_s / 3600:g} h of driving, "
        f"no score either: {NOT_ENOUGH} (one event would decide it)."
    )


def _formula_note(weights: ScoreWeights) -> str:
    per_km = ", ".join(
        f"{figs.label(k).lower()} {w:g}" for k, w in weights.per_100km.items() if w > 0
    )
    return (
        "<div class='note'><b>Score</b> = 100 &minus; &Sigma; (points per event per 100 km "
        f"&times; events per 100 km) &minus; {weights.speeding_pct:g} &times; (percent of "
        f"driving time speeding), kept within 0-100. Points per event per 100 km: {per_km}. "
        f"No distance, no score.{_minimum_text(weights)} Samsara's safety score (1 point "
        "per harsh event per 1,000 miles = 16 per 100 km, 1 point per percent of time "
        "speeding), with Geotab's default "
        "weights (speeding twice a harsh kind) and risk classes: 90-100 low, 75-90 mild, "
        "60-75 medium, under 60 high. Distance and driving time count only moving (over "
        "1.5 m/s) steps between good fixes at most 10 s apart.</div>"
    )


def _driver_section(page: Page, s: DriverSection, report: FleetReport) -> None:
    tz = report.tz
    card, t = s.daily, s.daily.total
    name = html.escape(card.driver_name or card.driver_id)
    trucks = html.escape(", ".join(s.devices))
    page.add(f"<section class='driver' data-driver='{html.escape(card.driver_id)}'>")
    page.add(f"<h2>{name} <small>({html.escape(card.driver_id)})</small> {_badge(card)}</h2>")
    page.add(
        f"<p class='sub'>{t.km:.1f} km, {t.driving_s / 3600:.1f} h driving on {trucks}; "
        f"{_count(sum(t.events.values()), 'event')}; "
        f"{100 * t.speeding_share:.1f} % of driving time speeding; "
        + (
            f"points lost: {_penalty_text(t.penalties)}</p>"
            if t.status != "not_enough_driving"
            else f"no score: {_risk_text(t, report.weights)}</p>"
        )
    )
    page.add("<div class='grid'>")
    page.figure(figs.events_per_day(card, tz))
    page.figure(figs.speed_profile(s.speed_profile))
    page.figure(figs.score_trend(card, s.weekly))
    page.figure(figs.route_map(s.route, s.events, tz))
    page.add("</div>")
    page.add(trips_html(s.trips, s.trip_summary, tz))
    page.add("</section>")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _penalty_text(penalties: dict[str, float]) -> str:
    lost = [(k, v) for k, v in penalties.items() if v >= 0.05]
    if not lost:
        return "none"
    return ", ".join(f"{html.escape(figs.label(k).lower())} {v:.1f}" for k, v in lost)


def _numbers(report: FleetReport) -> dict[str, Any]:
    """The numbers behind the charts: per driver the daily and weekly scorecards and the
    trip summary."""
    return {
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "timezone": report.tz.key,
        "drivers": [
            {
                "daily": s.daily.model_dump(mode="json"),
                "weekly": s.weekly.model_dump(mode="json"),
                "trips": s.trip_summary.model_dump(mode="json"),
            }
            for s in report.sections
        ],
    }


def render(report: FleetReport, title: str = "Driving tendencies") -> str:
    """The report as one HTML document (plotly.js embedded only when there are charts)."""
    tz = report.tz
    first, last = report.start.astimezone(tz), report.end.astimezone(tz)
    span = f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"
    page = Page()
    page.add(
        f"<h1>{html.escape(title)}</h1><p class='sub'>{span} ({html.escape(tz.key)}), "
        f"{len(report.sections)} driver(s) with driving</p>"
    )
    if not report.sections:
        page.add(f"<div class='empty'>{NO_DRIVING}.</div>")
    else:
        page.add("<h2>Fleet overview</h2>")
        page.add(_formula_note(report.weights))
        page.figure(figs.fleet_scores([s.daily for s in report.sections]), css="chart fleet")
    page.add(_fleet_table(report))
    if report.unattributed_km > 0:
        page.add(
            f"<p class='note'>{report.unattributed_km:.1f} km on trucks without a "
            "registered or rostered driver are not in any scorecard.</p>"
        )
    for section in report.sections:
        _driver_section(page, section, report)
    return page.html(title, _CSS, data_id="scorecards", data=_numbers(report))
