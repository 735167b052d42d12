"""The driving-tendency report's charts, as plain Plotly figure specs (pure, no I/O).

Each function returns ``{"data": [...], "layout": {...}}`` for ``Plotly.newPlot``. The map
is no map: the machines that open the report are offline, so there are no tiles; the
route is drawn as latitude against longitude at equal metric scale (1 degree of latitude
is 1/cos(latitude) times as long as 1 degree of longitude), with the events on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.driving.scorecard import KINDS, DriverScorecard, PeriodScore
from citytrack.geo import lat_lon_aspect
from hub.storage.drivers import DriverEvent, RoutePoint

Figure = dict[str, Any]

KIND_COLORS = {
    "harsh_braking": "#d62728",
    "harsh_acceleration": "#ff7f0e",
    "harsh_cornering": "#9467bd",
    "speeding": "#1f77b4",
}
KIND_LABELS = {
    "harsh_braking": "Harsh braking",
    "harsh_acceleration": "Harsh acceleration",
    "harsh_cornering": "Harsh cornering",
    "speeding": "Speeding",
}
KIND_SYMBOLS = {
    "harsh_braking": "x",
    "harsh_acceleration": "triangle-up",
    "harsh_cornering": "diamond",
    "speeding": "circle",
}
RISK_COLORS = {
    "low": "#2ca02c",
    "mild": "#9fbf2a",
    "medium": "#ff9f1c",
    "high": "#d62728",
    "none": "#b0b0b0",
}
ROUTE_COLORS = ("#8a96a3", "#6baed6", "#74c476", "#c49c94", "#b39ddb")
RISK_BANDS = (("high", 0, 60), ("medium", 60, 75), ("mild", 75, 90), ("low", 90, 100))
ROUTE_BREAK = timedelta(minutes=5)  # no line across a longer gap between route points

_FONT = {"family": "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
        "font": _FONT,
        "height": 320,
        "margin": {"l": 55, "r": 15, "t": 40, "b": 45},
        "paper_bgcolor": "white",
        "plot_bgcolor": "#fafafa",
        "legend": {"orientation": "h", "y": -0.18, "font": {"size": 11}},
    }
    layout.update(extra)
    return layout


def label(kind: str) -> str:
    """A human name for an alert kind."""
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def fleet_scores(cards: Sequence[DriverScorecard]) -> Figure:
    """Horizontal bars: each driver's score over the whole range, best on top."""
    scored = [c for c in cards if c.total.score is not None]
    names = [c.driver_name or c.driver_id for c in scored]
    bar = {
        "type": "bar",
        "orientation": "h",
        "y": names[::-1],
        "x": [c.total.score for c in scored][::-1],
        "marker": {"color": [RISK_COLORS[c.total.risk] for c in scored][::-1]},
        "text": [f"{c.total.score:.0f}" for c in scored][::-1],
        "textposition": "auto",
        "hovertemplate": "%{y}: %{x:.1f}<extra></extra>",
    }
    height = 90 + 32 * max(1, len(scored))
    layout = _layout("Safety score by driver (0-100)", height=height, showlegend=False)
    layout["xaxis"] = {"range": [0, 100], "title": {"text": "score"}}
    layout["margin"] = {"l": 140, "r": 15, "t": 40, "b": 45}
    return {"data": [bar], "layout": layout}


def events_per_day(daily: DriverScorecard, tz: ZoneInfo) -> Figure:
    """Stacked bars: alerts by kind on each local day of the range."""
    days = [p.period_start.isoformat() for p in daily.periods]
    kinds = daily.total.events.keys()
    data = [
        {
            "type": "bar",
            "name": label(k),
            "x": days,
            "y": [p.events.get(k, 0) for p in daily.periods],
            "marker": {"color": KIND_COLORS.get(k, "#7f7f7f")},
        }
        for k in kinds
    ]
    layout = _layout(f"Events by kind per day ({tz.key})", barmode="stack")
    layout["xaxis"] = {"type": "date", "tickformat": "%m-%d"}
    most = max((sum(p.events.values()) for p in daily.periods), default=0)
    layout["yaxis"] = {"title": {"text": "events"}, "rangemode": "tozero"}
    if most <= 10:  # whole events only, not 0.5 steps
        layout["yaxis"]["dtick"] = 1
    return {"data": data, "layout": layout}


def speed_profile(profile: Mapping[float, float], bin_kmh: float = 5.0) -> Figure:
    """Bars: minutes of driving in each speed bin."""
    edges = sorted(profile)
    bar = {
        "type": "bar",
        "x": [edge + bin_kmh / 2 for edge in edges],
        "y": [round(profile[e] / 60, 2) for e in edges],
        "width": [bin_kmh * 0.9] * len(edges),
        "marker": {"color": "#4c78a8"},
        "customdata": [f"{e:.0f}-{e + bin_kmh:.0f}" for e in edges],
        "hovertemplate": "%{customdata} km/h: %{y:.1f} min<extra></extra>",
    }
    layout = _layout("Speed profile while driving", showlegend=False)
    layout["xaxis"] = {"title": {"text": "speed, km/h"}, "rangemode": "tozero"}
    layout["yaxis"] = {"title": {"text": "minutes"}}
    return {"data": [bar], "layout": layout}


