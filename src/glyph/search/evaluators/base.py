"""Fitness evaluators: a config in, (accuracy, compression) plus details out, behind a registry.

The search only needs two numbers per config and whatever explains them (per-class
accuracy for the LLM proposer's "failures seen"). How they are obtained differs a lot
(OCR on a validation text, RULER tasks with an offline extractor, a VLM on a validation
split), so evaluators are pluggable by name, like readers, through the same lazy registry
(:mod:`glyph.registry`): the built-in ones are named below as ``"module:class"`` strings and
imported on first use. An evaluator's ``options`` are JSON-able and stored with the study, so
``glyph search resume`` rebuilds the same one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glyph.registry import Registry
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

#: Every evaluator by name; plugins may also declare a "glyph.evaluators" entry point.
EVALUATORS: Registry[Evaluator] = Registry(
    "evaluator", base=Evaluator, unavailable=EvaluatorUnavailableError, group="glyph.evaluators"
)
EVALUATORS.builtin(
    "ocr-fidelity",
    "glyph.search.evaluators.fidelity:OcrFidelityEvaluator",
    "render a validation text, transcribe it with a reader (default: offline OCR), score char accuracy",
)
EVALUATORS.builtin(
    "ocr-ruler",
    "glyph.search.evaluators.ruler:OcrRulerEvaluator",
    "glyph.eval's offline legibility score: OCR + task-rule extractor on fixed RULER samples (CPU)",
)
EVALUATORS.builtin(
    "vlm-ruler",
    "glyph.search.evaluators.ruler:VlmRulerEvaluator",
    "a VLM reader (e.g. --reader openai) on a RULER validation split through glyph.eval's runner",
)
EVALUATORS.builtin(
    "synthetic",
    "glyph.search.evaluators.synthetic:SyntheticEvaluator",
    "analytic stand-in (no rendering, no reader) for dry runs and tests",
)


def register_evaluator(name: str, factory: EvaluatorFactory | str, help: str) -> None:
    """Make an evaluator available to ``get_evaluator`` and ``glyph search run --evaluator``:
    a factory (usually the class) or a ``"module:attr"`` string imported on first use."""
    EVALUATORS.register(name, factory, help)


def evaluator_names() -> dict[str, str]:
    """Registered evaluator names and one line of help each (imports no evaluator)."""
    return EVALUATORS.names()


def get_evaluator(name: str, cache_dir: str | Path | None = None, **options: Any) -> Evaluator:
    """Build an evaluator by name; ``options`` are its keyword arguments (stored with the study)."""
    return EVALUATORS.create(name, cache_dir=cache_dir, **options)
