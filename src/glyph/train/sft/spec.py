"""The SFT recipe: a CPT recipe's sections, ``training:`` filling TRL's ``SFTConfig``."""

from __future__ import annotations

from pydantic import model_validator

from glyph.train.recipes import Recipe

__all__ = ["COLLATOR_OWNED", "SftRecipe"]

#: SFTConfig fields whose job the collator does (or that would undo its mask); a recipe may not set them.
COLLATOR_OWNED = {
    "packing": "packing mixes records in one sequence; vision records cannot be packed",
    "padding_free": "padding-free batches need TRL's own collator",
    "assistant_only_loss": "the collator already labels assistant tokens only",
    "completion_only_loss": "the collator already labels assistant tokens only",
    "max_length": "records longer than data.max_length are left out when the shards are opened",
    "dataset_text_field": "records are conversations, not a text column",
}


class SftRecipe(Recipe):
    """A CPT recipe's sections; ``training`` fills TRL's ``SFTConfig`` (minus :data:`COLLATOR_OWNED`)."""

    @model_validator(mode="after")
    def _collator_owned(self) -> SftRecipe:
        for key, why in COLLATOR_OWNED.items():
            if key in self.training:
                raise ValueError(f"training.{key}: not used by glyph's SFT ({why})")
        return self
