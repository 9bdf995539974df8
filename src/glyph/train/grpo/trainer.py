"""``GlyphGRPOTrainer``: TRL's ``GRPOTrainer`` plus the paper's group filter, data order and reward plots.

TRL 1.16 gives what the paper's GRPO needs -- VLM prompts (``images`` beside conversational
prompts, the processor as ``processing_class``), ``num_generations`` (the group size),
DAPO's clip-higher (``epsilon`` 0.2, ``epsilon_high`` 0.28), ``beta`` (KL to the reference, the
starting checkpoint), ``loss_type``, per-function reward weights and logs, vLLM generation
(``use_vllm``, ``vllm_mode: colocate | server``) or transformers' ``generate`` -- except one thing:
it keeps groups whose rewards are all equal. Their advantages are zero, but their tokens still
count in DAPO's token normaliser and the KL term still pulls on them. The paper discards them.

**The filter** (:func:`zero_variance_groups`): after the rewards of a generation batch are
gathered, each group's weighted reward sum is compared; a group whose scorable rewards are all
equal (or that has fewer than two) is discarded by zeroing its completions' loss mask and
recounting ``num_items_in_batch``, so it adds nothing to the policy loss, the KL term, the
entropy or the normaliser. ``grpo/discarded_groups`` logs the fraction per step (TRL's
``frac_reward_zero_std`` is the same count before the filter). With ``loss_type: grpo`` a
discarded row still counts as a zero in the batch mean, as TRL's all-zero-advantage rows do.
Unlike DAPO's dynamic sampling, no replacement prompts are drawn: a step with many discarded
groups is a smaller step.

**Resume.** TRL's ``RepeatSampler`` draws every epoch's prompt order from one generator seeded
once, so a run resumed after its first epoch would see other prompts than an uninterrupted one;
here each epoch's order is drawn from ``seed + epoch`` (epoch 0 is TRL's own order), which the
``Trainer`` sets on resume as on the first run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler

from glyph.train.callbacks import TRAIN_LOG, read_training_log
from glyph.train.grpo.data import grpo_row, prompt_parts
from glyph.train.trainer import _DataOrderLog

__all__ = ["GlyphGRPOTrainer", "GrpoHooks", "RewardCurvePlot", "plot_rewards", "zero_variance_groups"]

DISCARDED = "grpo/discarded_groups"


def zero_variance_groups(
    rewards_per_func: torch.Tensor, weights: torch.Tensor, group_size: int, atol: float = 1e-6
) -> torch.Tensor:
    """Which groups to discard: one bool per group of ``group_size`` consecutive rows.

    A row's reward is the weighted sum of its functions' rewards (NaN, a function that does not
    apply, counts as absent; a row with no reward at all is unscorable). A group is discarded when
    its scorable rewards span no more than ``atol``, or fewer than two of them are scorable.
    """
    if rewards_per_func.ndim != 2 or rewards_per_func.shape[0] % group_size:
        raise ValueError(
            f"rewards of shape {tuple(rewards_per_func.shape)} do not split into groups of {group_size}"
        )
    total = (rewards_per_func * weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
    total[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
    grouped = total.view(-1, group_size)
    scorable = ~torch.isnan(grouped)
    hi = torch.where(scorable, grouped, -torch.inf).amax(dim=1)
    lo = torch.where(scorable, grouped, torch.inf).amin(dim=1)
    return (scorable.sum(dim=1) < 2) | (hi - lo <= atol)


class EpochSeededRepeatSampler(RepeatSampler):
    """``RepeatSampler`` whose order is a function of (seed, epoch): the same after a resume."""

    def set_epoch(self, epoch: int) -> None:
        if self.shuffle:
            self.generator.manual_seed(int(self.seed or 0) + int(epoch))


class GlyphGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` that discards zero-variance groups and logs which records each step used."""

    def __init__(self, *args: Any, discard_zero_variance: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.discard_zero_variance = discard_zero_variance
        self._gathered_rewards: torch.Tensor | None = None
        self._pending_ids: list[str] = []
        self.add_callback(_DataOrderLog(self))

    def _get_train_sampler(self, dataset: Any = None) -> Any:
        dataset = self.train_dataset if dataset is None else dataset
        return EpochSeededRepeatSampler(
            data_source=dataset,
            mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            shuffle=self.shuffle_dataset,
            seed=self.args.seed,
        )

    def _calculate_rewards(
        self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any
    ) -> Any:
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._gathered_rewards = rewards  # every process's rows, in group order
        return rewards

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        if not self.model.training:
            return out
        ids = [x.get("id") for x in inputs]
        self._pending_ids.extend(
            i for k, i in enumerate(ids) if i is not None and (k == 0 or ids[k - 1] != i)
        )
        rewards, self._gathered_rewards = self._gathered_rewards, None
        if rewards is None:
            return out
        drop = zero_variance_groups(rewards, self.reward_weights, self.num_generations)
        self._metrics["train"][DISCARDED].append(drop.float().mean().item())
        if self.discard_zero_variance and bool(drop.any()):
            rows = drop.repeat_interleave(self.num_generations)
            n = len(inputs)
            start = self.accelerator.process_index * n
            keep = (~rows[start : start + n]).to(out["completion_mask"].device)
            out["completion_mask"] = out["completion_mask"] * keep.unsqueeze(1).to(
                out["completion_mask"].dtype
            )
            mask = (
                out["completion_mask"]
                if "tool_mask" not in out
                else out["completion_mask"] * out["tool_mask"]
            )
            out["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum()
        return out


def plot_rewards(log: str | Path, out: str | Path, title: str | None = None) -> Path:
    """Mean reward per function, the discarded-group fraction and the KL per step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_training_log(log) if "reward" in r]
    if not rows:
        raise ValueError(f"{log}: no rewards logged yet")
    steps = [r["step"] for r in rows]
    names = sorted({k for r in rows for k in r if k.startswith("rewards/") and k.endswith("/mean")})
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(steps, [r["reward"] for r in rows], color="black", lw=2, label="weighted sum")
    for name in names:
        axes[0].plot(steps, [r.get(name) for r in rows], marker="o", ms=2, label=name.split("/")[1])
    axes[0].set(xlabel="step", ylabel="mean reward", title="rewards")
    axes[0].legend(fontsize=8)
    for ax, key, label in (
        (axes[1], DISCARDED, "groups discarded (zero variance)"),
        (axes[2], "kl", "KL to reference"),
    ):
        vals = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if vals:
            ax.plot(*zip(*vals), marker="o", ms=2, color="tab:red" if key == DISCARDED else "tab:purple")
        else:  # e.g. beta 0: TRL logs no KL
            ax.text(
                0.5, 0.5, f"not logged ({key})", ha="center", va="center", transform=ax.transAxes, color="0.4"
            )
        ax.set(xlabel="step", title=label)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title or str(Path(log).parent.name))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return Path(out)


class RewardCurvePlot(TrainerCallback):
    """Draws ``OUTPUT_DIR/reward_curve.png`` from the JSONL log when training ends."""

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        log = Path(args.output_dir) / TRAIN_LOG
        if state.is_world_process_zero and log.exists():
            try:
                plot_rewards(log, Path(args.output_dir) / "reward_curve.png")
            except ValueError:
                pass


class GrpoHooks:
    """GRPO in :func:`glyph.train.run.run_training`: prompt-length filter, reward functions, the trainer."""

    def record_length(self, recipe: Any, collator: Any) -> Any:
        from trl import GRPOConfig

        budget = int(recipe.training.get("max_completion_length", GRPOConfig.max_completion_length))

        def length(record: Any) -> int:
            prompt_parts(record)  # refuse what grpo_row would, when the shards are scanned
            return collator.prompt_length(record) + budget

        return length

    def build_trainer(self, recipe: Any, **parts: Any) -> Any:
        from glyph.train.grpo.spec import build_rewards

        collator = parts.pop("collator")
        # TRL left-pads prompt ids and expects the processor's per-token outputs (mm_token_type_ids) padded
        # the same way; a right-padding processor misaligns M-RoPE positions when prompt lengths differ
        parts["processing_class"].tokenizer.padding_side = "left"
        funcs, weights = build_rewards(recipe, stop_ids=collator.facts.stop_ids)
        args = parts.pop("args")
        args.reward_weights = weights
        parts["train_dataset"] = parts["train_dataset"].as_hf_dataset(grpo_row)
        if parts.get("eval_dataset") is not None:
            parts["eval_dataset"] = parts["eval_dataset"].as_hf_dataset(grpo_row)
        parts["callbacks"] = [*parts["callbacks"], RewardCurvePlot()]
        (Path(args.output_dir) / "rewards.json").parent.mkdir(parents=True, exist_ok=True)
        described = [
            {"name": f.__name__, "weight": w, "kind": type(f).__name__} for f, w in zip(funcs, weights)
        ]
        (Path(args.output_dir) / "rewards.json").write_text(json.dumps(described, indent=2))
        return GlyphGRPOTrainer(
            reward_funcs=funcs, args=args, discard_zero_variance=recipe.grpo.discard_zero_variance, **parts
        )
