"""SFT through TRL's ``SFTTrainer``, with the shared collator and ``GlyphTrainer``'s accounting.

``SFTTrainer`` brings the SFT specifics (entropy and token-accuracy logs, PEFT handling, the
``SFTConfig`` fields); what it would do to the data it is not asked to do: the collator
(:class:`~glyph.train.collate.VisionCollator`) builds the batches, so only assistant tokens carry
labels with exactly the mask CPT uses, and the dataset is a ``datasets`` view over the validated
shards (:meth:`~glyph.train.dataset.RecordDataset.as_hf_dataset`), so nothing is re-tokenised or
copied. ``SFTConfig`` options that would bypass the collator (packing, padding-free batches,
TRL's own masks and truncation) are refused by the recipe (:class:`~glyph.train.sft.spec.SftRecipe`).
"""

from __future__ import annotations

from typing import Any

from trl import SFTTrainer

from glyph.train.trainer import GlyphTrainer

__all__ = ["GlyphSFTTrainer", "SftHooks"]


class GlyphSFTTrainer(GlyphTrainer, SFTTrainer):
    """``SFTTrainer`` with ``GlyphTrainer``'s token accounting and data-order log (MRO: ours first)."""


class SftHooks:
    """SFT in :func:`glyph.train.run.run_training`: whole-record lengths, ``GlyphSFTTrainer``."""

    def record_length(self, recipe: Any, collator: Any) -> Any:
        return collator.length

    def build_trainer(self, recipe: Any, **parts: Any) -> Any:
        collator = parts.pop("collator")
        args = parts["args"]
        args.dataset_kwargs = {**(args.dataset_kwargs or {}), "skip_prepare_dataset": True}
        args.max_length = None  # the collator's max_length (data.max_length) bounds records
        parts["train_dataset"] = parts["train_dataset"].as_hf_dataset()
        if parts.get("eval_dataset") is not None:
            parts["eval_dataset"] = parts["eval_dataset"].as_hf_dataset()
        # TRL's fused LM head already projects only the labelled positions; GlyphTrainer's target-logits
        # loss would make SFTTrainer run a second forward for its metrics, so SFT leaves it off
        return GlyphSFTTrainer(
            **parts, data_collator=collator, image_token_id=collator.image_token_id, target_logits_only=False
        )
