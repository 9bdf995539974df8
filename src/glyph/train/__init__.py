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
* :mod:`~glyph.train.cpt` -- continual pre-training: the data engine (tasks x themes) and its trainer.

Heavy dependencies (torch, transformers, peft) load only when a module that needs them is used.
"""

from glyph.train.records import ImagePart, Message, Record, RecordError, TextPart, record_from_row

__all__ = ["ImagePart", "Message", "Record", "RecordError", "TextPart", "record_from_row"]
