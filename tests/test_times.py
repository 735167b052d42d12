"""One reading of dates and times for every command and API query (citytrack.times)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from citytrack.errors import InvalidInputError
from citytrack.times import parse_day, parse_when, zone

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-07", datetime(2026, 12, 6, 15, 0, tzinfo=UTC)),  # local midnight
        ("2026-12-07T08:00", datetime(2026, 12, 6, 23, 0, tzinfo=UTC)),  # city time
        ("2026-12-07T08:00:30", datetime(2026, 12, 6, 23, 0, 30, tzinfo=UTC)),
        ("2026-12-07 08:00", datetime(2026, 12, 6, 23, 0, tzinfo=UTC)),
        ("2026-12-07T08:00+00:00", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),  # as given
        ("2026-12-07T08:00Z", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
        (" 2026-12-07T08:00-05:00 ", datetime(2026, 12, 7, 13, 0, tzinfo=UTC)),
    ],
)
def test_dates_and_times_are_read_in_the_city_zone(text: str, expected: datetime) -> None:
    when = parse_when(text, TOKYO)
    assert when.utcoffset() is not None and when == expected


def test_an_offset_given_is_kept() -> None:
    when = parse_when("2026-12-07T08:00-05:00", TOKYO)
    assert when.utcoffset() == timedelta(hours=-5)
    assert when.tzinfo == timezone(timedelta(hours=-5))


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-12-07T25:00", "07/12/2026", ""])
def test_anything_else_names_the_option_and_the_forms(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"--since: .* is not a date or time; give 2026-"):
        parse_when(text, TOKYO, name="--since")


def test_plain_days() -> None:
    assert parse_day("2026-11-26") == date(2026, 11, 26)
    for bad in ("2026-11-26T08:00", "26.11.2026", "2026-02-30"):
        with pytest.raises(InvalidInputError, match=r"--date: .* is not a date; give it as"):
            parse_day(bad, name="--date")


def test_an_unknown_zone_is_refused() -> None:
    assert zone("Asia/Tokyo") == TOKYO
    with pytest.raises(InvalidInputError, match="unknown time zone 'Asia/Tokio'"):
        zone("Asia/Tokio")