def _score_trace(name: str, periods: Sequence[PeriodScore], **style: Any) -> dict[str, Any]:
    return {
        "type": "scatter",
        "name": name,
        "x": [p.period_start.isoformat() for p in periods],
        "y": [p.score for p in periods],
        "customdata": [round(p.km, 1) for p in periods],
        "hovertemplate": "%{x}: %{y:.1f} (%{customdata} km)<extra>" + name + "</extra>",
        **style,
    }


def _week_segments(weekly: DriverScorecard, first: date, last: date) -> dict[str, Any]:
    """Each week's score as a level line from its Monday to its Sunday, within the range."""
    xs: list[str | None] = []
    ys: list[float | None] = []
    for p in weekly.periods:
        x0, x1 = max(p.period_start, first), min(p.period_start + timedelta(days=6), last)
        xs += [x0.isoformat(), x1.isoformat(), None]
        ys += [p.score, p.score, None]
    return {
        "type": "scatter",
        "name": "by week (Monday-Sunday)",
        "mode": "lines+markers",
        "x": xs,
        "y": ys,
        "line": {"color": "#222", "width": 3},
        "marker": {"symbol": "line-ns-open", "size": 12, "color": "#222"},
        "hovertemplate": "week: %{y:.1f}<extra></extra>",
    }


def score_trend(daily: DriverScorecard, weekly: DriverScorecard) -> Figure:
    """Daily and weekly scores over the range on Geotab's risk bands (gaps: no driving)."""
    first, last = daily.periods[0].period_start, daily.periods[-1].period_start
    data = [
        _score_trace("by day", daily.periods, mode="lines+markers", line={"color": "#4c78a8"}),
        _week_segments(weekly, first, last),
    ]
    shapes = [
        {
            "type": "rect",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": lo,
            "y1": hi,
            "fillcolor": RISK_COLORS[risk],
            "opacity": 0.10,
            "line": {"width": 0},
            "layer": "below",
        }
        for risk, lo, hi in RISK_BANDS
    ]
    layout = _layout("Score trend", shapes=shapes)
    layout["xaxis"] = {"type": "date", "tickformat": "%m-%d"}
    layout["yaxis"] = {"range": [0, 102], "title": {"text": "score"}}
    return {"data": data, "layout": layout}


def _route_xy(points: Sequence[RoutePoint]) -> tuple[list[float | None], list[float | None]]:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for prev, point in zip([None, *points], points, strict=False):
        if prev is not None and point.fix_time - prev.fix_time > ROUTE_BREAK:
            xs.append(None)
            ys.append(None)
        xs.append(point.lon_deg)
        ys.append(point.lat_deg)
    return xs, ys


def route_map(route: Sequence[RoutePoint], events: Sequence[DriverEvent], tz: ZoneInfo) -> Figure:
    """The driver's route per truck (lines) and where each kind of event happened."""
    data: list[dict[str, Any]] = []
    for n, device in enumerate(sorted({p.device_id for p in route})):
        xs, ys = _route_xy([p for p in route if p.device_id == device])
        line = {"color": ROUTE_COLORS[n % len(ROUTE_COLORS)], "width": 1.5}
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"route {device}",
                "x": xs,
                "y": ys,
                "line": line,
                "hoverinfo": "skip",
            }
        )
    kinds = [*KINDS, *sorted({e.kind for e in events} - set(KINDS))]
    for kind in kinds:
        mine = [e for e in events if e.kind == kind]
        if not mine:
            continue
        data.append(_event_markers(kind, mine, tz))
    lats = [p.lat_deg for p in route] + [e.lat_deg for e in events]
    mid = (min(lats) + max(lats)) / 2 if lats else 0.0
    layout = _layout("Where events happen (route; no map tiles)", height=420)
    layout["margin"] = {"l": 80, "r": 15, "t": 40, "b": 45}
    layout["xaxis"] = {"title": {"text": "longitude, °E"}, "tickformat": ".3f"}
    layout["yaxis"] = {
        "title": {"text": "latitude, °N", "standoff": 8},
        "tickformat": ".3f",
        "scaleanchor": "x",
        "scaleratio": lat_lon_aspect(mid),
    }
    return {"data": data, "layout": layout}


def _event_markers(kind: str, events: Sequence[DriverEvent], tz: ZoneInfo) -> dict[str, Any]:
    text = [
        f"{e.start_time.astimezone(tz):%Y-%m-%d %H:%M:%S} {e.device_id} ({e.severity})"
        for e in events
    ]
    return {
        "type": "scatter",
        "mode": "markers",
        "name": label(kind),
        "x": [e.lon_deg for e in events],
        "y": [e.lat_deg for e in events],
        "text": text,
        "hovertemplate": "%{text}<extra>" + label(kind) + "</extra>",
        "marker": {
            "color": KIND_COLORS.get(kind, "#7f7f7f"),
            "symbol": KIND_SYMBOLS.get(kind, "star"),
            "size": 11,
            "line": {"color": "white", "width": 1},
        },
    }
