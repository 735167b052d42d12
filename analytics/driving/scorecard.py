"""The driver safety score: a pure formula over what one driver did in one period.

Pure: no I/O, no clock. ``hub.storage.drivers`` measures the inputs (distance, driving time,
events, time speeding) in SQL; this module turns them into rates and a 0-100 score, and
rolls days up into weeks. ``summarize_trips`` sums a driver's stored trips and stops
(count, km, driving time, mean trip length) for the report and the API.

Formula::

    score = clamp(100 - sum_k(w_k * r_k) - w_s * p_s, 0, 100)

    r_k   events of kind k per 100 km driven
    p_s   percent of driving time spent speeding: 100 * speeding_s / driving_s (at most 100)
    w_k   points per event per 100 km:
              harsh_braking 16, harsh_acceleration 16, harsh_cornering 16,
              speeding 0 (speeding counts by time, below, not by episode)
    w_s   2 points per percent of driving time speeding

A period with no distance driven has no score (``None``), not a perfect one: there is
nothing to judge. Nor has a period with less than ``ScoreWeights.min_km`` driven or
``min_driving_s`` of driving time: "not enough driving yet" (status
``not_enough_driving``). On a tiny sample one event dominates: after 0.8 km a single harsh
brake is 125 events per 100 km, a 2,000-point penalty, and the driver would rank 0/100
"high risk". The formula itself has no minimum (0); the hub's report and API take theirs
from the configuration (``[scores]``, ``citytrack.config.ScoresConfig``). A score is
computed from the period's totals (a week's score is not the mean of its days' scores),
so one short day cannot swing a week.

Where the numbers come from:

* Samsara, "How is the Safety Score calculated?" (kb.samsara.com, article
  115001947714): start from 100, subtract 1 point for every harsh event per 1,000 miles
  driven, then subtract the percentage of driving time over the speed limit; 0 to 100;
  no distance, no score. One event per 1,000 miles is 16.09 points per event per 100 km:
  rounded, ``w_k = 16``.
* Geotab, Driver Safety Scorecard (support.geotab.com, "Driver Safety Scorecard User
  Guide"), default rule weights: hard acceleration 10 %, harsh braking 10 %, harsh
  cornering 10 %, speeding 20 %, excessive speeding 30 %, seat belt 20 %. The three harsh
  kinds weigh the same, and speeding twice one of them: ``w_s = 2`` points per percent,
  twice Samsara's 1. (No seat belt sensor here; our speeding alert has no separate
  "excessive" class: its severity is in the alert, not in the score.)
* Geotab's default risk classes, used for colours: 90-100 low, 75-90 mild, 60-75 medium,
  0-60 high risk.

Worked examples: 10 km with 2 harsh brakes is 20 brakes per 100 km, 320 points lost:
score 0. 400 km with 2 harsh brakes and 3 % of driving time speeding: 0.5 per 100 km is
8 points, 3 % is 6 points: score 86 (mild risk).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from citytrack.wire import EventKind

KINDS = tuple(EventKind)
"""Alert kinds in display order; a kind not listed still counts, with weight 0."""

Period = Literal["day", "week"]
Risk = Literal["low", "mild", "medium", "high", "none"]
Status = Literal["scored", "no_driving", "not_enough_driving"]

KM_PER_1000_MI = 1609.344
SAMSARA_POINTS_PER_100KM = KM_PER_1000_MI / 100  # 1 point per event per 1,000 miles


@dataclass(frozen=True)
class ScoreWeights:
    """Penalty weights (see the module docstring).

    ``per_100km``: points per event per 100 km, by alert kind (kinds not listed: 0).
    ``speeding_pct``: points per percent of driving time speeding.
    ``min_km``, ``min_driving_s``: less distance (km) or driving time (s) than this in a
    period and it gets no score: not enough driving yet (0: any distance scores).

    Raises:
        ValueError: a negative weight or minimum (a penalty must never raise a score).
    """

    per_100km: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {
                EventKind.HARSH_BRAKING: 16.0,
                EventKind.HARSH_ACCELERATION: 16.0,
                EventKind.HARSH_CORNERING: 16.0,
                EventKind.SPEEDING: 0.0,
            }
        )
    )
    speeding_pct: float = 2.0
    min_km: float = 0.0
    min_driving_s: float = 0.0

    def __post_init__(self) -> None:
        if self.speeding_pct < 0 or any(w < 0 for w in self.per_100km.values()):
            raise ValueError("score weights must be >= 0")
        if self.min_km < 0 or self.min_driving_s < 0:
            raise ValueError("score minimums must be >= 0")
        object.__setattr__(self, "per_100km", MappingProxyType(dict(self.per_100km)))


DEFAULT_WEIGHTS = ScoreWeights()


@dataclass(frozen=True)
class Exposure:
    """What one driver did in one period.

    ``km`` driven, ``driving_s`` seconds moving, ``events`` alert count by kind, and
    ``speeding_s`` seconds inside speeding alerts. Two exposures add up (``a + b``).

    Raises:
        ValueError: a negative quantity.
    """

    km: float = 0.0
    driving_s: float = 0.0
    events: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    speeding_s: float = 0.0

    def __post_init__(self) -> None:
        if min(self.km, self.driving_s, self.speeding_s, *self.events.values(), 0) < 0:
            raise ValueError(f"negative exposure: {self!r}")
        object.__setattr__(self, "events", MappingProxyType(dict(self.events)))

    def __add__(self, other: Exposure) -> Exposure:
        kinds = set(self.events) | set(other.events)
        return Exposure(
            km=self.km + other.km,
            driving_s=self.driving_s + other.driving_s,
            events={k: self.events.get(k, 0) + other.events.get(k, 0) for k in kinds},
            speeding_s=self.speeding_s + other.speeding_s,
        )

    def kinds(self) -> list[str]:
        """``KINDS`` then any other kind seen, alphabetically."""
        return [*KINDS, *sorted(set(self.events) - set(KINDS))]

    def per_100km(self) -> dict[str, float] | None:
        """Events per 100 km by kind (every kind of ``kinds()``); None without distance."""
        if self.km <= 0:
            return None
        return {k: self.events.get(k, 0) * 100.0 / self.km for k in self.kinds()}

    def speeding_share(self) -> float:
        """Fraction of driving time spent speeding, 0..1 (0 without driving time)."""
        if self.driving_s <= 0:
            return 0.0
        return min(1.0, self.speeding_s / self.driving_s)


@dataclass(frozen=True)
class Score:
    """A score (0-100; None: no distance, or not enough driving), the points lost by cause,
    the risk class and whether it was scored (``status``)."""

    value: float | None
    penalties: Mapping[str, float]
    risk: Risk
    status: Status = "scored"


def risk_class(value: float | None) -> Risk:
    """Geotab's default risk classes: 90-100 low, 75-90 mild, 60-75 medium, <60 high."""
    if value is None:
        return "none"
    if value >= 90:
        return "low"
    if value >= 75:
        return "mild"
    return "medium" if value >= 60 else "high"


