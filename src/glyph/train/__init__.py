"""Training VLMs to read rendered pages: records, collation, model loading, recipes, trainers.

The stages of the published method share one foundation here:

* :mod:`~glyph.train.records` -- the record format (``images`` + ``messages`` with image/text
  parts, as TRL and chat templates take them) and its validation;
* :mod:`~glyph.train.shards` -- Parquet shards of records (images inline, ``datasets``-readable);
* :mod:`~glyph.train.collate` -- records -> batches whose labels mark exactly the target text;
* :mod:`~glyph.train.models` -- checkpoint loading (dtype, LoRA, gradient checkpointing);
* :mod:`~glyph.train.recipes` -- YAML recipes -> ``TrainingArguments``, validated;
* :mod:`~glyph.train.dataset`, :mod:`~glyph.train.trainer`, :mod:`~glyph.train.callbacks` --
  shard datasets, the ``Trainer`` subclass (token accounting) and logging callbacks;
* :mod:`~glyph.train.cpt` -- continual pre-training: the data engine (tasks x themes) and its trainer;
* :mod:`~glyph.train.sft` -- supervised fine-tuning (TRL's ``SFTTrainer``): examples rendered into
  records with OCR auxiliary records mixed in; :mod:`~glyph.train.synthetic` makes such examples
  from the RULER generators;
* :mod:`~glyph.train.grpo` -- GRPO (TRL's ``GRPOTrainer``) with zero-variance groups discarded;
  its rewards in :mod:`~glyph.train.rewards` (accuracy, thinking format, OCR) and
  :mod:`~glyph.train.judge` (a reference-based LLM judge on any OpenAI-compatible endpoint).

Heavy dependencies (torch, transformers, peft) load only when a module that needs them is used.
"""

from glyph.train.records import ImagePart, Message, Record, RecordError, TextPart, record_from_row

__all__ = ["ImagePart", "Message", "Record", "RecordError", "TextPart", "record_from_row"]
