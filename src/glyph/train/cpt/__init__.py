"""Continual pre-training (CPT) on rendered pages: the data engine and the trainer entry point.

Data flows one way: text source -> sampled render config (theme + the paper's parameter table,
rule-filtered) -> rendered pages -> task record (OCR, interleaved LM, generation) -> Parquet shard
-> :func:`glyph.train.run.run_training`.
"""

from glyph.train.cpt.spec import TASKS, CptDataConfig, load_data_config

__all__ = ["TASKS", "CptDataConfig", "load_data_config"]