def score(exposure: Exposure, weights: ScoreWeights = DEFAULT_WEIGHTS) -> Score:
    """The safety score of ``exposure`` (formula in the module docstring).

    ``penalties`` maps each kind to the points it cost (``speeding_time`` for the time
    share); they are reported even when the score is clamped at 0. Less driving than
    ``weights.min_km`` or ``weights.min_driving_s``: no score, no penalties
    (``not_enough_driving``).
    """
    rates = exposure.per_100km()
    if rates is None:
        return Score(None, MappingProxyType({}), "none", "no_driving")
    if exposure.km < weights.min_km or exposure.driving_s < weights.min_driving_s:
        return Score(None, MappingProxyType({}), "none", "not_enough_driving")
    weight = {k: weights.per_100km.get(k, 0.0) for k in rates}
    penalties = {k: weight[k] * r if weight[k] > 0 else 0.0 for k, r in rates.items()}
    penalties["speeding_time"] = weights.speeding_pct * 100.0 * exposure.speeding_share()
    value = round(min(100.0, max(0.0, 100.0 - sum(penalties.values()))), 1)
    return Score(value=value, penalties=MappingProxyType(penalties), risk=risk_class(value))


def period_start(day: date, period: Period) -> date:
    """The first day of the period holding ``day``: itself, or the ISO week's Monday."""
    return day if period == "day" else day - timedelta(days=day.weekday())


def roll_up(days: Iterable[tuple[date, Exposure]], period: Period) -> dict[date, Exposure]:
    """Sum daily exposures into periods; keys are period starts, in order."""
    totals: dict[date, Exposure] = {}
    for day, exposure in days:
        key = period_start(day, period)
        totals[key] = totals.get(key, Exposure()) + exposure
    return dict(sorted(totals.items()))


