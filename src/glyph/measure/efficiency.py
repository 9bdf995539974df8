"""What reading a text as pages instead of tokens costs a model: KV cache, timings, cost models.

The pieces ``benchmarks/efficiency.py`` is made of, kept here so they are tested and reusable:

* :class:`KVShape` / :func:`cache_nbytes`: the KV cache's size from the formula
  ``layers x 2 x kv_heads x head_dim x tokens x bytes`` and from the cache object itself
  (transformers' ``DynamicCache`` tensors); the two must agree, which checks that the cache
  holds exactly one entry per prompt token on either side.
* :class:`StepClock` and :func:`module_time`: per-token timestamps inside ``generate`` (time to
  first token, then the decoding rate) and the time spent in one submodule (the vision tower's
  share of the pages' prefill), on the wall clock or, on one CPU thread, the process's CPU clock.
* :func:`fit_prefill`, :func:`fit_decode`, :func:`break_even`: the fitted cost model (prefill
  ``b*n + c*n**2`` per side in its own prompt length; per-token decoding ``d0 + d1*n``), with
  residuals, so the crossover length and extrapolations (128K) say how they were obtained.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "KVShape",
    "LinearFit",
    "QuadraticFit",
    "StepClock",
    "break_even",
    "cache_nbytes",
    "fit_decode",
    "fit_prefill",
    "module_time",
]


# ------------------------------------------------------------------------------------ KV cache
@dataclass(frozen=True)
class KVShape:
    """What one prompt token costs the KV cache: ``layers x 2 (K and V) x kv_heads x head_dim`` values."""

    layers: int
    kv_heads: int
    head_dim: int

    @classmethod
    def from_config(cls, config: Any) -> KVShape:
        """From a transformers config (a VLM's ``text_config`` when it has one)."""
        text = getattr(config, "text_config", None) or config
        heads = int(text.num_attention_heads)
        kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
        head_dim = getattr(text, "head_dim", None) or int(text.hidden_size) // heads
        return cls(int(text.num_hidden_layers), kv_heads, int(head_dim))

    def values_per_token(self) -> int:
        return self.layers * 2 * self.kv_heads * self.head_dim

    def nbytes(self, tokens: int, bytes_per_value: int, batch: int = 1) -> int:
        """The formula: ``layers x 2 x kv_heads x head_dim x tokens x bytes`` (x batch)."""
        return self.values_per_token() * tokens * bytes_per_value * batch


def cache_nbytes(cache: Any) -> int:
    """Bytes held by a transformers cache's key and value tensors, read off the tensors themselves.

    Handles ``Cache`` objects with ``layers`` (transformers >= 4.56: ``.keys``/``.values`` each),
    the older ``key_cache``/``value_cache`` lists, and legacy tuples of ``(key, value)`` pairs.
    """
    tensors: list[Any] = []
    if hasattr(cache, "layers"):
        for layer in cache.layers:
            tensors += [getattr(layer, "keys", None), getattr(layer, "values", None)]
    elif hasattr(cache, "key_cache"):
        tensors = [*cache.key_cache, *cache.value_cache]
    elif isinstance(cache, (tuple, list)):
        tensors = [t for pair in cache for t in pair]
    else:
        raise TypeError(f"don't know where {type(cache).__name__} keeps its tensors")
    return sum(int(t.numel()) * int(t.element_size()) for t in tensors if t is not None)


# ------------------------------------------------------------------------------------ clocks
Sync = Callable[[], None]


def _now(cpu: bool) -> float:
    return time.process_time() if cpu else time.perf_counter()


class StepClock:
    """A ``generate`` stopping criterion that never stops: it stamps the time after each new token.

    ``stamps[0] - start`` is the time to first token (the prefill plus one token's choice);
    ``decode_s_per_token`` the mean of the steps after it. ``cpu=True`` reads the process's CPU
    clock (steady on a busy machine when torch runs one thread); ``sync`` waits for the device.
    """

    def __init__(self, sync: Sync | None = None, cpu: bool = False) -> None:
        self.sync = sync or (lambda: None)
        self.cpu = cpu
        self.start = 0.0
        self.stamps: list[float] = []

    def begin(self) -> None:
        self.sync()
        self.stamps = []
        self.start = _now(self.cpu)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        self.sync()
        self.stamps.append(_now(self.cpu))
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    @property
    def first_token_s(self) -> float:
        return self.stamps[0] - self.start

    @property
    def decode_s_per_token(self) -> float:
        """Mean seconds per token after the first (NaN with fewer than two tokens)."""
        if len(self.stamps) < 2:
            return math.nan
        return (self.stamps[-1] - self.stamps[0]) / (len(self.stamps) - 1)


@contextmanager
def module_time(module: Any, sync: Sync | None = None, cpu: bool = False) -> Iterator[list[float]]:
    """Seconds spent in each call of ``module`` while the block runs (forward hooks, removed after)."""
    sync = sync or (lambda: None)
    spans: list[float] = []
    started: list[float] = []

    def pre(*_: Any) -> None:
        sync()
        started.append(_now(cpu))

    def post(*_: Any) -> None:
        sync()
        spans.append(_now(cpu) - started.pop())

    handles = [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        yield spans
    finally:
        for h in handles:
            h.remove()


# ------------------------------------------------------------------------------------ cost models
@dataclass(frozen=True)
class QuadraticFit:
    """Prefill seconds ``t(n) = linear * n + quadratic * n**2`` (least squares, no intercept).

    The linear term is the per-token work (dense layers, the vision tower per page), the
    quadratic one causal attention over the prompt. A coefficient that comes out negative is
    dropped and the other refitted alone (``dropped`` says which), so the model stays physical.
    """

    linear: float
    quadratic: float
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    dropped: str | None = None

    def __call__(self, n: float) -> float:
        return self.linear * n + self.quadratic * n * n

    @property
    def residuals(self) -> list[float]:
        """Relative residuals ``(measured - model) / measured`` at the fitted points."""
        return [(y - self(x)) / y for x, y in zip(self.xs, self.ys)]

    @property
    def attention_length(self) -> float:
        """Prompt length at which the quadratic term equals the linear one (inf if no quadratic term)."""
        return self.linear / self.quadratic if self.quadratic > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "residuals": self.residuals, "attention_length": self.attention_length}


@dataclass(frozen=True)
class LinearFit:
    """Seconds per decoded token ``t(n) = intercept + slope * n`` at context length ``n``.

    The intercept is what every step costs (weights, the LM head), the slope the attention over
    the cache, which is why a smaller cache decodes faster only once the slope term matters.
    """

    intercept: float
    slope: float
    xs: tuple[float, ...]
    ys: tuple[float, ...]

    def __call__(self, n: float) -> float:
        return self.intercept + self.slope * n

    @property
    def residuals(self) -> list[float]:
        return [(y - self(x)) / y for x, y in zip(self.xs, self.ys)]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "residuals": self.residuals}


