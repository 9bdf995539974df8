"""Ranking: the Pareto front on a hand-made set (and against optuna's own front), the scalar score's floor."""

from __future__ import annotations

import random

import optuna
import pytest

from glyph.search.selection import Scoring, TrialRecord, elite, front_records, pareto_front, rank


def test_pareto_front_hand_made() -> None:
    points = [
        (0.99, 1.0),  # 0 front: most accurate
        (0.95, 2.0),  # 1 front
        (0.95, 1.5),  # 2 dominated by 1
        (0.90, 3.0),  # 3 front
        (0.80, 2.5),  # 4 dominated by 3
        (0.50, 3.0),  # 5 dominated by 3 (same compression, less accurate)
        (0.40, 6.0),  # 6 front: most compressed
        (0.90, 3.0),  # 7 duplicate of 3: neither dominates the other, both on the front
        (0.99, 0.5),  # 8 dominated by 0
    ]
    assert sorted(pareto_front(points)) == [0, 1, 3, 6, 7]
    assert pareto_front([]) == []


def test_pareto_front_matches_optuna() -> None:
    rng = random.Random(7)
    for _ in range(20):
        pts = [(round(rng.random(), 2), round(rng.random() * 5, 1)) for _ in range(rng.randint(1, 30))]
        study = optuna.create_study(directions=["maximize", "maximize"])
        for p in pts:
            study.add_trial(optuna.trial.create_trial(values=list(p)))
        expected = sorted(t.number for t in study.best_trials)
        assert sorted(pareto_front(pts)) == expected


def _rec(n: int, acc: float, comp: float) -> TrialRecord:
    return TrialRecord(number=n, generation=0, origin="seed", values={}, accuracy=acc, compression=comp)


def test_score_floor_and_weight() -> None:
    s = Scoring(accuracy_floor=0.9, accuracy_weight=0.8)
    assert s.score(0.95, 4.0) == pytest.approx(0.8 * 0.95 + 0.2 * 2.0)
    # anything under the floor ranks below anything above it, however compressed
    assert s.score(0.89, 100.0) < s.score(0.9, 0.5)
    # under the floor, closer to it is better
    assert s.score(0.85, 1.0) > s.score(0.5, 50.0)
    with pytest.raises(ValueError):
        Scoring(accuracy_weight=1.5)


def test_rank_and_elite_keep_the_feasible_front() -> None:
    s = Scoring(0.9, 0.8)
    recs = [_rec(0, 0.99, 1.0), _rec(1, 0.95, 3.0), _rec(2, 0.92, 2.0), _rec(3, 0.5, 9.0), _rec(4, 0.91, 3.5)]
    assert [r.number for r in rank(recs, s)][:2] == [4, 1]
    assert {r.number for r in front_records(recs)} == {0, 1, 3, 4}
    pool = elite(recs, 1, s)
    assert {r.number for r in pool} == {4, 0, 1}  # best by score + the feasible front (3 is under the floor)
