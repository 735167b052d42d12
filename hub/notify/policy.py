"""Which events become notices, and when (pure: no clock, no I/O).

``decide(state, event, guardian, now, rules) -> (state, Decision)`` is called once per
(event, guardian); ``state`` is that guardian's notice history (``GuardianState``). The
rules, in order:

1. **One notice per event per guardian.** An ``event_id`` already decided for this
   guardian is dropped (``duplicate_event``). (The ``notifications`` table's unique key
   enforces the same across restarts.)
2. **Stale.** An event more than ``max(3600 s, dedup_window_s)`` older than the newest
   event already decided for that child is dropped (``stale``): its notice would
   arrive after newer news, and the history needed to dedup it has been forgotten.
3. **No storms from neighbouring stations.** Events of the same child and kind whose
   times lie within ``dedup_window_s`` of a notice already kept are the same happening
   and dropped (``dedup_window``). This applies across stations: two stations a few
   metres apart that both see Hana pass at 07:42:03 and 07:42:09 give one notice, from
   whichever event came first. Two ``passed`` events are different passages only when
   their times differ by more than the window, at the same station or another (Hana
   passes the ward office on the way to school and again on the way home: two notices).
   Times are the events' own (when it happened), not when they were processed, so a
   replayed backlog decides as the live stream did.
4. **Once a day.** ``arrived_school`` and ``not_arrived`` are sent once per child per
   local day (``once_per_day``), whatever the window.
5. **Rate limit.** At most ``max_per_child_per_hour`` kept notices per guardian per child
   in any hour of event time (kept notices less than an hour before *or after* the
   event count, so a late event cannot overfill an hour); the excess is dropped
   (``rate_limited``). ``not_arrived`` is urgent: never rate limited and not counted.
6. **Quiet hours** (``quiet_start``..``quiet_end`` local, may wrap midnight; equal
   times mean none). A non-urgent notice decided while ``now`` is in quiet hours is
   deferred to the next ``quiet_end`` (``quiet_hours``); urgent ones go at once.

Emergency broadcasts do not pass through here: they always go at once.

State is immutable; ``decide`` returns a new one. It remembers, per child, what was
decided in the last ``2 * max(3600 s, dedup_window_s)`` of event time and the local
days on which once-a-day kinds were sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from analytics.watch.events import URGENT_KINDS, WatchEvent, WatchEventKind
from citytrack.config.watch import Guardian, NotifyConfig

HOUR_S = 3600.0
ONCE_PER_DAY_KINDS = frozenset({WatchEventKind.ARRIVED_SCHOOL, WatchEventKind.NOT_ARRIVED})


class Action(StrEnum):
    SEND = "send"  # deliver now
    DEFER = "defer"  # deliver at ``due_at`` (end of quiet hours)
    DROP = "drop"  # never deliver; ``reason`` says why


@dataclass(frozen=True)
class Decision:
    """What to do with one (event, guardian) notice.

    Attributes:
        action: send, defer or drop.
        due_at: when delivery may start, UTC (``now`` unless deferred).
        reason: ``""`` for a plain send; else ``duplicate_event``, ``dedup_window``,
            ``once_per_day``, ``rate_limited`` or ``quiet_hours``.
    """

    action: Action
    due_at: datetime
    reason: str = ""


@dataclass(frozen=True)
class PolicyRules:
    """The policy's settings (from ``NotifyConfig``) and the city's time zone."""

    dedup_window_s: float
    max_per_child_per_hour: int
    quiet_start: time
    quiet_end: time
    tz: tzinfo

    @classmethod
    def from_config(cls, cfg: NotifyConfig, tz: tzinfo) -> PolicyRules:
        return cls(
            cfg.dedup_window_s, cfg.max_per_child_per_hour, cfg.quiet_start, cfg.quiet_end, tz
        )

    @property
    def memory_s(self) -> float:
        """How far back (event time, s) a child's history must reach."""
        return max(HOUR_S, self.dedup_window_s)


