"""Times in query parameters, read as the commands read them (``citytrack.times``): a plain
date is local midnight in the city's zone, a timestamp without an offset is city time, one
with an offset is kept. Anything else is a 422 naming the parameter."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import HTTPException

from citytrack.errors import InvalidInputError
from citytrack.times import parse_when

TIME_HELP = "2026-12-07 (local midnight), 2026-12-07T08:00 (city time) or with an offset"


def query_time(text: str | None, tz: ZoneInfo, name: str) -> datetime | None:
    """The aware time ``text`` means in ``tz`` (None stays None).

    Raises:
        HTTPException: 422, ``text`` is not a date or time.
    """
    if text is None:
        return None
    try:
        return parse_when(text, tz, name=name)
    except InvalidInputError as exc:
        raise HTTPException(422, detail=str(exc)) from exc


def required_time(text: str, tz: ZoneInfo, name: str) -> datetime:
    """As :func:`query_time`, for a parameter that must be given."""
    when = query_time(text, tz, name)
    assert when is not None  # text is a str
    return when
