"""The day's collection plan as one self-contained HTML page (``plan.html``).

A summary of the plan against today's hand-made courses (trucks, points, trips to the
disposal site, distance, working time), a table of the routes, a map of all routes, then
per route its map and its stops in order with arrival, service start and load.

Built as ``hub.reports.drivers`` builds the driving report: plotly.js embedded (the machines that
open it are offline: no CDN, no map tiles), each chart a Plotly figure spec in a
``<script type="application/json" class="figure">`` block, and the plan itself (the
``plan.json`` document) in ``<script type="application/json" id="plan">``. The maps are
latitude against longitude at equal metric scale, as in ``hub.reports.figures``. A plan
without routes renders too, saying so.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from typing import Any

from analytics.routing.check import check_plan
from analytics.routing.city import DayProblem
from analytics.routing.model import Plan, PlannedRoute
from analytics.routing.plan_io import (
    PlanTotals,
    Stop,
    local_time,
    plan_json,
    plan_totals,
    route_stops,
)
from citytrack.geo import lat_lon_aspect
from hub.reports.figures import ROUTE_COLORS
from hub.reports.page import Page

NO_ROUTES = "No routes: nothing to collect on this day"
Figure = dict[str, Any]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1320px; padding: 16px 24px; color: #222; }
h1 { font-size: 24px; margin: 4px 0; } h2 { font-size: 19px; margin: 28px 0 6px; }
.sub { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e3e3e3; text-align: right; }
th { background: #f3f4f6; } td.l, th.l { text-align: left; } td.id { white-space: nowrap; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; align-items: start; }
.chart { border: 1px solid #e5e7eb; border-radius: 6px; min-height: 420px; }
.route { border-top: 3px solid #4c78a8; margin-top: 26px; }
.empty { font-size: 22px; padding: 40px; text-align: center; background: #f6f6f6;
         border-radius: 8px; color: #444; margin: 24px 0; }
.note { font-size: 12.5px; color: #444; background: #f8fafc; border: 1px solid #e5e7eb;
        border-radius: 6px; padding: 8px 12px; margin: 10px 0; }
.bad { color: #b91c1c; font-weight: 600; }
"""


_KIND_MARKERS = {
    "depot": {"symbol": "square", "size": 13, "color": "#222"},
    "disposal": {"symbol": "triangle-up", "size": 14, "color": "#d62728"},
}


# --- figures --------------------------------------------------------------------------------


def _trace(name: str, stops: Sequence[Stop], color: str) -> list[dict[str, Any]]:
    """A route's line and its numbered collection points, depot and disposal markers."""
    line = {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": [s.site.lon_deg for s in stops],
        "y": [s.site.lat_deg for s in stops],
        "line": {"color": color, "width": 2},
        "hoverinfo": "skip",
    }
    points = [s for s in stops if s.kind == "point"]
    marks = {
        "type": "scatter",
        "mode": "markers+text",
        "name": f"{name} stops",
        "showlegend": False,
        "x": [s.site.lon_deg for s in points],
        "y": [s.site.lat_deg for s in points],
        "text": [str(s.seq) for s in points],
        "textposition": "top center",
        "customdata": [f"{s.site.id} {s.site.name}" for s in points],
        "hovertemplate": "%{text}: %{customdata}<extra>" + html.escape(name) + "</extra>",
        "marker": {"color": color, "size": 9, "line": {"color": "white", "width": 1}},
    }
    return [line, marks]


def _places(stops: Sequence[Stop]) -> list[dict[str, Any]]:
    """Markers for the depot and the disposal site, once each."""
    traces = []
    for kind, marker in _KIND_MARKERS.items():
        sites = {s.site.id: s.site for s in stops if s.kind == kind}
        if sites:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": kind,
                    "x": [s.lon_deg for s in sites.values()],
                    "y": [s.lat_deg for s in sites.values()],
                    "text": [s.name for s in sites.values()],
                    "hovertemplate": "%{text}<extra>" + kind + "</extra>",
                    "marker": marker,
                }
            )
    return traces


