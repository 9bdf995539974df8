"""The one Pareto-front function, against a brute-force definition (hypothesis) and by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glyph.measure.pareto import dominates, pareto_front


def brute_force_front(points: list[tuple[float, ...]]) -> list[int]:
    """Definition: i is on the front iff no point is >= on every objective and differs from it."""
    return [
        i
        for i, p in enumerate(points)
        if not any(all(a >= b for a, b in zip(q, p)) and q != p for q in points)
    ]


# few distinct values, so ties and duplicates (the tricky cases) are common
coord = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.floats(-1e6, 1e6, allow_nan=False))


@given(st.lists(st.tuples(coord, coord), max_size=40))
def test_two_objectives_match_the_definition(points: list[tuple[float, float]]) -> None:
    assert pareto_front(points) == brute_force_front(points)


@given(st.lists(st.tuples(coord, coord, coord), max_size=30))
def test_three_objectives_match_the_definition(points: list[tuple[float, float, float]]) -> None:
    assert pareto_front(points) == brute_force_front(points)


@given(st.lists(st.tuples(coord, coord), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_the_front_does_not_depend_on_input_or_objective_order(points, rng) -> None:
    perm = list(range(len(points)))
    rng.shuffle(perm)
    shuffled = [points[i] for i in perm]
    assert sorted(perm[i] for i in pareto_front(shuffled)) == pareto_front(points)
    swapped = [(b, a) for a, b in points]  # (compression, accuracy) or (accuracy, compression): same front
    assert pareto_front(swapped) == pareto_front(points)


def test_by_hand() -> None:
    points = [(0.99, 1.0), (0.95, 2.0), (0.95, 1.5), (0.90, 3.0), (0.90, 3.0), (0.40, 6.0), (0.99, 0.5)]
    # (0.95, 1.5) loses to (0.95, 2.0); (0.99, 0.5) to (0.99, 1.0); the duplicate (0.90, 3.0) is kept twice
    assert pareto_front(points) == [0, 1, 3, 4, 5]
    assert pareto_front([]) == []
    assert pareto_front([(1.0, math.inf), (2.0, 0.0)]) == [0, 1]
    assert dominates((1, 2), (1, 1)) and not dominates((1, 1), (1, 1)) and not dominates((2, 0), (1, 1))


def test_bad_points_are_named() -> None:
    with pytest.raises(ValueError, match=r"point 1 has a NaN"):
        pareto_front([(1.0, 2.0), (math.nan, 1.0)])
    with pytest.raises(ValueError, match=r"point 2 has 3 objectives, point 0 has 2"):
        pareto_front([(1.0, 2.0), (1.0, 1.0), (1.0, 1.0, 1.0)])
