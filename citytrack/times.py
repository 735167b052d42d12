"""Dates and times as people type them: one reading for every command and API query.

    2026-12-07                  a plain date: local midnight that day in the city's zone
    2026-12-07T08:00            a naive timestamp (seconds optional): read in the city's zone
    2026-12-07T08:00+09:00      an aware timestamp (also ``...Z``): as given

The city's zone is ``city.timezone`` (validated when the configuration loads). Stdlib
only: the units import it too.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from citytrack.errors import InvalidInputError

_PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Asia/Tokyo``).

    Raises:
        InvalidInputError: no such time zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(
            f"unknown time zone {name!r}: give an IANA name such as 'Asia/Tokyo'"
        ) from exc


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of local ``day`` in ``tz`` (aware)."""
    return datetime.combine(day, time(), tzinfo=tz)


def parse_when(text: str, tz: ZoneInfo, *, name: str = "time") -> datetime:
    """``text`` as an aware datetime: a plain date is local midnight in ``tz``, a naive
    timestamp is read in ``tz``, an aware one is kept as given.

    Raises:
        InvalidInputError: ``text`` is neither; the message names ``name`` and the forms.
    """
    text = text.strip()
    try:
        if _PLAIN_DATE.match(text):
            return local_midnight(date.fromisoformat(text), tz)
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(
            f"{name}: {text!r} is not a date or time; give 2026-12-07, 2026-12-07T08:00 "
            f"({tz.key}) or 2026-12-07T08:00+09:00"
        ) from exc
    return when if when.utcoffset() is not None else when.replace(tzinfo=tz)


def parse_day(text: str, *, name: str = "date") -> date:
    """``text`` as a plain date (``2026-12-07``).

    Raises:
        InvalidInputError: ``text`` is not one; the message names ``name``.
    """
    try:
        if _PLAIN_DATE.match(text.strip()):
            return date.fromisoformat(text.strip())
    except ValueError:
        pass
    raise InvalidInputError(f"{name}: {text!r} is not a date; give it as 2026-12-07")
