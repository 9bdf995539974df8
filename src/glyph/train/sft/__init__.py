"""Supervised fine-tuning on rendered pages: TRL's ``SFTTrainer`` on VLM conversations.

* :mod:`~glyph.train.sft.data` -- ``{context, question, answer[, thinking]}`` -> records on pages,
  with OCR auxiliary records mixed in;
* :mod:`~glyph.train.synthetic` -- such examples from the project's RULER generators (no download);
* :mod:`~glyph.train.sft.trainer` -- the trainer (the shared collator's label mask, token accounting).
"""