def period_starts(start: datetime, end: datetime, tz: ZoneInfo, period: Period) -> list[date]:
    """Every period start whose period meets ``[start, end)``, local days in ``tz``.

    Raises:
        ValueError: naive times, or ``end <= start``.
    """
    if start.utcoffset() is None or end.utcoffset() is None or end <= start:
        raise ValueError(f"need aware times with start < end, got {start!r}, {end!r}")
    first = period_start(start.astimezone(tz).date(), period)
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    step = timedelta(days=1 if period == "day" else 7)
    return [first + i * step for i in range((last - first) // step + 1)]


class PeriodScore(BaseModel):
    """One driver's numbers and score for one period (or the whole range)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    period_start: date = Field(description="first local day of the period")
    km: float = Field(description="distance driven, km")
    driving_s: float = Field(description="time moving faster than the standstill limit, s")
    events: dict[str, int] = Field(description="alerts by kind")
    events_per_100km: dict[str, float] | None = Field(
        description="alerts by kind per 100 km driven; None: no distance"
    )
    speeding_s: float = Field(description="time inside speeding alerts, s")
    speeding_share: float = Field(description="speeding_s / driving_s, 0..1")
    score: float | None = Field(description="safety score 0-100; None: see status")
    status: Status = Field(
        description="scored; no_driving: no distance; not_enough_driving: less than the "
        "configured minimum distance or driving time, too little to judge yet"
    )
    penalties: dict[str, float] = Field(description="points lost by cause")
    risk: Risk = Field(description="risk class of the score (Geotab's bands); none: no score")


def period_score(
    first_day: date, exposure: Exposure, weights: ScoreWeights = DEFAULT_WEIGHTS
) -> PeriodScore:
    """The ``PeriodScore`` of ``exposure`` for the period starting ``first_day``."""
    result = score(exposure, weights)
    rates = exposure.per_100km()
    return PeriodScore(
        period_start=first_day,
        km=round(exposure.km, 3),
        driving_s=round(exposure.driving_s, 1),
        events={k: exposure.events.get(k, 0) for k in exposure.kinds()},
        events_per_100km=None if rates is None else {k: round(v, 3) for k, v in rates.items()},
        speeding_s=round(exposure.speeding_s, 1),
        speeding_share=round(exposure.speeding_share(), 4),
        score=result.value,
        status=result.status,
        penalties={k: round(v, 2) for k, v in result.penalties.items()},
        risk=result.risk,
    )


class DriverScorecard(BaseModel):
    """A driver's scorecard over ``[start, end)``: the totals and one entry per period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    driver_id: str = Field(description="driver identifier")
    driver_name: str | None = Field(description="registered name; None: not registered")
    start: AwareDatetime = Field(description="range start (inclusive), UTC")
    end: AwareDatetime = Field(description="range end (exclusive), UTC")
    timezone: str = Field(description="IANA zone of the local days and weeks")
    period: Period = Field(description="day, or ISO week (starting Monday)")
    total: PeriodScore = Field(description="the whole range")
    periods: list[PeriodScore] = Field(description="every period meeting the range, in order")


def build_scorecard(
    driver_id: str,
    driver_name: str | None,
    days: Iterable[tuple[date, Exposure]],
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    period: Period,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> DriverScorecard:
    """Roll the driver's daily exposures up into a scorecard (periods without data: 0 km).

    Raises:
        ValueError: naive times, or ``end <= start``.
    """
    starts = period_starts(start, end, tz, period)
    days = list(days)
    by_period = roll_up(days, period)
    total = sum((e for _, e in days), Exposure())
    return DriverScorecard(
        driver_id=driver_id,
        driver_name=driver_name,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        timezone=tz.key,
        period=period,
        total=period_score(start.astimezone(tz).date(), total, weights),
        periods=[period_score(p, by_period.get(p, Exposure()), weights) for p in starts],
    )


# --- trips ----------------------------------------------------------------------------------


class TripMeasure(Protocol):
    """What a trip summary needs of a trip (``hub.storage.trips.StoredTrip`` has it)."""

    @property
    def distance_m(self) -> float: ...
    @property
    def driving_s(self) -> float: ...
    @property
    def duration_s(self) -> float: ...


class StopMeasure(Protocol):
    """What a trip summary needs of a stop (``hub.storage.trips.StoredStop`` has it)."""

    @property
    def duration_s(self) -> float: ...


class TripSummary(BaseModel):
    """A driver's trips and stops over a range, summed (``summarize_trips``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trips: int = Field(description="trips starting in the range")
    km: float = Field(description="their distance, km")
    driving_s: float = Field(description="their time moving (halts excluded), s")
    trip_s: float = Field(description="their duration, start to end (halts included), s")
    avg_trip_km: float | None = Field(description="mean distance per trip, km; None: no trips")
    avg_trip_s: float | None = Field(description="mean duration per trip, s; None: no trips")
    stops: int = Field(description="stops starting in the range")
    stopped_s: float = Field(description="their duration, arrival to departure, s")


def summarize_trips(trips: Iterable[TripMeasure], stops: Iterable[StopMeasure]) -> TripSummary:
    """Count and sum trips and stops (distances to km; rounded to 3 decimals, times to 0.1 s)."""
    trips, stops = list(trips), list(stops)
    km = sum(t.distance_m for t in trips) / 1000.0
    trip_s = sum(t.duration_s for t in trips)
    n = len(trips)
    return TripSummary(
        trips=n,
        km=round(km, 3),
        driving_s=round(sum(t.driving_s for t in trips), 1),
        trip_s=round(trip_s, 1),
        avg_trip_km=round(km / n, 3) if n else None,
        avg_trip_s=round(trip_s / n, 1) if n else None,
        stops=len(stops),
        stopped_s=round(sum(s.duration_s for s in stops), 1),
    )