def route_map(title: str, routes: Sequence[tuple[str, Sequence[Stop]]], color: int = 0) -> Figure:
    """One or more routes (name, stops) on a tile-free map at equal metric scale, coloured
    from the ``color``-th route colour on."""
    data: list[dict[str, Any]] = []
    for n, (name, stops) in enumerate(routes, start=color):
        data += _trace(name, stops, ROUTE_COLORS[(n + 1) % len(ROUTE_COLORS)])
    data += _places([s for _, stops in routes for s in stops])
    lats = [s.site.lat_deg for _, stops in routes for s in stops]
    mid = (min(lats) + max(lats)) / 2 if lats else 0.0
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
        "height": 420,
        "margin": {"l": 80, "r": 15, "t": 40, "b": 45},
        "paper_bgcolor": "white",
        "plot_bgcolor": "#fafafa",
        "legend": {"orientation": "h", "y": -0.15, "font": {"size": 11}},
        "xaxis": {"title": {"text": "longitude, °E"}, "tickformat": ".3f"},
        "yaxis": {
            "title": {"text": "latitude, °N", "standoff": 8},
            "tickformat": ".3f",
            "scaleanchor": "x",
            "scaleratio": lat_lon_aspect(mid),
        },
    }
    return {"data": data, "layout": layout}


# --- tables ---------------------------------------------------------------------------------


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}"


def _km(metres: float) -> str:
    return f"{metres / 1000:.1f}"


def _summary_row(label: str, t: PlanTotals) -> str:
    feasible = "yes" if t.feasible else "<span class='bad'>no</span>"
    return (
        f"<tr><td class='l'>{label}</td><td>{t.trucks}</td><td>{t.points}</td>"
        f"<td>{t.disposal_visits}</td><td>{_km(t.distance_m)}</td>"
        f"<td>{_hours(t.duration_s)}</td><td>{feasible}</td></tr>"
    )


