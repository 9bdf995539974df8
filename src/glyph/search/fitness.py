"""Fitness with known uncertainty: a confidence interval on the accuracy a config was scored on.

A task-level evaluator (``ocr-ruler``, ``vlm-ruler``) scores a config on many samples across
several tasks and lengths; its accuracy is the mean of the per-task means (what
``glyph.eval`` reports). How much that number would move on other samples decides whether two
configs differ at all, so every such evaluation also gets an interval, the *Wilson score
interval* (:func:`wilson_interval`) on that accuracy over all its samples.

Why Wilson and not the percentile bootstrap the first search used (:func:`bootstrap_interval`,
kept for comparison): the search lives near the ceiling, where a resampling interval collapses.
A config that reads all 64 of 64 samples gets the bootstrap interval [1, 1] (every resample is
all ones), so the reference default, which reads everything, ties only with configs whose own
bootstrap interval reaches 1 exactly: one whole miss does (a resample skips it 37% of the time),
the same 63/64 spread as four 3/4 answers of a multi-value task does not, however much more it
compresses. The tie then hinges on how the errors fall, not how many there are. Wilson's interval inverts the score test of a
binomial proportion: it is never zero-width (64/64 gives [0.943, 1]), stays inside [0, 1], keeps
close to its nominal coverage at small n and extreme p (Brown, Cai & DasGupta 2001), and is a
closed form, so a stored interval is exact and costs nothing. A Bayesian bootstrap does not fix
the ceiling on its own (any Dirichlet weighting of all-ones is one); a Beta prior would, at the
price of a prior to choose and defend.

The scores are per-sample hits in [0, 1] (RULER's partial credit on multi-value tasks included);
the proportion is the accuracy itself (the mean of task means, which equals the pooled mean when
tasks have equal sample counts, as in the search's probes) and ``n`` is the total sample count.

Selection (:mod:`.selection`) then treats configs whose intervals overlap as ties on accuracy
and prefers the more compressed one; validation (:mod:`.validation`) picks its winner the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import math
from statistics import NormalDist

import numpy as np

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 4000


@dataclass(frozen=True)
class Interval:
    """A fitness estimate: the point value and its ``confidence`` interval over ``n`` samples."""

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


def _strata(scores: Mapping[str, Sequence[float]] | Sequence[float], confidence: float,
            who: str) -> dict[str, list[float]]:
    """The non-empty strata of ``scores``, checked: finite scores, confidence in (0, 1)."""
    strata = {"": list(scores)} if not isinstance(scores, Mapping) else {k: list(v) for k, v in scores.items()}
    strata = {k: v for k, v in strata.items() if v}
    if not strata:
        raise ValueError(f"{who}: no scores")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"{who}: confidence must be in (0, 1), got {confidence}")
    bad = [(k, s) for k, v in strata.items() for s in v if not np.isfinite(s)]
    if bad:
        raise ValueError(f"{who}: non-finite score {bad[0][1]!r} in stratum {bad[0][0]!r}")
    return strata


def wilson_interval(
    scores: Mapping[str, Sequence[float]] | Sequence[float],
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Wilson score interval of the accuracy (the mean of per-stratum means) over all ``n`` samples.

    ``scores`` maps a stratum (a task) to its samples' scores in [0, 1]; a plain sequence is one
    stratum. With ``p`` the accuracy and ``z`` the normal quantile of ``confidence``, the bounds are
    ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``; never zero-width, always in [0, 1].
    """
    strata = _strata(scores, confidence, "wilson_interval")
    bad = [(k, s) for k, v in strata.items() for s in v if not 0.0 <= s <= 1.0]
    if bad:
        raise ValueError(f"wilson_interval: score {bad[0][1]!r} in stratum {bad[0][0]!r} is not a proportion in [0, 1]")
    n = sum(len(v) for v in strata.values())
    p = float(np.mean([np.mean(v) for v in strata.values()]))
    z = float(NormalDist().inv_cdf(0.5 + confidence / 2))
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # the closed form is exactly 1 (0) at p = 1 (0); clamp float noise so the point stays inside
    return Interval(p, max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p)), n, confidence)


def bootstrap_interval(
    scores: Mapping[str, Sequence[float]] | Sequence[float],
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of the mean of per-stratum means, stratified by task, seeded.

    Not the search's interval (it is zero-width when every sample scores alike, see the module doc);
    kept to compare against and for scores that are not proportions.
    ``scores`` maps a stratum (a task) to its samples' scores; a plain sequence is one stratum.
    """
    strata = _strata(scores, confidence, "bootstrap_interval")
    if resamples < 1:
        raise ValueError(f"bootstrap_interval: resamples must be >= 1, got {resamples}")
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


def interval_metrics(metrics: Mapping[str, Any], accuracy: float,
                     confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """``{"accuracy_ci": ...}`` (Wilson) for an evaluation whose metrics carry per-task ``scores``; empty otherwise.

    Its mean must be the evaluator's accuracy (both are the mean of task means): a mismatch is a bug, raised.
    """
    scores = metrics.get("scores")
    if not isinstance(scores, Mapping) or not scores:
        return {}
    ci = wilson_interval(scores, confidence)
    if abs(ci.mean - accuracy) > 1e-6:
        raise ValueError(f"per-task scores give accuracy {ci.mean:.6f}, the evaluator reported {accuracy:.6f}")
    return {"accuracy_ci": ci.to_dict()}
