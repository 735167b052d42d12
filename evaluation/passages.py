"""Score detected passages against the beacon simulator's ground truth. Pure.

A true passage (child, station, closest approach time) is detected when a passage of the
same child at the same station has its closest_time within ``tolerance_s``; each detected
passage matches at most one true one. ``false`` counts detected passages that match none.

Detected passages of one child at one station less than ``merge_s`` apart are one passage,
as the hub counts them: a tag whose Eddystone-EID rotates in the middle of a visit looks
like two tags to the station, and only the hub can tell they are the same child.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PassageKey:
    child_id: str
    station_id: str
    time: datetime


@dataclass(frozen=True)
class PassageScore:
    truth: int
    detected: int
    matched: int
    false: int

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def false_rate(self) -> float:
        """False passages as a share of all detected passages."""
        return self.false / self.detected if self.detected else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "truth": self.truth,
            "detected": self.detected,
            "matched": self.matched,
            "false": self.false,
            "recall": round(self.recall, 4),
            "false_passage_rate": round(self.false_rate, 4),
        }


MERGE_S = 30.0


def merge_close(times: list[datetime], merge_s: float = MERGE_S) -> list[datetime]:
    """Keep the first of each run of times less than ``merge_s`` apart (sorted input)."""
    kept: list[datetime] = []
    for t in times:
        if not kept or (t - kept[-1]).total_seconds() >= merge_s:
            kept.append(t)
    return kept


def score_passages(
    truth: Iterable[PassageKey],
    detected: Iterable[PassageKey],
    *,
    tolerance_s: float = 60.0,
    merge_s: float = MERGE_S,
) -> PassageScore:
    """Greedy one-to-one matching in time order per (child, station)."""
    want: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    got: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for true_passage in truth:
        want[(true_passage.child_id, true_passage.station_id)].append(true_passage.time)
    for found in detected:
        got[(found.child_id, found.station_id)].append(found.time)
    got = defaultdict(list, {k: merge_close(sorted(v), merge_s) for k, v in got.items()})
    matched = 0
    for key, times in want.items():
        free = sorted(got.get(key, []))
        for t in sorted(times):
            best = min(free, key=lambda d: abs((d - t).total_seconds()), default=None)
            if best is not None and abs((best - t).total_seconds()) <= tolerance_s:
                free.remove(best)
                matched += 1
    n_truth = sum(len(v) for v in want.values())
    n_detected = sum(len(v) for v in got.values())
    return PassageScore(n_truth, n_detected, matched, n_detected - matched)
