"""Ranking evaluated configs: the Pareto front over (accuracy, compression) and one scalar score.

The front is what the search reports: every config no other config beats on both axes.
Breeding needs a total order as well, so each config also gets

    score = w * accuracy + (1 - w) * log2(compression)      if accuracy >= floor
    score = accuracy - floor - 100                          otherwise

log2 makes compression gains relative (2x -> 3x is worth what 4x -> 6x is); the floor
keeps an unreadable config from winning on compression alone, and every config under the
floor ranks below every config above it, closer to the floor first.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from glyph.measure.pareto import pareto_front


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


def front_records(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The records no other beats on both accuracy and compression, in their given order."""
    return [records[i] for i in pareto_front([(r.accuracy, r.compression) for r in records])]


def rank(records: Sequence[TrialRecord], scoring: Scoring) -> list[TrialRecord]:
    """Best first by score (ties: earlier trial first)."""
    return sorted(records, key=lambda r: (-scoring.score(r.accuracy, r.compression), r.number))


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
    return max(contenders, key=lambda r: (scoring.score(r.accuracy, r.compression), -r.number))
