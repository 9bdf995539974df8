"""Fitness with known uncertainty: the Wilson interval the search uses (closed-form literals and scipy's
binomtest), the percentile bootstrap it replaced (against the exact bootstrap law and scipy), and the tie rule
of selection, on constructed scores with expected orders worked out by hand."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats

from glyph.search.fitness import Interval, bootstrap_interval, interval_metrics, wilson_interval
from glyph.search.selection import Scoring, TrialRecord, better, rank, tiered, tournament


# 95% Wilson bounds, z = 1.959963985 (z^2 = 3.841458821). At p = 1 the closed form reduces to n / (n + z^2):
# 64 / 67.841458821 = 0.943376. 63/64 (p = 0.984375): centre (p + z^2/128) / (1 + z^2/64) = 0.956948, half-width
# z sqrt(p(1-p)/64 + z^2/16384) / (1 + z^2/64) = 0.040289, so [0.916659, 0.997236] (scipy agrees, below).
def test_wilson_at_the_ceiling_by_hand() -> None:
    full = wilson_interval([1.0] * 64)
    assert (full.mean, full.high, full.n) == (1.0, 1.0, 64)
    assert full.low == pytest.approx(0.943376, abs=1e-6)
    one_miss = wilson_interval([1.0] * 63 + [0.0])
    assert one_miss.mean == pytest.approx(0.984375)
    assert (one_miss.low, one_miss.high) == (pytest.approx(0.916659, abs=1e-6), pytest.approx(0.997236, abs=1e-6))
    none = wilson_interval([0.0] * 64)  # symmetric at the floor
    assert (none.low, none.high) == (0.0, pytest.approx(1 - 0.943376, abs=1e-6))
    # 8/8 at 95%: 8 / 11.841458821
    assert wilson_interval([1.0] * 8).low == pytest.approx(0.675592, abs=1e-6)


def test_wilson_agrees_with_scipy_binomtest() -> None:
    for n in (10, 40, 64):
        for k in range(n + 1):
            for confidence in (0.9, 0.95):
                ours = wilson_interval([1.0] * k + [0.0] * (n - k), confidence)
                ref = stats.binomtest(k, n).proportion_ci(confidence, method="wilson")
                assert (ours.low, ours.high) == (pytest.approx(ref.low, abs=1e-12), pytest.approx(ref.high, abs=1e-12))


def test_wilson_ties_where_the_bootstrap_cannot() -> None:
    """The named limit: at 64/64 the bootstrap interval is [1, 1], so a config ties with it only if its own
    bootstrap interval reaches 1 exactly. One whole miss does (a resample skips it with probability
    (63/64)^64 = 0.37); the same 63/64 as four 3/4 answers (a multi-value task's partial credit) does not
    (all four skipped: (60/64)^64 = 0.016 < 2.5%). Wilson depends on the accuracy, not on how the misses fall."""
    full, one_miss, partial = [1.0] * 64, [1.0] * 63 + [0.0], [1.0] * 60 + [0.75] * 4
    assert bootstrap_interval(full) == Interval(1.0, 1.0, 1.0, 64)
    assert bootstrap_interval(one_miss).overlaps(bootstrap_interval(full))
    assert bootstrap_interval(partial).high < 1.0
    assert not bootstrap_interval(partial).overlaps(bootstrap_interval(full))
    assert wilson_interval(partial) == wilson_interval(one_miss)
    assert wilson_interval(partial).overlaps(wilson_interval(full))
    # how far the tie reaches (scipy's binomtest): 58/64 is [0.810, 0.956], still overlapping 64/64's
    # [0.943, 1]; 54/64 is [0.736, 0.913], apart, so accuracy decides
    assert wilson_interval([1.0] * 58 + [0.0] * 6).overlaps(wilson_interval(full))
    assert not wilson_interval([1.0] * 54 + [0.0] * 10).overlaps(wilson_interval(full))
    # and among ties the tie rule prefers the more compressed config (the README's reference vs trial 44)
    ref = _rec(0, 1.0, 3.84, *_bounds(wilson_interval(full)))
    squeezed = _rec(1, 63 / 64, 4.59, *_bounds(wilson_interval(one_miss)))
    assert [r.number for r in rank([ref, squeezed], SCORING)] == [1, 0]


def _bounds(ci: Interval) -> tuple[float, float]:
    return ci.low, ci.high


def test_wilson_strata_and_bad_scores() -> None:
    # equal-sized tasks: the mean of task means is the pooled proportion, n the total count
    by_task = wilson_interval({"a": [1.0, 1.0, 0.0, 1.0], "b": [0.0, 1.0, 1.0, 1.0]})
    assert by_task == wilson_interval([1.0] * 6 + [0.0] * 2)
    assert wilson_interval({"a": [1.0, 1.0], "b": [1.0, 0.0, 0.0, 0.0]}).mean == pytest.approx(0.625)  # not 0.5
    with pytest.raises(ValueError, match=r"1\.5.*'vt'.*\[0, 1\]"):
        wilson_interval({"cwe": [1.0], "vt": [1.5]})
    with pytest.raises(ValueError, match="no scores"):
        wilson_interval({"vt": []})
    with pytest.raises(ValueError, match=r"nan.*'vt'"):
        wilson_interval({"vt": [float("nan")]})
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval([1.0], confidence=1.0)


def test_bernoulli_interval_is_the_binomial_quantiles() -> None:
    # 5 hits of 10: a bootstrap mean is Binomial(10, 0.5) / 10. P(X <= 1) = 11/1024 < 2.5% < P(X <= 2) = 56/1024,
    # and symmetrically at the top, so the exact 95% percentile interval is [0.2, 0.8].
    ci = bootstrap_interval([1.0] * 5 + [0.0] * 5)
    assert (ci.mean, ci.low, ci.high, ci.n) == (0.5, 0.2, 0.8, 10)


def test_stratified_resampling_ignores_the_spread_between_tasks() -> None:
    # a task every config reads and one none does: each task's mean never moves when resampled within it
    by_task = bootstrap_interval({"easy": [1.0] * 6, "hard": [0.0] * 6})
    assert (by_task.mean, by_task.low, by_task.high) == (0.5, 0.5, 0.5)
    pooled = bootstrap_interval([1.0] * 6 + [0.0] * 6)  # the same twelve scores as one stratum
    assert pooled.mean == 0.5 and pooled.low <= 0.25 and pooled.high >= 0.75


def test_mean_of_task_means_not_of_samples() -> None:
    # glyph.eval's accuracy: tasks weigh alike whatever their sample counts: (1.0 + 0.25) / 2
    ci = bootstrap_interval({"a": [1.0, 1.0], "b": [1.0, 0.0, 0.0, 0.0]})
    assert ci.mean == pytest.approx(0.625) and ci.n == 6 and ci.low < 0.625 < ci.high


def test_one_stratum_agrees_with_scipy_percentile_bootstrap() -> None:
    rng = np.random.default_rng(3)
    scores = rng.beta(4, 2, size=60)
    ours = bootstrap_interval(list(scores), confidence=0.9, resamples=8000)
    ref = stats.bootstrap((scores,), np.mean, confidence_level=0.9, method="percentile", n_resamples=8000,
                          random_state=11).confidence_interval
    assert ours.low == pytest.approx(ref.low, abs=0.006)
    assert ours.high == pytest.approx(ref.high, abs=0.006)


def test_interval_is_reproducible_and_narrows_with_samples() -> None:
    few = bootstrap_interval([1.0, 0.0] * 5)
    assert bootstrap_interval([1.0, 0.0] * 5) == few
    many = bootstrap_interval([1.0, 0.0] * 100)
    assert many.half_width < few.half_width / 3  # ~ 1 / sqrt(n): 20x the samples, ~4.5x narrower


def test_bad_scores_are_named() -> None:
    with pytest.raises(ValueError, match="no scores"):
        bootstrap_interval({"vt": []})
    with pytest.raises(ValueError, match=r"nan.*'vt'"):
        bootstrap_interval({"cwe": [1.0], "vt": [0.5, float("nan")]})
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_interval([1.0], confidence=95)


def test_interval_metrics_checks_the_evaluators_accuracy() -> None:
    metrics = {"scores": {"vt": [1.0, 0.0], "cwe": [1.0, 1.0]}}
    assert interval_metrics(metrics, 0.75)["accuracy_ci"]["mean"] == 0.75
    with pytest.raises(ValueError, match="reported 0.600000"):
        interval_metrics(metrics, 0.6)
    assert interval_metrics({"by_task": {}}, 0.5) == {}  # no per-sample scores: no interval


def _rec(n: int, acc: float, comp: float, low: float | None = None, high: float | None = None) -> TrialRecord:
    metrics = {} if low is None else {"accuracy_ci": Interval(acc, low, high or acc, 40).to_dict()}
    return TrialRecord(number=n, generation=0, origin="seed", values={}, accuracy=acc, compression=comp,
                       metrics=metrics)


# A [.85, .95] and B [.83, .93] overlap: tied, B more compressed. C [.76, .84] overlaps B but not A, the top of
# the first tier, so it opens the second tier with D [.60, .80] (overlapping C), C more compressed.
# E is under the floor: last whatever its compression. The weighted score alone would put C first.
def _abcde() -> list[TrialRecord]:
    return [_rec(0, 0.90, 3.0, 0.85, 0.95), _rec(1, 0.88, 5.0, 0.83, 0.93), _rec(2, 0.80, 8.0, 0.76, 0.84),
            _rec(3, 0.70, 2.0, 0.60, 0.80), _rec(4, 0.50, 20.0, 0.40, 0.60)]


SCORING = Scoring(accuracy_floor=0.6, accuracy_weight=0.8)


def test_tie_rule_order_by_hand() -> None:
    A, B, C, D, E = _abcde()
    assert [r.number for r in rank([E, D, C, B, A], SCORING)] == [1, 0, 2, 3, 4]
    assert [r.number for r in tiered([A, B, C, D])] == [1, 0, 2, 3]
    by_score = [A, B, C, D]
    for r in by_score:
        r.metrics.pop("accuracy_ci", None)
    assert rank(by_score, SCORING)[0].number == 2  # without intervals: the scalar score (C: 1.24)


def test_tournament_uses_the_tie_rule() -> None:
    a, b, c, _, e = _abcde()
    assert better(b, a, SCORING) and not better(a, b, SCORING)  # tie on accuracy: compression
    assert better(a, c, SCORING) and not better(c, a, SCORING)  # apart: accuracy
    assert better(c, e, SCORING)  # under the floor loses
    rng = random.Random(0)
    winners = {tournament([a, b], rng, SCORING, k=2).number for _ in range(50)}
    assert winners <= {0, 1} and 1 in winners
    assert all(tournament([a, b], rng, SCORING, k=8).number == 1 for _ in range(20))  # both drawn: b wins


def test_ocr_ruler_reports_per_task_scores_and_the_runner_an_interval(tmp_path) -> None:
    from glyph.render.config import RenderConfig
    from glyph.search.evaluators import get_evaluator

    ev = get_evaluator("ocr-ruler", cache_dir=tmp_path, reader="oracle", tasks=["niah_single_2", "vt"],
                       lengths=[1024, 2048], samples=2)
    result = ev.evaluate(RenderConfig())
    scores = result.metrics["scores"]
    assert sorted(scores) == ["niah_single_2", "vt"] and all(len(v) == 4 for v in scores.values())  # 2 lengths x 2
    ci = interval_metrics(result.metrics, result.accuracy)["accuracy_ci"]
    assert (ci["mean"], ci["high"], ci["n"]) == (1.0, 1.0, 8)  # the oracle reads everything
    assert ci["low"] == pytest.approx(0.675592, abs=1e-6)  # Wilson 8/8 at 95%: 8 / (8 + z^2), not zero-width
    assert ev.evaluate(RenderConfig()).cached


def test_fitness_reads_without_the_layouts_line_boxes_by_default(tmp_path) -> None:
    """At line height 5 pt under a 9 pt font the lines overlap by almost half: the layout's boxes still read a
    good part of it, the pixels alone cannot split the lines (at 6 pt the line finder now does, and both read
    alike). The search's default fitness must see what the pixels give."""
    from glyph.render.config import RenderConfig
    from glyph.search.evaluators import get_evaluator

    for name in ("ocr-fidelity", "ocr-ruler"):
        assert get_evaluator(name).describe()["options"]["reader"] == "ocr-pixels"
    tight = RenderConfig(font_size=9, line_height=5)
    layout_free = get_evaluator("ocr-fidelity", chars=1200).evaluate(tight).accuracy
    boxes = get_evaluator("ocr-fidelity", chars=1200, reader="ocr").evaluate(tight).accuracy
    assert boxes > 0.3 and layout_free < 0.1, (boxes, layout_free)
