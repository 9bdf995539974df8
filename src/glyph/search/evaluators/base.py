"""Fitness evaluators: a config in, (accuracy, compression) plus details out, behind a registry.

The search only needs two numbers per config and whatever explains them (per-class
accuracy for the LLM proposer's "failures seen"). How they are obtained differs a lot
(OCR on a validation text, RULER tasks with an offline extractor, a VLM on a validation
split), so evaluators are pluggable by name, like readers. An evaluator's ``options`` are
JSON-able and stored with the study, so ``glyph search resume`` rebuilds the same one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glyph.render.config import RenderConfig


class EvaluatorUnavailableError(RuntimeError):
    """An evaluator whose dependency (package, reader, endpoint) is missing; the message says which."""


@dataclass
class Evaluation:
    accuracy: float  # in [0, 1], higher is better
    compression: float  # text tokens per visual token, higher is better
    metrics: dict[str, Any] = field(default_factory=dict)  # JSON-able details (class accuracy, pages, ...)
    cached: bool = False  # nothing was rendered or read to produce it


class Evaluator(ABC):
    """Scores one config. ``cache_dir`` (next to the study) makes a repeated config free."""

    name: str = "evaluator"

    def __init__(self, cache_dir: str | Path | None = None, **options: Any) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.options = options

    @abstractmethod
    def evaluate(self, cfg: RenderConfig) -> Evaluation:
        """Accuracy and compression of ``cfg`` (raise to mark the trial failed)."""

    def describe(self) -> dict[str, Any]:
        """Name and options: what the study stores to rebuild this evaluator on resume."""
        return {"name": self.name, "options": dict(self.options)}

    def close(self) -> None:
        """Release readers or connections."""


EvaluatorFactory = Callable[..., Evaluator]
_REGISTRY: dict[str, tuple[EvaluatorFactory, str]] = {}


def register_evaluator(name: str, factory: EvaluatorFactory, help: str) -> None:
    """Make an evaluator available to ``get_evaluator`` and ``glyph search run --evaluator``."""
    _REGISTRY[name] = (factory, help)


def evaluator_names() -> dict[str, str]:
    _load_builtin()
    return {name: help for name, (_, help) in sorted(_REGISTRY.items())}


def get_evaluator(name: str, cache_dir: str | Path | None = None, **options: Any) -> Evaluator:
    _load_builtin()
    try:
        factory, _ = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown evaluator {name!r}; known evaluators: {', '.join(sorted(_REGISTRY))}") from None
    return factory(cache_dir=cache_dir, **options)


def _load_builtin() -> None:
    import glyph.search.evaluators.fidelity
    import glyph.search.evaluators.ruler
    import glyph.search.evaluators.synthetic  # noqa: F401
