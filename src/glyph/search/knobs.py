"""One searchable typography knob: its domain, how to coerce a value into it, sample and perturb it.

Knobs are named by the reference's hyphenated config keys (``font-size``, ``page-size``) so
that the LLM proposer, the space file and the saved configs speak the same language.
Numeric knobs live on a grid (``low + i * step``): optuna's stepped distributions need it,
and snapping makes "the same config" a matter of equality rather than float tolerance.
Coercion never raises on a value of the right kind: it clamps, snaps or picks the nearest
choice and says what it did, because LLM proposals are repaired rather than thrown away.
"""

from __future__ import annotations

import json
import math
import random
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
_PAIR = re.compile(r"^\s*\(?\s*(\d+(?:\.\d+)?)\s*[,x× ]\s*(\d+(?:\.\d+)?)\s*\)?\s*$")
COLOR_KEYS = frozenset({"font-color", "page-bg-color", "para-bg-color", "para-border-color"})


class KnobError(ValueError):
    """A value that cannot be read as this knob's kind at all (e.g. 'big' for a font size)."""


def _decimals(*numbers: float) -> int:
    """Decimal places needed to write the numbers exactly (grid values are rounded to them)."""
    places = 0
    for n in numbers:
        exponent = Decimal(str(float(n))).normalize().as_tuple().exponent
        if isinstance(exponent, int):
            places = max(places, -exponent)
    return places