def _summary(plan: PlanTotals, today: PlanTotals | None) -> str:
    rows = [_summary_row("Plan", plan)]
    if today is not None:
        rows.append(_summary_row("Today's courses", today))
        rows.append(
            "<tr><td class='l'><b>Saving</b></td>"
            f"<td>{today.trucks - plan.trucks}</td><td></td><td></td>"
            f"<td>{_km(today.distance_m - plan.distance_m)}</td>"
            f"<td>{_hours(today.duration_s - plan.duration_s)}</td><td></td></tr>"
        )
    return (
        "<table id='summary'><tr><th class='l'></th><th>Trucks</th><th>Points</th>"
        "<th>To disposal</th><th>km</th><th>Working h</th><th>Feasible</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _routes_table(day: DayProblem, routes: Sequence[PlannedRoute]) -> str:
    rows = []
    last = 0 if day.final_unload else 1  # the last trip ends at the depot, or first empties
    for route in routes:
        start, end = (local_time(day.origin, s) for s in (route.start_s, route.end_s))
        rows.append(
            f"<tr><td class='l'>{html.escape(route.vehicle)}</td><td>{start:%H:%M}</td>"
            f"<td>{end:%H:%M}</td><td>{len(route.clients)}</td><td>{len(route.trips) - last}</td>"
            f"<td>{sum(t.load_kg for t in route.trips)}</td><td>{_km(route.distance_m)}</td>"
            f"<td>{_hours(route.duration_s)}</td></tr>"
        )
    return (
        "<table id='routes'><tr><th class='l'>Truck</th><th>Leaves</th><th>Back</th>"
        "<th>Points</th><th>To disposal</th><th>Load kg</th><th>km</th><th>Working h</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _stops_table(day: DayProblem, stops: Sequence[Stop]) -> str:
    rows = []
    for s in stops:
        arrival, begin = (local_time(day.origin, t) for t in (s.arrival_s, s.start_s))
        rows.append(
            f"<tr><td>{s.seq}</td><td class='l id'>{html.escape(s.site.id)}</td>"
            f"<td class='l'>{html.escape(s.site.name)}</td><td>{arrival:%H:%M}</td>"
            f"<td>{begin:%H:%M}</td><td>{s.load_kg}</td><td>{s.trip}</td></tr>"
        )
    return (
        "<table class='stops'><tr><th>#</th><th class='l'>Point</th><th class='l'>Name</th>"
        "<th>Arrives</th><th>Service</th><th>Load kg</th><th>Trip</th></tr>"
        + "".join(rows)
        + "</table>"
    )


# --- page -----------------------------------------------------------------------------------


def _route_section(page: Page, day: DayProblem, route: PlannedRoute, number: int) -> None:
    stops = route_stops(day, route)
    name = html.escape(route.vehicle)
    page.add(f"<section class='route' data-truck='{name}'><h2>{name}</h2>")
    page.add(
        f"<p class='sub'>{len(route.clients)} points in {len(route.trips)} trip(s), "
        f"{_km(route.distance_m)} km, {_hours(route.duration_s)} h</p><div class='grid'>"
    )
    title = f"Route of {route.vehicle} (no map tiles)"
    page.figure(route_map(title, [(route.vehicle, stops)], color=number))
    page.add(_stops_table(day, stops) + "</div></section>")


def _courses_note(day: DayProblem, courses: Plan | None) -> str:
    """Why today's courses are not feasible in the model, if they are not."""
    if courses is None or courses.feasible:
        return ""
    reasons = [str(v) for v in check_plan(day.problem, courses)]
    if courses.unvisited:
        reasons.insert(0, f"on no course: {', '.join(courses.unvisited)}")
    items = "".join(f"<li>{html.escape(r)}</li>" for r in reasons[:10])
    more = f"<li>and {len(reasons) - 10} more</li>" if len(reasons) > 10 else ""
    return f"<div class='note'>Today's courses are not feasible here:<ul>{items}{more}</ul></div>"


def _sources_note(day: DayProblem) -> str:
    counts = Counter(day.sources.values())
    if not counts:
        return ""
    text = ", ".join(f"{html.escape(k)}: {n}" for k, n in sorted(counts.items()))
    return f"<p class='note'>Service times by source ({text}).</p>"


def render_plan(
    day: DayProblem,
    plan: Plan,
    courses: Plan | None = None,
    title: str = "Collection plan",
    *,
    warnings: Sequence[str] = (),
) -> str:
    """``plan`` (and, when given, today's ``courses`` evaluated in the same model) as one
    HTML document; plotly.js is embedded only when there is a map. ``warnings``: why the
    saving should not be trusted (``hub.routes.thin``), shown above it."""
    final = day.final_unload is not None
    totals = plan_totals(plan, final_unload=final)
    page = Page()
    page.add(
        f"<h1>{html.escape(title)}, {day.day.isoformat()}</h1><p class='sub'>"
        f"{totals.trucks} truck(s), {totals.points} point(s), {totals.disposal_visits} trip(s) "
        f"to the disposal site; {_km(totals.distance_m)} km, {_hours(totals.duration_s)} h</p>"
    )
    if not plan.routes:
        page.add(f"<div class='empty'>{NO_ROUTES}.</div>")
    if plan.unvisited:
        names = html.escape(", ".join(plan.unvisited))
        page.add(f"<p class='note bad'>Not served: {names}</p>")
    page.add("<h2>Plan against today's courses</h2>")
    for warning in warnings:
        page.add(f"<p class='note bad thin'>Inputs too thin: {html.escape(warning)}</p>")
    page.add(
        _summary(totals, plan_totals(courses, final_unload=final) if courses is not None else None)
    )
    page.add(_courses_note(day, courses) + _sources_note(day))
    if plan.routes:
        page.add("<h2>Routes</h2>" + _routes_table(day, plan.routes))
        every = [(r.vehicle, route_stops(day, r)) for r in plan.routes]
        page.figure(route_map("All routes (no map tiles)", every))
    for number, route in enumerate(plan.routes):
        _route_section(page, day, route, number)
    data = plan_json(day, plan, courses)
    return page.html(f"{title} {day.day.isoformat()}", _CSS, data_id="plan", data=data)
