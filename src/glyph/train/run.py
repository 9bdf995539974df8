"""Run a recipe: arguments, processor, collator, dataset, model, ``GlyphTrainer``, resume, final save.

Every stage (CPT here; SFT and GRPO beside it) goes through :func:`run_training`, so checkpoints,
logs and resume behave the same. Order matters for DeepSpeed ZeRO-3: ``TrainingArguments`` are
built before the model, so weights are created already sharded.

What differs per stage is two hooks (``STAGES[stage].hooks`` in :mod:`glyph.train.recipes`): how
long a record is for the ``max_length`` filter (the whole record; for GRPO its prompt plus the
completion budget) and which trainer gets the model, data and collator (:class:`CptHooks`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from glyph.train.dataset import RecordDataset, ScanReport
from glyph.train.recipes import Recipe, stage_object, training_arguments

__all__ = ["CptHooks", "TrainResult", "find_checkpoint", "run_training"]

SKIPPED = "skipped_records.jsonl"


@dataclass
class TrainResult:
    output_dir: Path
    global_step: int
    train_loss: float | None
    scan: ScanReport
    resumed_from: str | None
    final_dir: Path | None


def find_checkpoint(output_dir: str | Path, resume: str | bool | None) -> str | None:
    """The checkpoint to resume: ``"auto"``/True: the last one in ``output_dir`` if any; a path: that one."""
    from transformers.trainer_utils import get_last_checkpoint

    if resume in (None, False, "never", "no"):
        return None
    if resume in (True, "auto", "last"):
        out = Path(output_dir)
        return get_last_checkpoint(str(out)) if out.is_dir() else None
    path = Path(str(resume))
    if not (path / "trainer_state.json").is_file():
        raise ValueError(f"resume: {path} is not a Trainer checkpoint (no trainer_state.json)")
    return str(path)


class CptHooks:
    """CPT: records are as long as the collator counts them; ``GlyphTrainer`` trains on the batches."""

    def record_length(self, recipe: Recipe, collator: Any) -> Any:
        return collator.length

    def build_trainer(self, recipe: Recipe, **parts: Any) -> Any:
        from glyph.train.trainer import GlyphTrainer

        collator = parts.pop("collator")
        return GlyphTrainer(
            **parts,
            data_collator=collator,
            image_token_id=collator.image_token_id,
            target_logits_only=recipe.loss.target_logits_only,
        )


def run_training(
    recipe: Recipe,
    *,
    resume: str | bool | None = "auto",
    callbacks: Sequence[Any] = (),
    save_final: bool = True,
) -> TrainResult:
    """Train as the recipe says; ``resume="auto"`` continues from the last checkpoint of ``output_dir``."""
    from glyph.train.callbacks import JsonlLogger, LossCurvePlot
    from glyph.train.collate import VisionCollator
    from glyph.train.models import load_model, load_processor

    hooks = stage_object(recipe.stage, "hooks")()
    if not recipe.data.shards:
        raise ValueError("recipe data.shards: no shards given (pass --data DIR or set data.shards)")
    args = training_arguments(recipe)
    out = Path(args.output_dir)
    checkpoint = find_checkpoint(out, resume)
    try:
        processor = load_processor(recipe.model.path, trust_remote_code=recipe.model.trust_remote_code)
    except OSError as exc:
        raise ValueError(f"model.path: cannot load the processor of {recipe.model.path!r}: {exc}") from exc
    collator = VisionCollator.from_pretrained(
        recipe.model.path,
        processor,
        max_length=recipe.data.max_length,
        eos_loss=recipe.collator.eos_loss,
        pad_to_multiple_of=recipe.collator.pad_to_multiple_of,
        return_record_ids=recipe.collator.log_record_ids,
    )
    with args.main_process_first(desc="scanning shards"):
        dataset, scan = RecordDataset.from_shards(
            recipe.data.shards,
            length=hooks.record_length(recipe, collator),
            max_length=recipe.data.max_length,
            tasks=recipe.data.tasks,
            check_images=recipe.data.check_images,
        )
    eval_dataset = None
    if recipe.data.eval_shards:
        eval_dataset, _ = RecordDataset.from_shards(
            recipe.data.eval_shards,
            length=hooks.record_length(recipe, collator),
            max_length=recipe.data.max_length,
        )
    if args.process_index == 0:
        out.mkdir(parents=True, exist_ok=True)
        with (out / SKIPPED).open("w", encoding="utf-8") as f:
            for err in scan.errors:
                f.write(json.dumps({"id": err.record_id, "where": err.where, "reason": err.reason}) + "\n")
        (out / "recipe.yaml").write_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
    if not len(dataset):
        raise ValueError(f"no usable records in {', '.join(recipe.data.shards)}: {scan.summary()}")
    model = load_model(recipe.model)
    trainer = hooks.build_trainer(
        recipe,
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        collator=collator,
        processing_class=processor,
        callbacks=[JsonlLogger(), LossCurvePlot(), *callbacks],
    )
    result = trainer.train(resume_from_checkpoint=checkpoint)
    final = None
    if save_final:
        final = out / "final"
        trainer.save_model(str(final))
        if trainer.is_world_process_zero():
            processor.save_pretrained(str(final))
    return TrainResult(
        out, trainer.state.global_step, getattr(result, "training_loss", None), scan, checkpoint, final
    )