def _as_number(value: Any, key: str) -> float:
    if isinstance(value, bool):
        raise KnobError(f"{key}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().lower().removesuffix("pt").removesuffix("px").strip())
        except ValueError:
            raise KnobError(f"{key}: expected a number, got {value!r}") from None
    else:
        raise KnobError(f"{key}: expected a number, got {value!r}")
    if not math.isfinite(number):
        raise KnobError(f"{key}: expected a finite number, got {value!r}")
    return number


class _NumericKnob(BaseModel):
    """Shared grid logic of float and int knobs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    low: float
    high: float
    step: float

    @model_validator(mode="after")
    def _check(self) -> _NumericKnob:
        if not self.step > 0:
            raise ValueError(f"{self.key}: step must be > 0, got {self.step}")
        if self.low > self.high:
            raise ValueError(f"{self.key}: low {self.low} > high {self.high}")
        return self

    @property
    def n_steps(self) -> int:
        """Index of the last grid point (``high`` is rounded down onto the grid)."""
        return math.floor((self.high - self.low) / self.step + 1e-9)

    @property
    def grid_high(self) -> float:
        return self.value_at(self.n_steps)

    def value_at(self, index: int) -> float | int:
        index = min(max(int(index), 0), self.n_steps)
        value = round(self.low + index * self.step, _decimals(self.low, self.step))
        return int(value) if isinstance(self, IntKnob) else value

    def index_of(self, value: float) -> int:
        value = min(max(value, self.low), self.grid_high)  # clip first: (1e308 - low) / step overflows to inf
        return min(max(round((value - self.low) / self.step), 0), self.n_steps)

    def coerce(self, value: Any) -> tuple[float | int, str | None]:
        number = _as_number(value, self.key)
        snapped = self.value_at(self.index_of(number))
        if abs(snapped - number) <= 1e-9:
            return snapped, None
        return snapped, f"{self.key}: {value!r} -> {snapped} (range {self.low}..{self.grid_high} step {self.step})"

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return self.low - 1e-9 <= value <= self.grid_high + 1e-9 and value == self.value_at(self.index_of(value))

    def sample(self, rng: random.Random) -> float | int:
        return self.value_at(rng.randint(0, self.n_steps))

    def mutate(self, value: Any, rng: random.Random, strength: float = 0.2) -> float | int:
        """A Gaussian move of ``strength`` x the range, at least one grid step."""
        if self.n_steps == 0:
            return self.value_at(0)
        i = self.index_of(value)
        delta = round(rng.gauss(0.0, max(1.0, strength * self.n_steps)))
        if delta == 0:
            delta = rng.choice((-1, 1))
        j = min(max(i + delta, 0), self.n_steps)
        if j == i:  # pinned at a bound: bounce back inside
            j = i - delta if 0 <= i - delta <= self.n_steps else i
        return self.value_at(j)

    def blend(self, a: Any, b: Any, rng: random.Random) -> float | int:
        """A point between two parents (blend crossover on the grid)."""
        ia, ib = self.index_of(a), self.index_of(b)
        return self.value_at(round(ia + rng.random() * (ib - ia)))

    def describe(self) -> dict[str, Any]:
        kind = "int" if isinstance(self, IntKnob) else "float"
        return {"type": kind, "low": self.value_at(0), "high": self.grid_high, "step": _compact(self.step)}


class FloatKnob(_NumericKnob):
    type: Literal["float"] = "float"

    def distribution(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.value_at(0), self.grid_high, step=self.step)


class IntKnob(_NumericKnob):
    type: Literal["int"] = "int"

    @model_validator(mode="after")
    def _integral(self) -> IntKnob:
        for name in ("low", "high", "step"):
            if not float(getattr(self, name)).is_integer():
                raise ValueError(f"{self.key}: int knob needs an integer {name}, got {getattr(self, name)}")
        return self

    def distribution(self) -> Any:
        from optuna.distributions import IntDistribution

        return IntDistribution(int(self.low), int(self.grid_high), step=int(self.step))


class CategoricalKnob(BaseModel):
    """A choice among listed values; colours, page sizes and numbers snap to the nearest choice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    type: Literal["categorical"] = "categorical"
    choices: tuple[Any, ...]

    @model_validator(mode="after")
    def _check(self) -> CategoricalKnob:
        if not self.choices:
            raise ValueError(f"{self.key}: categorical knob needs at least one choice")
        canon = tuple(canonical(self.key, c) for c in self.choices)
        if len(set(map(_key, canon))) != len(canon):
            raise ValueError(f"{self.key}: duplicate choices in {list(self.choices)}")
        object.__setattr__(self, "choices", canon)
        return self

    def coerce(self, value: Any) -> tuple[Any, str | None]:
        try:
            value = canonical(self.key, value)
        except KnobError:
            pass  # still try the case-insensitive / nearest match below
        for choice in self.choices:
            if _key(choice) == _key(value):
                return choice, None
        if isinstance(value, str):
            for choice in self.choices:
                if isinstance(choice, str) and choice.lower() == value.strip().lower():
                    return choice, None
        nearest = self._nearest(value)
        if nearest is None:
            raise KnobError(f"{self.key}: {value!r} is not one of {list(self.choices)}")
        return nearest, f"{self.key}: {value!r} -> nearest choice {nearest!r}"

    def _nearest(self, value: Any) -> Any:
        point = _point(self.key, value)
        if point is None:
            return None
        scored = [(math.dist(point, p), i) for i, c in enumerate(self.choices) if (p := _point(self.key, c))]
        return self.choices[min(scored)[1]] if scored else None

    def contains(self, value: Any) -> bool:
        return any(_key(c) == _key(value) for c in self.choices)

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.choices)

    def mutate(self, value: Any, rng: random.Random, strength: float = 0.2) -> Any:
        others = [c for c in self.choices if _key(c) != _key(value)]
        return rng.choice(others) if others else self.choices[0]

    def blend(self, a: Any, b: Any, rng: random.Random) -> Any:
        return a if rng.random() < 0.5 else b

    def describe(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution([encode_param(c) for c in self.choices])


Knob = Annotated[FloatKnob | IntKnob | CategoricalKnob, Field(discriminator="type")]


# ---------------------------------------------------------------------- values of particular keys
def canonical(key: str, value: Any) -> Any:
    """The reference file's spelling of a value: 'w,h' page sizes, '#RRGGBB' colours, booleans."""
    if key == "page-size":
        if isinstance(value, (list, tuple)) and len(value) == 2:
            w, h = (_as_number(v, key) for v in value)
        elif isinstance(value, str) and (m := _PAIR.match(value)):
            w, h = float(m.group(1)), float(m.group(2))
        else:
            raise KnobError(f"page-size: expected 'width,height' in pt, got {value!r}")
        return f"{_compact(w)},{_compact(h)}"
    if key in COLOR_KEYS:
        if isinstance(value, (list, tuple)) and len(value) == 3:
            return "#" + "".join(f"{int(_as_number(c, key)):02X}" for c in value)
        if isinstance(value, str) and (m := _HEX.match(value.strip())):
            return "#" + m.group(1).upper()
        raise KnobError(f"{key}: expected a colour '#RRGGBB', got {value!r}")
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, list):
        return tuple(value)
    return value


def _point(key: str, value: Any) -> tuple[float, ...] | None:
    """Coordinates for 'nearest choice' (None where nearness means nothing, e.g. font names)."""
    try:
        if key == "page-size":
            return tuple(float(v) for v in canonical(key, value).split(","))
        if key in COLOR_KEYS:
            hex_ = canonical(key, value)
            return tuple(int(hex_[i : i + 2], 16) for i in (1, 3, 5))
    except KnobError:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (float(value),)
    return None


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, float) or not value.is_integer() else str(int(value))


def _compact(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def encode_param(value: Any) -> None | bool | int | float | str:
    """Optuna categorical choices must be primitives: lists travel as JSON strings."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(list(value))


def decode_param(knob: Any, value: Any) -> Any:
    if isinstance(knob, CategoricalKnob) and isinstance(value, str):
        for choice in knob.choices:
            if encode_param(choice) == value:
                return choice
    return value
