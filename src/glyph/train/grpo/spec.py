"""The GRPO recipe: a :class:`~glyph.train.recipes.Recipe` plus its rewards, judge and group filter.

::

    stage: grpo
    rewards:                       # summed with their weights into the reward GRPO normalises per group
      - {kind: judge}              # accuracy by the reference-based LLM judge (needs judge:)
      - {kind: format}             # the thinking format (<think>...</think> then an answer)
      - {kind: ocr}                # OCR rows: 1 - normalised Levenshtein to the page text
    judge: {base_url: http://localhost:8001/v1, model: judge}
    grpo: {discard_zero_variance: true}
    training: {num_generations: 16, epsilon: 0.2, epsilon_high: 0.28, beta: 0.001, ...}   # GRPOConfig

``kind: accuracy`` scores with an official metric instead of a judge (``metric: qa_f1``, or each
row's own metric; ``threshold`` makes it 0/1). ``tasks`` limits a reward to records of those tasks
(default: OCR rewards on ``ocr`` records, the others on every other task).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from glyph.train.judge import JudgeSpec
from glyph.train.recipes import Recipe

__all__ = ["GrpoRecipe", "GrpoSpec", "RewardSpec", "build_rewards"]


class RewardSpec(BaseModel):
    """One reward function and its weight in the sum."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["accuracy", "judge", "format", "ocr"]
    weight: float = Field(1.0, ge=0)
    name: str | None = Field(None, description="the name its logs carry (default: the kind)")
    metric: str | None = Field(None, description="accuracy: a glyph.eval.metrics name; None: each row's own")
    threshold: float | None = Field(None, gt=0, le=1, description="accuracy: 1.0 iff the score reaches it")
    tasks: list[str] | None = Field(None, description="score only records of these tasks")


#: Accuracy by each record's own metric (0/1), the thinking format, OCR: rewards that need no judge server.
DEFAULT_REWARDS = (
    RewardSpec(kind="accuracy", threshold=1.0),
    RewardSpec(kind="format"),
    RewardSpec(kind="ocr"),
)


class GrpoSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    discard_zero_variance: bool = Field(
        True, description="drop groups whose rewards are all equal (all 0 or all 1) from the loss"
    )


class GrpoRecipe(Recipe):
    rewards: list[RewardSpec] = Field(default_factory=lambda: list(DEFAULT_REWARDS))
    judge: JudgeSpec | None = None
    grpo: GrpoSpec = Field(default_factory=GrpoSpec)

    @model_validator(mode="after")
    def _check(self) -> GrpoRecipe:
        if not self.rewards:
            raise ValueError("rewards: at least one reward function is needed")
        if any(r.kind == "judge" for r in self.rewards) and self.judge is None:
            raise ValueError("rewards: kind 'judge' needs a judge: {base_url: ...} section")
        names = [r.name or r.kind for r in self.rewards]
        if len(set(names)) != len(names):
            raise ValueError(f"rewards: names must differ (logs are kept per name), got {names}")
        if "reward_weights" in self.training:
            raise ValueError("training.reward_weights: set each reward's weight under rewards: instead")
        return self


def build_rewards(recipe: GrpoRecipe, stop_ids: Collection[int] = ()) -> tuple[list[Any], list[float]]:
    """The reward callables TRL calls, and their weights."""
    from glyph.train.rewards import AccuracyReward, FormatReward, JudgeReward, OcrReward

    judge = None
    funcs: list[Any] = []
    for spec in recipe.rewards:
        name = spec.name or spec.kind
        if spec.kind == "accuracy":
            funcs.append(AccuracyReward(spec.metric, spec.threshold, tasks=spec.tasks, name=name))
        elif spec.kind == "format":
            funcs.append(FormatReward(stop_ids, tasks=spec.tasks, name=name))
        elif spec.kind == "ocr":
            funcs.append(OcrReward(tasks=spec.tasks, name=name))
        else:
            from glyph.train.judge import LlmJudge

            assert recipe.judge is not None  # checked by the recipe
            judge = judge or LlmJudge(recipe.judge)
            funcs.append(JudgeReward(judge, tasks=spec.tasks, name=name))
    return funcs, [spec.weight for spec in recipe.rewards]
