"""The driving-tendency report's trips part: one driver's trips as HTML (pure, no I/O).

Shows the summary (``analytics.driving.scorecard.TripSummary``: trips, km, driving time, mean trip
length, stops and time stopped) and a table of the trips, oldest first, in the city's
local time. The trips are those the hub's rollups built (``hub.storage.trips``); a range
they have not reached yet says so.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from analytics.driving.scorecard import TripSummary
from hub.storage.trips import StoredTrip

MAX_ROWS = 300
"""Trips listed per driver; the summary counts them all."""
NO_TRIPS = "No trips built for this period"
_ENDED = {"stop": "stop", "gap": "no data", "silence": "open (no later fix yet)"}


def ended_words(trip: StoredTrip, now: datetime, max_gap_s: float) -> str:
    """What ended ``trip``, in words: "stop", "no data" (a gap), and for the open trip
    (``silence``) "in progress" while its last fix is less than ``max_gap_s`` before
    ``now``, else "no fix since"."""
    if trip.ended_by != "silence":
        return _ENDED[trip.ended_by]
    recent = (now - trip.end_time).total_seconds() < max_gap_s
    return "in progress" if recent else "no fix since"


def summary_text(s: TripSummary) -> str:
    """The summary in one line of words."""
    if not s.trips:
        text = "no trips"
    else:
        assert s.avg_trip_km is not None and s.avg_trip_s is not None
        text = (
            f"{s.trips} trip(s), {s.km:.1f} km, {s.driving_s / 3600:.1f} h driving; "
            f"on average {s.avg_trip_km:.2f} km and {s.avg_trip_s / 60:.0f} min per trip"
        )
    return f"{text}; {s.stops} stop(s), {s.stopped_s / 3600:.1f} h stopped"


def _row(t: StoredTrip, tz: ZoneInfo) -> str:
    cells = (
        t.start_time.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        t.end_time.astimezone(tz).strftime("%H:%M"),
        html.escape(t.device_id),
        f"{t.duration_s / 60:.1f}",
        f"{t.distance_m / 1000:.2f}",
        f"{t.driving_s / 60:.1f}",
        f"{t.max_speed_mps * 3.6:.0f}",
        str(t.halts),
        _ENDED[t.ended_by],
    )
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def trips_html(trips: Sequence[StoredTrip], summary: TripSummary, tz: ZoneInfo) -> str:
    """The driver's trips block: a heading, the summary and the table (or ``NO_TRIPS``)."""
    head = f"<h3>Trips</h3><p class='sub trips'>{html.escape(summary_text(summary))}</p>"
    if not trips:
        return (
            f"{head}<p class='note'>{NO_TRIPS} (the hub builds trips every maintenance "
            "interval; <code>citytrack db rollups</code> builds them now).</p>"
        )
    shown = trips[:MAX_ROWS]
    more = (
        f"<p class='note'>First {MAX_ROWS} of {len(trips)} trips shown.</p>"
        if len(trips) > MAX_ROWS
        else ""
    )
    columns = ("Start", "End", "Truck", "Minutes", "km", "Driving min", "Max km/h", "Halts",
               "Ended by")  # fmt: skip
    header = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join(_row(t, tz) for t in shown)
    return f"{head}<table class='trips'><tr>{header}</tr>{body}</table>{more}"
