"""Evaluation: benchmarks (RULER, LongBench, MRCR) x readers x rendering configs.

* :mod:`.ruler` generates RULER's synthetic tasks; :mod:`.longbench` and :mod:`.mrcr` load
  the official records; all produce :class:`Sample` (context rendered, the rest text).
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
from glyph.eval.prompts import load_prompts
from glyph.eval.ruler import RULER_TASKS, generate_ruler, generate_sample
from glyph.eval.runner import Result, evaluate, run_eval
from glyph.eval.sample import Sample, length_label, parse_length, parse_lengths
from glyph.eval.summary import summarize, write_report

__all__ = [
    "METRICS",
    "RULER_TASKS",
    "ExtractReader",
    "Legibility",
    "Result",
    "Sample",
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
    "parse_length",
    "parse_lengths",
    "resolve_reader",
    "run_eval",
    "score",
    "summarize",
    "write_report",
]
