"""The Pareto front: the points no other point beats on every objective. One function for all.

``glyph sweep`` marks the grid points no other beats on (compression, fidelity); the search
reports the trials no other beats on (accuracy, compression). Both call :func:`pareto_front`,
which maximises every coordinate of points of any dimension and returns indices *in input
order*, so no caller has an argument order or an output order to remember: pass the
objectives in any order, sort the front as you display it.

It lives in ``glyph.measure`` because that is the lowest package both users import (the
search already builds on measure's compression and fidelity); nothing here imports glyph.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is at least as good as ``b`` on every objective (maximised) and better on one."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b))


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices, ascending, of the points no other point dominates (every coordinate maximised).

    Equal points do not dominate each other, so duplicates on the front are all kept. A NaN
    or a point of another dimension is a ``ValueError`` naming its index.
    """
    if not points:
        return []
    dim = len(points[0])
    for i, p in enumerate(points):
        if len(p) != dim:
            raise ValueError(f"point {i} has {len(p)} objectives, point 0 has {dim}: {tuple(p)!r}")
        if any(math.isnan(v) for v in p):
            raise ValueError(f"point {i} has a NaN objective: {tuple(p)!r}")
    # In descending lexicographic order a point's dominators all come before it (they are >=
    # everywhere and > somewhere), so comparing it with the front found so far is enough.
    order = sorted(range(len(points)), key=lambda i: tuple(points[i]), reverse=True)
    front: list[int] = []
    for i in order:
        if not any(dominates(points[j], points[i]) for j in front):
            front.append(i)
    return sorted(front)
