"""Task-level evaluators through ``glyph.eval``: RULER-style probes instead of raw transcription.

* ``ocr-ruler``: ``glyph.eval.legibility_score``, the offline extractor (OCR transcription +
  task rules, no model) on fixed RULER samples. A legibility bound that runs on the CPU and
  weighs what long-context tasks need (digits, UUIDs, names) rather than every character.
  By default five tasks x two lengths x four samples (40 samples, ~1.3 pages each at the
  reference default), read by the layout-free ``ocr-pixels`` reader.
* ``vlm-ruler``: a real reader (a VLM behind an OpenAI-compatible endpoint, a local HF
  model, ...) answering a validation split through ``glyph.eval.evaluate``; accuracy is the
  split's mean task score. Use a validation seed/split disjoint from the one you report.

Both cache the score per (probe hash, render key, reader name + options + revision) next to
the study, so a config seen twice is not rendered or read again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from glyph.render.config import RenderConfig
from glyph.render.keys import render_key
from glyph.search.cache import DiskCache, key_hash
from glyph.search.evaluators.base import Evaluation, Evaluator, EvaluatorUnavailableError

#: The search's fitness tasks: needles of digits and UUIDs in essay text, four keys among essay text, a
#: chain of capitalised names (vt) and word counting (cwe): what a config must keep legible. Left out:
#: ``fwe`` (the offline extractor's counting, not legibility, limits it: ~0.45 at the reference default
#: with every reader) and ``niah_multikey_3`` (its pages are all UUID lines, which the layout-free reader
#: misreads at every config today, see the README); both can be asked for with ``--eval-opt tasks=...``.
DEFAULT_TASKS = ("niah_single_2", "niah_single_3", "niah_multikey_1", "vt", "cwe")
#: Two lengths, so a config is judged on short and long documents (page fill, last-page crop).
DEFAULT_LENGTHS = (2048, 4096)
#: The layout-free reader: it finds the lines from the pixels, as a VLM must, so a config whose lines
#: only the renderer's boxes can tell apart (tight line height) does not win (README, "Line boxes vs
#: lines found from the pixels"). ``--reader ocr`` reads the layout's boxes instead.
DEFAULT_READER = "ocr-pixels"


def _eval() -> Any:
    try:
        import glyph.eval as ev
    except ImportError as exc:  # the eval package is optional at import time of the search
        raise EvaluatorUnavailableError(f"glyph.eval is not importable: {exc}") from exc
    return ev


class _SampleEvaluator(Evaluator):
    """Shared half: a fixed sample set, a reader built once, and a score cache."""

    def __init__(self, cache_dir: str | Path | None, *, reader: str, reader_options: dict[str, Any] | None,
                 tasks: list[str] | tuple[str, ...], lengths: list[int] | tuple[int, ...], samples: int, seed: int,
                 samples_file: str | None, vlm: str, tokenizer: str) -> None:
        super().__init__(cache_dir, reader=reader, reader_options=dict(reader_options or {}), tasks=list(tasks),
                         lengths=[int(n) for n in lengths], samples=samples, seed=seed, samples_file=samples_file,
                         vlm=vlm, tokenizer=tokenizer)
        self.cache = DiskCache(self.cache_dir)
        self._samples: list[Any] | None = None
        self._reader: Any = None
        self._reader_key: str | None = None
        self.score_calls = 0

    @property
    def reader_key(self) -> str:
        """The reader's name, options and ``revision`` (weights, engine, code): a new reader
        behind the same name must not be served the old one's scores."""
        if self._reader_key is None:
            self._reader_key = key_hash(self.options["reader"], self.options["reader_options"], self.reader().revision)
        return self._reader_key

    @property
    def samples(self) -> list[Any]:
        if self._samples is None:
            ev = _eval()
            o = self.options
            if o["samples_file"]:
                from glyph.eval.records import read_records

                self._samples = [ev.Sample.from_dict(r) for r in read_records(o["samples_file"])]
            else:
                self._samples = list(ev.generate_ruler(o["tasks"], o["lengths"], o["samples"], o["seed"], o["tokenizer"]))
            if not self._samples:
                raise ValueError(f"{self.name}: the validation split is empty")
        return self._samples

    def probe_hash(self) -> str:
        payload = json.dumps([s.content_hash for s in self.samples]).encode()
        return hashlib.sha256(payload).hexdigest()[:16]

    def reader(self) -> Any:
        if self._reader is None:
            from glyph.readers import ReaderUnavailableError, get_reader

            try:
                self._reader = get_reader(self.options["reader"], **self.options["reader_options"])
            except (ReaderUnavailableError, ValueError) as exc:
                raise EvaluatorUnavailableError(f"reader {self.options['reader']!r}: {exc}") from exc
        return self._reader

    def evaluate(self, cfg: RenderConfig) -> Evaluation:
        pkey, ckey = self.probe_hash(), render_key(cfg)
        hit = self.cache.get(self.name, pkey, ckey, self.reader_key)
        if hit is not None and "scores" in hit["metrics"]:  # entries from before per-task scores are re-scored
            return Evaluation(hit["accuracy"], hit["compression"], hit["metrics"], cached=True)
        self.score_calls += 1
        accuracy, compression, metrics = self._score(cfg)
        if not compression:
            raise ValueError("no pages rendered: compression undefined")
        self.cache.put(self.name, pkey, ckey, {"accuracy": accuracy, "compression": compression, "metrics": metrics},
                       self.reader_key)
        return Evaluation(accuracy, compression, metrics)

    def _score(self, cfg: RenderConfig) -> tuple[float, float, dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


class OcrRulerEvaluator(_SampleEvaluator):
    name = "ocr-ruler"

    def __init__(self, cache_dir: str | Path | None = None, *, reader: str = DEFAULT_READER,
                 reader_options: dict[str, Any] | None = None, tasks: list[str] | tuple[str, ...] = DEFAULT_TASKS,
                 lengths: list[int] | tuple[int, ...] = DEFAULT_LENGTHS, samples: int = 4, seed: int = 0,
                 samples_file: str | None = None, vlm: str = "glm4v", tokenizer: str = "qwen") -> None:
        super().__init__(cache_dir, reader=reader, reader_options=reader_options, tasks=tasks, lengths=lengths,
                         samples=samples, seed=seed, samples_file=samples_file, vlm=vlm, tokenizer=tokenizer)

    def _score(self, cfg: RenderConfig) -> tuple[float, float, dict[str, Any]]:
        ev = _eval()
        score = ev.legibility_score(self.samples, cfg, self.reader(), vlm=self.options["vlm"],
                                    tokenizer=self.options["tokenizer"])
        return float(score.accuracy), float(score.compression), dict(score.details)


class VlmRulerEvaluator(_SampleEvaluator):
    name = "vlm-ruler"

    def __init__(self, cache_dir: str | Path | None = None, *, reader: str = "openai",
                 reader_options: dict[str, Any] | None = None, tasks: list[str] | tuple[str, ...] = DEFAULT_TASKS,
                 lengths: list[int] | tuple[int, ...] = DEFAULT_LENGTHS, samples: int = 2, seed: int = 1,
                 samples_file: str | None = None, vlm: str = "glm4v", tokenizer: str = "qwen",
                 concurrency: int | None = None) -> None:
        super().__init__(cache_dir, reader=reader, reader_options=reader_options, tasks=tasks, lengths=lengths,
                         samples=samples, seed=seed, samples_file=samples_file, vlm=vlm, tokenizer=tokenizer)
        self.options["concurrency"] = concurrency

    def _score(self, cfg: RenderConfig) -> tuple[float, float, dict[str, Any]]:
        from glyph.eval.summary import scores_by_task, summarize_run

        ev = _eval()
        results = ev.evaluate(self.samples, self.reader(), cfg, vlm=self.options["vlm"],
                              tokenizer=self.options["tokenizer"], concurrency=self.options["concurrency"])
        summary = summarize_run(results)
        errors = [r.error for r in results if r.error]
        if errors and len(errors) == len(results):
            raise RuntimeError(f"every sample failed, e.g. {errors[0]}")
        details = {"by_task": summary.by_task, "scores": scores_by_task(results), "samples": summary.samples,
                   "errors": len(errors),
                   "pages_mean": summary.pages_mean,
                   "failures": [{"id": r.id, "task": r.task, "answers": r.answers, "prediction": r.prediction[:200]}
                                for r in results if r.score < 1.0][:10]}
        return float(summary.accuracy), float(summary.ratio_mean or 0.0), details
