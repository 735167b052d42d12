"""How the hub's alerts score against the simulators' ground-truth episodes.

The GPS simulator writes an ``EpisodeLabel`` per scripted episode (``firmware_sim.labels``);
the demo, the benchmarks and the tests match the hub's alerts against them. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from citytrack.alerts import Alert
from firmware_sim.labels import EPISODE_ALERT_KIND, EpisodeLabel

DETECTOR_ALERT_KINDS = frozenset(EPISODE_ALERT_KIND.values())


@dataclass(frozen=True)
class EpisodeScore:
    """How a run's alerts score against its ground-truth episodes.

    ``detected``: labels matched by an alert; ``missed``: labels no alert matched;
    ``false``: alerts of the detector kinds (``DETECTOR_ALERT_KINDS``) that match no label.
    """

    detected: int
    missed: int
    false: int
    matched: tuple[tuple[EpisodeLabel, Alert], ...] = ()
    missed_labels: tuple[EpisodeLabel, ...] = ()
    false_alerts: tuple[Alert, ...] = ()

    def as_dict(self) -> dict[str, int]:
        """The three counts, keyed ``detected``, ``missed`` and ``false``."""
        return {"detected": self.detected, "missed": self.missed, "false": self.false}


def _candidates(label: EpisodeLabel, alerts: Sequence[Alert], slack: timedelta) -> list[int]:
    """Indexes of the alerts that may match ``label``: same device and kind, and whose
    [start_time, end_time] overlaps the label's [start - slack, end + slack]."""
    return [
        i
        for i, a in enumerate(alerts)
        if a.device_id == label.device_id
        and a.kind == label.alert_kind
        and a.start_time <= label.end + slack
        and a.end_time >= label.start - slack
    ]


def _augment(li: int, edges: list[list[int]], owner: dict[int, int], seen: set[int]) -> bool:
    """Kuhn's augmenting path: try to give label ``li`` an alert, re-seating earlier ones."""
    for ai in edges[li]:
        if ai in seen:
            continue
        seen.add(ai)
        if ai not in owner or _augment(owner[ai], edges, owner, seen):
            owner[ai] = li
            return True
    return False


def match_episodes(
    labels: Sequence[EpisodeLabel], alerts: Sequence[Alert], *, slack_s: float = 5.0
) -> EpisodeScore:
    """Match alerts to ground-truth labels one to one and count the outcome.

    A label and an alert may match when they share device and alert kind and the alert's
    time span overlaps the label's widened by ``slack_s`` seconds on each side. Among the
    possible pairs, as many as possible are matched (maximum bipartite matching, labels
    taken in start order, candidate alerts in start order). Alerts of other kinds than
    the detectors' are ignored.
    """
    slack = timedelta(seconds=slack_s)
    order = sorted(range(len(labels)), key=lambda i: (labels[i].start, labels[i].end))
    ranked = sorted(alerts, key=lambda a: (a.start_time, a.end_time))
    edges = [_candidates(labels[i], ranked, slack) for i in order]
    owner: dict[int, int] = {}  # alert index in ranked -> label position in order
    for li in range(len(order)):
        _augment(li, edges, owner, set())
    by_label = {li: ai for ai, li in owner.items()}
    matched = tuple((labels[order[li]], ranked[by_label[li]]) for li in sorted(by_label))
    missed = tuple(labels[order[li]] for li in range(len(order)) if li not in by_label)
    false = tuple(
        a for ai, a in enumerate(ranked) if ai not in owner and a.kind in DETECTOR_ALERT_KINDS
    )
    return EpisodeScore(len(matched), len(missed), len(false), matched, missed, false)
