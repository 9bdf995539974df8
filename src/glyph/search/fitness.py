"""Fitness with known uncertainty: a bootstrap confidence interval over the samples a config was scored on.

A task-level evaluator (``ocr-ruler``, ``vlm-ruler``) scores a config on many samples across
several tasks and lengths; its accuracy is the mean of the per-task means (what
``glyph.eval`` reports). How much that number would move on other samples decides whether two
configs differ at all, so every such evaluation also gets a percentile bootstrap interval:

* resampling is *stratified by task* (each task's scores are resampled among themselves, the
  statistic is the mean of the task means), so the interval measures sampling noise within
  tasks, not the spread between easy and hard tasks, which every config sees alike;
* the resampling is seeded, so a stored interval can be recomputed exactly.

Selection (:mod:`.selection`) then treats configs whose intervals overlap as ties on accuracy
and prefers the more compressed one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 4000


@dataclass(frozen=True)
class Interval:
    """A fitness estimate: the point value and its ``confidence`` bootstrap interval over ``n`` samples."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float = DEFAULT_CONFIDENCE

    def overlaps(self, other: Interval) -> bool:
        """Whether the two intervals share a point: the configs are not told apart on accuracy."""
        return self.low <= other.high and other.low <= self.high

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n, "confidence": self.confidence}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        return cls(float(data["mean"]), float(data["low"]), float(data["high"]), int(data["n"]),
                   float(data.get("confidence", DEFAULT_CONFIDENCE)))

    @classmethod
    def point(cls, value: float) -> Interval:
        """No uncertainty known (an evaluator without per-sample scores)."""
        return cls(value, value, value, 1, 1.0)

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_interval(
    scores: Mapping[str, Sequence[float]] | Sequence[float],
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of the mean of per-stratum means.

    ``scores`` maps a stratum (a task) to its samples' scores; a plain sequence is one stratum.
    """
    strata = {"": list(scores)} if not isinstance(scores, Mapping) else {k: list(v) for k, v in scores.items()}
    strata = {k: v for k, v in strata.items() if v}
    if not strata:
        raise ValueError("bootstrap_interval: no scores")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"bootstrap_interval: confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"bootstrap_interval: resamples must be >= 1, got {resamples}")
    bad = [(k, s) for k, v in strata.items() for s in v if not np.isfinite(s)]
    if bad:
        raise ValueError(f"bootstrap_interval: non-finite score {bad[0][1]!r} in stratum {bad[0][0]!r}")
    rng = np.random.default_rng(seed)
    means = np.zeros(resamples)
    for values in strata.values():  # dict order: the same scores give the same interval
        arr = np.asarray(values, dtype=float)
        idx = rng.integers(0, len(arr), size=(resamples, len(arr)))
        means += arr[idx].mean(axis=1)
    means /= len(strata)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    point = float(np.mean([np.mean(v) for v in strata.values()]))
    n = sum(len(v) for v in strata.values())
    # the percentile interval of a degenerate (all-equal) stratum is exact; clamp float noise around the point
    return Interval(point, min(float(low), point), max(float(high), point), n, confidence)


def interval_metrics(metrics: Mapping[str, Any], accuracy: float, confidence: float = DEFAULT_CONFIDENCE,
                     resamples: int = DEFAULT_RESAMPLES) -> dict[str, Any]:
    """``{"accuracy_ci": ...}`` for an evaluation whose metrics carry per-task ``scores``; empty otherwise.

    Its mean must be the evaluator's accuracy (both are the mean of task means): a mismatch is a bug, raised.
    """
    scores = metrics.get("scores")
    if not isinstance(scores, Mapping) or not scores:
        return {}
    ci = bootstrap_interval(scores, confidence, resamples)
    if abs(ci.mean - accuracy) > 1e-6:
        raise ValueError(f"per-task scores give accuracy {ci.mean:.6f}, the evaluator reported {accuracy:.6f}")
    return {"accuracy_ci": ci.to_dict()}
