"""When a plan's saving or a day's comparison stands on too little data to be believed.

``routes plan`` and ``routes compare`` always answer; these checks say, next to the
answer, when it is a model's guess rather than a measurement. Each finding has a stable
``code`` (for the JSON) and a sentence for people; the CLI prints each one on standard
error as ``citytrack: warning: ...``, and ``plan.json``, ``plan.html`` and ``routes
compare --json`` carry them (``thin_inputs``, and ``inputs_too_thin`` true).

The thresholds are named constants, each with its reason, not configuration: they say
when a number means nothing, which does not change from one city to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analytics.routing.city import DayProblem
from analytics.routing.compare import DayComparison

DEFAULT_SOURCE = "default"
"""``DayProblem.sources`` for a point with no learned service time (``ServiceEstimate``)."""

MIN_LEARNED_SERVICE_SHARE = 0.5
"""Below this share of today's points with a learned service time, the plan is thin.

Service time is a large part of a collection day (a minute or more at each of dozens of
points); where it is the configured ``routes.default_service_s`` for most points, the
plan and today's courses are both timed by a made-up number, and the time saving (and
which plan the solver prefers) rests on it. Half is where the learned times stop
deciding it."""

MIN_DRIVEN_SHARE = 0.5
"""Below this share of the plan's working time actually driven, the comparison is thin.

A plan is the shortest day the model finds: today's courses take longer, not half as
long. Stored fixes covering less than half the planned time are a day not driven in full
(or not stored yet), and their "saving" is the part of the day that is missing."""


@dataclass(frozen=True)
class ThinInput:
    """One reason not to trust a number: ``code`` (stable) and ``message`` (for people)."""

    code: str
    message: str


def plan_thin_inputs(day: DayProblem) -> list[ThinInput]:
    """What is too thin under ``day``'s plan: service times mostly defaulted."""
    total = len(day.sources)
    defaulted = sum(1 for source in day.sources.values() if source == DEFAULT_SOURCE)
    if total == 0 or (total - defaulted) / total >= MIN_LEARNED_SERVICE_SHARE:
        return []
    message = (
        f"{defaulted} of {total} service times are the default (routes.default_service_s) "
        f"(learned for fewer than {MIN_LEARNED_SERVICE_SHARE:.0%} of the points): the times "
        "and the saving are the model's guess, not measured; run `citytrack routes learn` "
        "over days of stored fixes first"
    )
    return [ThinInput("service_times_defaulted", message)]


def comparison_thin_inputs(comparison: DayComparison) -> list[ThinInput]:
    """What is too thin under ``comparison``: far less driving stored than planned."""
    c = comparison
    if c.planned_duration_s <= 0 or c.actual_working_s >= MIN_DRIVEN_SHARE * c.planned_duration_s:
        return []
    message = (
        f"the stored fixes of {c.day} cover {c.actual_working_s / 3600:.2f} h of work by "
        f"{c.actual_trucks} truck(s) against {c.planned_duration_s / 3600:.2f} h planned "
        f"(under {MIN_DRIVEN_SHARE:.0%}): the day was not driven in full or not stored, and "
        "the saving is the missing part of the day"
    )
    return [ThinInput("little_driving", message)]


def thin_json(found: list[ThinInput]) -> dict[str, Any]:
    """The flag and the reasons, for a JSON document."""
    return {
        "inputs_too_thin": bool(found),
        "thin_inputs": [{"code": t.code, "message": t.message} for t in found],
    }
