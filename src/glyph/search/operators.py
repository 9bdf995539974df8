"""Classical genetic operators over candidates: mutation and crossover, both followed by repair.

They are the search's floor: they need no endpoint, cost nothing, and replace any LLM
proposal that cannot be used. Every child goes through ``SearchSpace.repair`` so it is a
valid config inside the space whatever the parents were.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from glyph.search.space import Repaired, SearchSpace


def mutate(
    space: SearchSpace, parent: Mapping[str, Any], rng: random.Random, rate: float | None = None, strength: float = 0.2
) -> Repaired:
    """Perturb each knob with probability ``rate`` (default 2/#knobs), always at least one."""
    keys = list(space.knobs)
    if not keys:
        return space.repair(parent)
    rate = min(1.0, 2.0 / len(keys)) if rate is None else rate
    chosen = [k for k in keys if rng.random() < rate] or [rng.choice(keys)]
    child = dict(parent)
    for key in chosen:
        child[key] = space.knobs[key].mutate(parent.get(key, space.seed_values[key]), rng, strength)
    return space.repair(child, fill=space.seed_values)


def crossover(space: SearchSpace, a: Mapping[str, Any], b: Mapping[str, Any], rng: random.Random,
              blend: float = 0.3) -> Repaired:
    """Uniform crossover; numeric knobs are blended between the parents with probability ``blend``."""
    child: dict[str, Any] = {}
    for key, knob in space.knobs.items():
        va, vb = a.get(key, space.seed_values[key]), b.get(key, space.seed_values[key])
        if rng.random() < blend:
            child[key] = knob.blend(va, vb, rng)
        else:
            child[key] = va if rng.random() < 0.5 else vb
    return space.repair(child, fill=space.seed_values)
