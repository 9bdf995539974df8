"""Fitness evaluators for the rendering search (pluggable by name)."""

from glyph.search.evaluators.base import (
    EVALUATORS,
    Evaluation,
    Evaluator,
    EvaluatorUnavailableError,
    evaluator_names,
    get_evaluator,
    register_evaluator,
)

__all__ = [
    "EVALUATORS",
    "Evaluation",
    "Evaluator",
    "EvaluatorUnavailableError",
    "evaluator_names",
    "get_evaluator",
    "register_evaluator",
]