@dataclass(frozen=True)
class ChildTrail:
    """One guardian's recent decisions about one child."""

    decided: tuple[tuple[str, datetime], ...] = ()  # (event_id, time), dropped ones too
    kept: tuple[tuple[WatchEventKind, datetime], ...] = ()  # sent or deferred
    days: frozenset[tuple[WatchEventKind, date]] = frozenset()  # once-a-day kinds sent
    newest: datetime | None = None  # latest event time seen, UTC

    def pruned(self, now_event: datetime, rules: PolicyRules) -> ChildTrail:
        """Forget what lies more than ``2 * rules.memory_s`` before the newest event time.

        Events down to ``memory_s`` before the newest are still decided (older ones are
        stale), and each needs the history of ``memory_s`` before itself.
        """
        newest = now_event if self.newest is None else max(self.newest, now_event)
        horizon = newest - timedelta(seconds=2 * rules.memory_s)
        oldest_day = newest.astimezone(rules.tz).date() - timedelta(days=1)
        return ChildTrail(
            decided=tuple(d for d in self.decided if d[1] >= horizon),
            kept=tuple(k for k in self.kept if k[1] >= horizon),
            days=frozenset(d for d in self.days if d[1] >= oldest_day),
            newest=newest,
        )


@dataclass(frozen=True)
class GuardianState:
    """One guardian's notice history, per child id. Never mutated: ``decide`` copies."""

    guardian_id: str
    children: dict[str, ChildTrail] = field(default_factory=dict)


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether local wall-clock ``local`` lies in ``[start, end)``, wrapping midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_end_after(now: datetime, rules: PolicyRules) -> datetime:
    """The first local ``quiet_end`` strictly after aware ``now``, in UTC."""
    local = now.astimezone(rules.tz)
    end = datetime.combine(local.date(), rules.quiet_end, tzinfo=rules.tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), rules.quiet_end, rules.tz)
    return end.astimezone(UTC)


def _drop_reason(trail: ChildTrail, event: WatchEvent, rules: PolicyRules) -> str:
    """Why ``event`` is not worth a notice given ``trail`` (``""``: it is)."""
    if any(eid == event.event_id for eid, _ in trail.decided):
        return "duplicate_event"
    if trail.newest is not None and event.time < trail.newest - timedelta(seconds=rules.memory_s):
        return "stale"
    if event.kind in ONCE_PER_DAY_KINDS:
        if (event.kind, event.time.astimezone(rules.tz).date()) in trail.days:
            return "once_per_day"
    else:
        window = timedelta(seconds=rules.dedup_window_s)
        if any(k == event.kind and abs(t - event.time) <= window for k, t in trail.kept):
            return "dedup_window"
    if event.kind not in URGENT_KINDS:
        # Within an hour either side: an out-of-order event must not overfill any hour.
        hour = timedelta(seconds=HOUR_S)
        recent = [t for k, t in trail.kept if k not in URGENT_KINDS and abs(t - event.time) < hour]
        if len(recent) >= rules.max_per_child_per_hour:
            return "rate_limited"
    return ""


def _remember(trail: ChildTrail, event: WatchEvent, kept: bool, rules: PolicyRules) -> ChildTrail:
    decided = (*trail.decided, (event.event_id, event.time))
    if not kept:
        return replace(trail, decided=decided)
    days = trail.days
    if event.kind in ONCE_PER_DAY_KINDS:
        days = days | {(event.kind, event.time.astimezone(rules.tz).date())}
    return replace(trail, decided=decided, kept=(*trail.kept, (event.kind, event.time)), days=days)


def decide(
    state: GuardianState,
    event: WatchEvent,
    guardian: Guardian,
    now: datetime,
    rules: PolicyRules,
) -> tuple[GuardianState, Decision]:
    """Decide one notice about ``event`` for ``guardian`` (see the module docstring).

    Args:
        state: the guardian's history (``GuardianState(guardian.id)`` to start).
        event: an event about one of the guardian's children (the caller resolves who
            is whose; this function does not check it).
        guardian: the recipient.
        now: processing time, aware; only quiet hours depend on it.
        rules: the settings.

    Returns:
        The new state and the decision.

    Raises:
        ValueError: ``state`` belongs to another guardian, or ``now`` is naive.
    """
    if state.guardian_id != guardian.id:
        raise ValueError(f"state of guardian {state.guardian_id} used for {guardian.id}")
    if now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    now = now.astimezone(UTC)
    trail = state.children.get(event.child_id, ChildTrail()).pruned(event.time, rules)
    reason = _drop_reason(trail, event, rules)
    if reason == "duplicate_event":
        return state, Decision(Action.DROP, now, reason)
    trail = _remember(trail, event, kept=not reason, rules=rules)
    state = replace(state, children={**state.children, event.child_id: trail})
    if reason:
        return state, Decision(Action.DROP, now, reason)
    local = now.astimezone(rules.tz).time()
    quiet = in_quiet_hours(local, rules.quiet_start, rules.quiet_end)
    if quiet and event.kind not in URGENT_KINDS:
        return state, Decision(Action.DEFER, quiet_end_after(now, rules), "quiet_hours")
    return state, Decision(Action.SEND, now)
