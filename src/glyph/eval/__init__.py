"""Evaluation: benchmarks (RULER, LongBench, MRCR) x readers x rendering configs.

* :mod:`.ruler` generates RULER's synthetic tasks (:mod:`.ruler_qa` its QA tasks);
  :mod:`.ruler_data` loads RULER's own prepared data and Glyph's RULER set; :mod:`.longbench`
  and :mod:`.mrcr` load the official records (and Glyph's preprocessed copies); all produce
  :class:`Sample` (context rendered, the rest text).
* :mod:`.official` loads the official prompt files the user points to (LongBench's
  ``dataset2prompt.json`` / ``dataset2maxlen.json``, Glyph's page prompts, RULER's templates);
  :mod:`.truncate` is LongBench's middle truncation; :mod:`.postprocess` the official
  prediction clean-ups; :mod:`.provenance` what produced a run's inputs.
* :mod:`.metrics` holds the official metrics; :mod:`.prompts` the replaceable wording.
* :mod:`.runner` evaluates (resumable JSONL); :mod:`.summary` writes report and plots.
* :mod:`.extract` is the offline, model-free extractor (``<reader>-extract``: a legibility
  bound) and :mod:`.legibility` turns it into a fitness function for the rendering search.
"""

from glyph.eval.extract import ExtractReader, extract_answer, resolve_reader
from glyph.eval.legibility import Legibility, legibility_probe, legibility_score
from glyph.eval.longbench import load_longbench
from glyph.eval.metrics import METRICS, score
from glyph.eval.mrcr import load_mrcr
from glyph.eval.official import LongBenchPromptFiles, RulerTemplates
from glyph.eval.postprocess import clean_prediction
from glyph.eval.prompts import load_prompts
from glyph.eval.provenance import Provenance
from glyph.eval.ruler import QA_TASKS, RULER_TASKS, generate_ruler, generate_sample
from glyph.eval.ruler_data import load_ruler_data
from glyph.eval.runner import Result, evaluate, run_eval
from glyph.eval.sample import Sample, length_label, parse_length, parse_lengths
from glyph.eval.summary import summarize, write_report
from glyph.eval.truncate import middle_truncate

__all__ = [
    "METRICS",
    "QA_TASKS",
    "RULER_TASKS",
    "ExtractReader",
    "Legibility",
    "LongBenchPromptFiles",
    "Provenance",
    "Result",
    "RulerTemplates",
    "Sample",
    "clean_prediction",
    "evaluate",
    "extract_answer",
    "generate_ruler",
    "generate_sample",
    "legibility_probe",
    "legibility_score",
    "length_label",
    "load_longbench",
    "load_mrcr",
    "load_prompts",
    "load_ruler_data",
    "middle_truncate",
    "parse_length",
    "parse_lengths",
    "resolve_reader",
    "run_eval",
    "score",
    "summarize",
    "write_report",
]
