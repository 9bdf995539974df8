"""A fitness function for the rendering search: how legible, and how compressed, a config is.

Usage (the search calls this once per candidate config)::

    from glyph.eval.legibility import legibility_probe, legibility_score

    probe = legibility_probe()                     # fixed RULER samples; build once, reuse
    score = legibility_score(probe, cfg)           # OCR + extractor at this config
    score.accuracy, score.compression              # in [0, 1]; text tokens per visual token
    score.details                                  # JSON-able: per task, per length, failures
    accuracy, compression, details = score         # a NamedTuple of these three

* ``accuracy``: mean of the task accuracies of ``ocr-extract`` (OCR transcription, then
  :mod:`glyph.eval.extract`'s rules) on the probe. It is a *legibility bound*, not a model's
  accuracy: how much of the evidence the pixels still carry at ``cfg``.
* ``compression``: mean over the samples of context text tokens / visual tokens for ``vlm``.

Pass ``reader="oracle"`` for a cheap check of the plumbing (accuracy 1.0 by construction),
or any transcribing reader instance. The probe is deterministic for a seed, so scores of
different configs are comparable. Cost: OCR of every page; the default probe (five 4K-token
samples, stressing digits, UUIDs, capital letters and words) is 5-10 pages, about 20-30 s per
config with the ``ocr`` reader on two busy CPU cores; ``legibility_probe(lengths=(2048,))``
takes about two thirds of that. Measured at the reference default: accuracy 1.0, compression
~6.2x (glm4v); at ``dpi=48`` (2K probe): accuracy ~0.47, compression ~13x.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from glyph.eval.extract import ExtractReader
from glyph.eval.ruler import generate_ruler
from glyph.eval.runner import evaluate
from glyph.eval.sample import Sample
from glyph.eval.summary import scores_by_task, summarize_run
from glyph.readers.base import Reader
from glyph.render.config import RenderConfig
from glyph.tokens import TextTokenizer

#: tasks whose answers need exact glyphs: digits (niah_single_2), UUIDs (niah_multikey_3),
#: capital-letter names (vt), listed words (cwe), made-up lowercase codes (fwe)
PROBE_TASKS = ("niah_single_2", "niah_multikey_3", "vt", "cwe", "fwe")


class Legibility(NamedTuple):
    accuracy: float  # in [0, 1], mean of task accuracies
    compression: float  # mean context text tokens / visual tokens
    details: dict[str, Any]  # by_task, by_bucket, ratio_max, pages_mean, samples, failures (first 10)


def legibility_probe(
    lengths: Sequence[int] = (4096,),
    tasks: Sequence[str] = PROBE_TASKS,
    samples: int = 1,
    seed: int = 0,
    tokenizer: TextTokenizer | str = "qwen",
) -> list[Sample]:
    """The fixed RULER samples a search scores every config on."""
    return list(generate_ruler(tasks, lengths, samples, seed, tokenizer))


def legibility_score(
    samples: Sequence[Sample],
    cfg: RenderConfig,
    reader: Reader | str = "ocr",
    *,
    vlm: str = "glm4v",
    tokenizer: TextTokenizer | str = "qwen",
) -> Legibility:
    """(accuracy, compression) of the offline extractor reading ``samples`` rendered with ``cfg``."""
    owned = isinstance(reader, str)
    if isinstance(reader, str):
        extractor = ExtractReader(reader.removesuffix("-extract"))
    elif isinstance(reader, ExtractReader):
        extractor = reader
    elif not reader.answers:
        extractor = ExtractReader(reader)
    else:
        raise ValueError(
            f"legibility_score needs a transcribing reader (ocr, oracle, ...), not {reader.name!r}"
        )
    try:
        results = evaluate(samples, extractor, cfg, vlm=vlm, tokenizer=tokenizer, on_error="raise")
    finally:
        if owned:
            extractor.close()
    if not results:
        raise ValueError("legibility_score needs at least one sample")
    summary = summarize_run(results)
    failures = [
        {"id": r.id, "task": r.task, "answers": r.answers, "prediction": r.prediction[:200]}
        for r in sorted(results, key=lambda r: r.id)
        if r.score < 1.0
    ]
    details = {
        "reader": extractor.name,
        "by_task": summary.by_task,
        "by_bucket": summary.by_bucket,
        "ratio_max": summary.ratio_max,
        "pages_mean": summary.pages_mean,
        "samples": summary.samples,
        "failures": failures[:10],
        "scores": scores_by_task(results),  # per task, so a search can put an interval on the accuracy
    }
    return Legibility(summary.accuracy, summary.ratio_mean or 0.0, details)
