"""GRPO reinforcement learning on rendered pages: TRL's ``GRPOTrainer`` with the paper's settings.

* :mod:`~glyph.train.grpo.spec` -- the GRPO recipe: reward functions with weights, the LLM judge;
* :mod:`~glyph.train.grpo.data` -- records -> prompts (page images + question) with their references;
* :mod:`~glyph.train.grpo.trainer` -- the trainer: groups with zero reward variance discarded,
  rewards per function and the discarded fraction logged, the reward curve drawn.

The reward functions themselves live in :mod:`glyph.train.rewards` and :mod:`glyph.train.judge`.
"""