def _finite_pairs(xs: Sequence[float], ys: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"{len(x)} lengths but {len(y)} times")
    keep = np.isfinite(x) & np.isfinite(y) & (y > 0)
    return x[keep], y[keep]


def fit_prefill(xs: Sequence[float], ys: Sequence[float]) -> QuadraticFit:
    """Least-squares ``b*n + c*n**2`` through measured (prompt tokens, seconds) pairs (two or more)."""
    x, y = _finite_pairs(xs, ys)
    if len(x) < 2:
        raise ValueError(f"a linear + quadratic fit needs two or more points, got {len(x)}")
    (b, c), *_ = np.linalg.lstsq(np.column_stack([x, x * x]), y, rcond=None)
    dropped = None
    if c < 0:  # noise at short lengths: attention not visible yet
        b, c, dropped = float(np.dot(x, y) / np.dot(x, x)), 0.0, "quadratic"
    elif b < 0:
        b, c, dropped = 0.0, float(np.dot(x * x, y) / np.dot(x * x, x * x)), "linear"
    return QuadraticFit(float(b), float(c), tuple(map(float, x)), tuple(map(float, y)), dropped)


def fit_decode(xs: Sequence[float], ys: Sequence[float]) -> LinearFit:
    """Least-squares ``d0 + d1*n`` through (context tokens, seconds per token) pairs (two or more);
    a negative coefficient is dropped as in :func:`fit_prefill`."""
    x, y = _finite_pairs(xs, ys)
    if len(x) < 2:
        raise ValueError(f"a linear fit needs two or more points, got {len(x)}")
    (d0, d1), *_ = np.linalg.lstsq(np.column_stack([np.ones_like(x), x]), y, rcond=None)
    if d1 < 0:  # the context's cost below the noise: a constant per token
        d0, d1 = float(np.mean(y)), 0.0
    elif d0 < 0:
        d0, d1 = 0.0, float(np.dot(x, y) / np.dot(x, x))
    return LinearFit(float(d0), float(d1), tuple(map(float, x)), tuple(map(float, y)))


def break_even(
    text: QuadraticFit,
    pages: QuadraticFit,
    text_tokens: tuple[float, float],
    pages_tokens: tuple[float, float],
) -> float | None:
    """The text length (in text tokens) above which the pages' prefill is the cheaper one.

    Each side's prompt length is affine in the text length ``N``: ``text_tokens = (a, k)``
    means ``a + k*N`` tokens (the template and question add ``a``; ``k`` is 1 for text and
    1/compression for pages). Returns the largest positive ``N`` where the two models cross,
    0.0 when the pages are cheaper at every length, None when they never are.
    """

    def coeffs(fit: QuadraticFit, a: float, k: float) -> np.ndarray:  # fit(a + k N) as c2 N^2 + c1 N + c0
        return np.array([fit.quadratic * k * k, fit.linear * k + 2 * fit.quadratic * a * k, fit(a)])

    diff = coeffs(text, *text_tokens) - coeffs(pages, *pages_tokens)  # > 0 where pages are cheaper
    roots = [r.real for r in np.roots(np.trim_zeros(diff, "f")) if abs(r.imag) < 1e-9 and r.real > 0]
    far = diff[0] if diff[0] != 0 else diff[1] if diff[1] != 0 else diff[2]
    if not roots:
        return 0.0 if far > 0 and np.polyval(diff, 1.0) > 0 else None
    return float(max(roots)) if far > 0 else None
