"""Ranking evaluated configs: the Pareto front over (accuracy, compression) and one scalar score.

The front is what the search reports: every config no other config beats on both axes.
Breeding needs a total order as well, so each config also gets

    score = w * accuracy + (1 - w) * log2(compression)      if accuracy >= floor
    score = accuracy - floor - 100                          otherwise

log2 makes compression gains relative (2x -> 3x is worth what 4x -> 6x is); the floor
keeps an unreadable config from winning on compression alone, and every config under the
floor ranks below every config above it, closer to the floor first.

When the evaluator reports a (Wilson) interval on the accuracy (:mod:`.fitness`; the task-level
evaluators do), a few points of accuracy may be sampling noise, so feasible configs are ranked by
the *tie rule* instead: configs whose intervals overlap are ties on accuracy, and among ties the
more compressed wins. As overlap is not transitive, the order is built in tiers: the most
accurate remaining config and every remaining config whose interval overlaps its interval form
the next tier, sorted by compression (then accuracy); repeat on the rest.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from glyph.measure.pareto import pareto_front
from glyph.search.fitness import Interval


@dataclass(frozen=True)
class Scoring:
    accuracy_floor: float = 0.9
    accuracy_weight: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 <= self.accuracy_weight <= 1.0:
            raise ValueError(f"accuracy weight must be in [0, 1], got {self.accuracy_weight}")
        if not 0.0 <= self.accuracy_floor <= 1.0:
            raise ValueError(f"accuracy floor must be in [0, 1], got {self.accuracy_floor}")

    def feasible(self, accuracy: float) -> bool:
        return accuracy >= self.accuracy_floor

    def score(self, accuracy: float, compression: float) -> float:
        if not self.feasible(accuracy):
            return accuracy - self.accuracy_floor - 100.0
        w = self.accuracy_weight
        return w * accuracy + (1 - w) * math.log2(max(compression, 1e-6))


@dataclass
class TrialRecord:
    """One evaluated config as the search sees it (built from an optuna trial)."""

    number: int
    generation: int
    origin: str
    values: dict[str, Any]
    accuracy: float
    compression: float
    config_hash: str = ""
    rationale: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)  # the evaluator's details (class accuracy, pages, ...)
    config: dict[str, Any] = field(default_factory=dict)  # the reference JSON of the config

    @property
    def interval(self) -> Interval | None:
        """The accuracy's Wilson interval, when the evaluator gave per-sample scores."""
        ci = self.metrics.get("accuracy_ci")
        return Interval.from_dict(ci) if ci else None

    @property
    def accuracy_interval(self) -> Interval:
        """The interval, or the bare accuracy as a zero-width one."""
        return self.interval or Interval.point(self.accuracy)


def ties(a: TrialRecord, b: TrialRecord) -> bool:
    """Whether ``a`` and ``b`` are not told apart on accuracy (their intervals overlap)."""
    return a.accuracy_interval.overlaps(b.accuracy_interval)


def _uses_intervals(records: Sequence[TrialRecord]) -> bool:
    return any(r.interval is not None for r in records)


def tiered(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The tie rule's order (see the module doc): tiers of overlapping intervals, each by compression."""
    remaining = sorted(records, key=lambda r: (-r.accuracy, -r.compression, r.number))
    out: list[TrialRecord] = []
    while remaining:
        top = remaining[0]
        tier = [r for r in remaining if ties(r, top)]
        out.extend(sorted(tier, key=lambda r: (-r.compression, -r.accuracy, r.number)))
        chosen = {r.number for r in tier}
        remaining = [r for r in remaining if r.number not in chosen]
    return out


def front_records(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The records no other beats on both accuracy and compression, in their given order."""
    return [records[i] for i in pareto_front([(r.accuracy, r.compression) for r in records])]


def rank(records: Sequence[TrialRecord], scoring: Scoring) -> list[TrialRecord]:
    """Best first: by the tie rule when intervals are known, else by score (ties: earlier trial first);
    configs under the floor always last, by score."""
    by_score = sorted(records, key=lambda r: (-scoring.score(r.accuracy, r.compression), r.number))
    if not _uses_intervals(records):
        return by_score
    feasible = [r for r in records if scoring.feasible(r.accuracy)]
    return tiered(feasible) + [r for r in by_score if not scoring.feasible(r.accuracy)]


def better(a: TrialRecord, b: TrialRecord, scoring: Scoring) -> bool:
    """Whether ``a`` beats ``b`` in a tournament: the tie rule for two feasible configs with intervals
    (overlap: the more compressed wins), the score otherwise; equal: the earlier trial."""
    if a.interval is not None and b.interval is not None and scoring.feasible(a.accuracy) and scoring.feasible(
            b.accuracy):
        if not ties(a, b):
            return a.accuracy > b.accuracy
        if a.compression != b.compression:
            return a.compression > b.compression
    sa, sb = scoring.score(a.accuracy, a.compression), scoring.score(b.accuracy, b.compression)
    return sa > sb or (sa == sb and a.number < b.number)


def elite(records: Sequence[TrialRecord], size: int, scoring: Scoring) -> list[TrialRecord]:
    """The breeding pool: the ``size`` best by score plus the feasible Pareto front (for spread)."""
    pool = rank(records, scoring)[:size]
    seen = {r.number for r in pool}
    for r in front_records(records):
        if r.number not in seen and scoring.feasible(r.accuracy):
            pool.append(r)
            seen.add(r.number)
    return pool


def tournament(pool: Sequence[TrialRecord], rng: random.Random, scoring: Scoring, k: int = 2) -> TrialRecord:
    contenders = [rng.choice(pool) for _ in range(k)]
    winner = contenders[0]
    for r in contenders[1:]:
        if better(r, winner, scoring):
            winner = r
    return winner
