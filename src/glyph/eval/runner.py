"""The evaluation runner: samples x reader x rendering config -> one JSONL record per sample.

Three ways a reader is asked, picked by what it declares it consumes (``reader.consumes``,
:class:`glyph.readers.Consumes`):

* ``text``: the text baseline gets ``aanswer_text(instruction + context, question,
  prompt_format=...)``: joined as the sample's joiner says they are the sample's text prompt byte
  for byte, sent with or without the chat template and with the stop strings the benchmark
  gives the task (LongBench's ``pred.py``); nothing is rendered;
* ``sample``: the offline extractor gets ``answer_sample(sample, pages)``;
* ``pages``: a VLM gets ``aanswer(pages, instruction + question)`` in the chat format, for every
  task: Glyph's own evaluation (``post_api_longbench.py --use_image``) sends every LongBench task,
  the raw-prompt ones included, as a chat turn of images and text, with no stop strings.

A reader that only transcribes (``answers = False``: ``ocr``, ``oracle``) is refused with a
pointer to its ``-extract`` wrapper (:func:`glyph.eval.extract.resolve_reader`).

Runs are resumable: each finished sample is appended and fsynced at once, and a restart
skips samples already recorded for the same reader (name and ``revision``: a new default
``ocr`` or new weights behind a name are redone), config hash and sample content (so new
prompt wording is redone, not mixed in). Errors from a reader are recorded (and retried on
the next run); Ctrl-C stops at once and loses only the samples in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from glyph.eval.metrics import score
from glyph.eval.postprocess import clean_prediction, postprocess_name
from glyph.eval.provenance import Provenance
from glyph.eval.sample import Sample
from glyph.measure.compression import measure_compression
from glyph.readers.base import Consumes, Reader, ReaderAnswer
from glyph.render.config import RenderConfig
from glyph.tokens import TextTokenizer, get_tokenizer, get_vlm_rule

Mode = Literal["pages", "text", "sample"]
RESULTS = "results.jsonl"
RUNS = "runs.json"
TEXT_CONFIG = "text"  # the config hash recorded for text-mode runs (nothing is rendered)
_METRIC_KWARGS = ("all_classes", "random_string_to_prepend")


@dataclass
class Result:
    """One sample's outcome: what the JSONL holds, one object per line."""

    id: str
    task: str
    benchmark: str
    bucket: str
    length: int
    reader: str
    mode: str
    config_hash: str
    sample_hash: str
    metric: str
    prediction: str
    answers: list[str]
    score: float
    text_tokens: int | None  # tokens of the context (what the pages replace)
    prompt_tokens: int | None  # tokens of the whole text prompt
    visual_tokens: int | None = None  # tokens the pages cost ``vlm``
    ratio: float | None = None  # text_tokens / visual_tokens
    pages: int | None = None
    vlm: str | None = None
    seconds: float = 0.0  # the reader's time
    render_seconds: float = 0.0
    usage: dict[str, int | None] = field(default_factory=dict)
    error: str | None = None
    finished: float = 0.0  # unix time
    inputs: str | None = None  # fingerprint of the run's Provenance (None: not recorded)
    max_new_tokens: int | None = None  # the generation budget the reader was given
    reader_revision: str | None = None  # the reader's identity (Reader.revision): weights, engine, code

    def key(self) -> tuple[str, str, str, str]:
        return (self.id, self.reader, self.config_hash, self.sample_hash)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def reader_mode(reader: Reader) -> Mode:
    """How the runner asks this reader: what it declares it consumes (see the module docstring)."""
    if not reader.answers:
        raise ValueError(
            f"reader {reader.name!r} transcribes but does not answer questions: evaluate "
            f"{reader.name + '-extract'!r} (its transcription plus rule-based extraction) or a VLM reader"
        )
    return reader.consumes.value  # type: ignore[return-value]


def score_sample(sample: Sample, prediction: str) -> float:
    """The sample's official metric on ``prediction``, in [0, 1], after the benchmark's clean-up."""
    kwargs = {k: sample.metadata[k] for k in _METRIC_KWARGS if sample.metadata.get(k) is not None}
    cleaned = clean_prediction(prediction, postprocess_name(sample.benchmark, sample.metadata))
    return score(sample.metric, cleaned, sample.answers, task=sample.task, **kwargs)


@dataclass
class EvalSettings:
    """Everything about a run except the samples."""

    reader: Reader
    cfg: RenderConfig
    reader_name: str = ""
    vlm: str = "glm4v"
    tokenizer: TextTokenizer | str = "qwen"
    system: str | None = None
    max_new_tokens: int | None = None  # one budget for every sample (Glyph: 8192, it thinks first)
    provenance: Provenance | None = None
    sample_configs: bool = True  # apply a sample's own rendering keys (Glyph's records) over cfg

    def __post_init__(self) -> None:
        self.reader_name = self.reader_name or self.reader.name
        self.reader_revision = self.reader.revision
        self.mode: Mode = reader_mode(self.reader)
        self.tok: TextTokenizer = get_tokenizer(self.tokenizer)
        self.vlm = get_vlm_rule(self.vlm).name
        self.config_hash = TEXT_CONFIG if self.mode == "text" else self.cfg.content_hash()
        self.inputs = self.provenance.fingerprint(self.mode) if self.provenance else None
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive number of tokens, got {self.max_new_tokens}")
        self._configs: dict[str, RenderConfig] = {}

    def budget(self, sample: Sample) -> int:
        """How many tokens the reader may generate for ``sample``."""
        return self.max_new_tokens or sample.max_new_tokens

    def config_for(self, sample: Sample) -> RenderConfig:
        """The run's config with the sample's own rendering keys applied (cached per distinct keys)."""
        if not (self.sample_configs and sample.render):
            return self.cfg
        key = json.dumps(sample.render, sort_keys=True)
        if key not in self._configs:
            try:
                self._configs[key] = self.cfg.with_updates(**sample.render)
            except ValueError as exc:
                raise ValueError(f"sample {sample.id}: its rendering config is not valid: {exc}") from None
        return self._configs[key]


async def _ask(s: EvalSettings, sample: Sample, pages: list[Any]) -> ReaderAnswer:
    reader = s.reader
    budget = s.budget(sample)
    if reader.consumes is Consumes.TEXT:
        text, question = sample.text_reader_parts()
        return await reader.aanswer_text(
            text, question, system=s.system, max_tokens=budget, prompt_format=sample.prompt_format()
        )
    if reader.consumes is Consumes.SAMPLE:
        return await asyncio.to_thread(reader.answer_sample, sample, pages)
    return await reader.aanswer(pages, sample.page_prompt(), system=s.system, max_tokens=budget)


async def evaluate_one(sample: Sample, s: EvalSettings, on_error: str = "record") -> Result:
    """Render (unless text mode), ask, score. Reader errors become a recorded error (score 0)."""
    result = Result(
        id=sample.id,
        task=sample.task,
        benchmark=sample.benchmark,
        bucket=sample.bucket,
        length=sample.length,
        reader=s.reader_name,
        reader_revision=s.reader_revision,
        mode=s.mode,
        config_hash=s.config_hash,
        sample_hash=sample.content_hash,
        metric=sample.metric,
        prediction="",
        answers=list(sample.answers),
        score=0.0,
        text_tokens=None,
        prompt_tokens=sample.metadata.get("prompt_tokens"),
        inputs=s.inputs,
        max_new_tokens=s.budget(sample),
    )
    pages: list[Any] = []
    try:
        if s.mode == "text":
            result.text_tokens = await asyncio.to_thread(s.tok.count, sample.context)
        else:
            report, pages = await asyncio.to_thread(
                measure_compression, sample.context, s.config_for(sample), [s.vlm], s.tok, True
            )
            cost = report.costs[s.vlm]
            result.text_tokens, result.visual_tokens, result.ratio = (
                report.text_tokens,
                cost.visual_tokens,
                cost.ratio,
            )
            result.pages, result.vlm, result.render_seconds = report.pages, s.vlm, report.render_seconds
        start = time.perf_counter()
        answer = await _ask(s, sample, pages)
        result.seconds = answer.seconds or (time.perf_counter() - start)
        result.prediction = answer.text
        result.usage = {
            "prompt_tokens": answer.usage.prompt_tokens,
            "completion_tokens": answer.usage.completion_tokens,
        }
        result.score = score_sample(sample, answer.text)
    except Exception as exc:
        if on_error == "raise":
            raise
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        pages.clear()  # a 1M-token sample's pages are large: drop them before the next sample
    result.finished = time.time()
    return result


async def _evaluate_stream(
    samples: Iterable[Sample],
    s: EvalSettings,
    concurrency: int,
    skip: Callable[[Sample], bool],
    sink: Callable[[Result], None],
    on_skip: Callable[[Sample], None],
    on_error: str,
) -> None:
    """At most ``concurrency`` samples rendered or being answered at once; samples made lazily."""
    sem = asyncio.Semaphore(max(1, concurrency))
    it: Iterator[Sample] = iter(samples)
    end = object()
    tasks: set[asyncio.Task[None]] = set()

    async def one(sample: Sample) -> None:
        try:
            sink(await evaluate_one(sample, s, on_error))
        finally:
            sem.release()

    try:
        while True:
            await sem.acquire()
            sample = await asyncio.to_thread(next, it, end)  # a 1M-token sample takes a while to make
            if sample is end:
                sem.release()
                break
            assert isinstance(sample, Sample)
            if skip(sample):
                sem.release()
                on_skip(sample)
                continue
            tasks.add(asyncio.create_task(one(sample)))
            for done in [t for t in tasks if t.done()]:
                tasks.discard(done)
                done.result()  # surface errors (on_error="raise") early
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await s.reader.aclose()  # connection pools opened on this run's event loop end with it


def evaluate(
    samples: Iterable[Sample],
    reader: Reader,
    cfg: RenderConfig,
    *,
    reader_name: str = "",
    vlm: str = "glm4v",
    tokenizer: TextTokenizer | str = "qwen",
    system: str | None = None,
    concurrency: int | None = None,
    on_error: str = "record",
    max_new_tokens: int | None = None,
    provenance: Provenance | None = None,
) -> list[Result]:
    """Evaluate in memory (no files): the results, in completion order."""
    s = EvalSettings(reader, cfg, reader_name, vlm, tokenizer, system, max_new_tokens, provenance)
    out: list[Result] = []
    n = concurrency or reader.eval_concurrency
    asyncio.run(_evaluate_stream(samples, s, n, lambda _: False, out.append, lambda _: None, on_error))
    return out


# ----------------------------------------------------------------------------- files


def read_results(path: Path) -> list[Result]:
    """Every record of a results file (a torn last line from a crash is ignored)."""
    if not path.is_file():
        return []
    out: list[Result] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                out.append(Result.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue
    return out


class _Appender:
    """Appends one JSON line per result and fsyncs it: a crash loses nothing already written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair(path)
        self.fh = path.open("a", encoding="utf-8")

    @staticmethod
    def _repair(path: Path) -> None:
        # a crash mid-write leaves a line without its newline: end it so the next record starts clean
        if path.is_file() and path.stat().st_size:
            with path.open("rb+") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")

    def write(self, result: Result) -> None:
        self.fh.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


@dataclass
class RunOutcome:
    out_dir: Path
    new: list[Result]
    skipped: int


def _secret(key: str) -> bool:
    return any(word in key.lower() for word in ("key", "token", "secret", "password"))


def record_run(out_dir: Path, s: EvalSettings, meta: dict[str, Any]) -> None:
    """Keep what a run was (reader, options without secrets, config) in runs.json, one entry per run key."""
    path = out_dir / RUNS
    runs = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    options = {k: ("***" if _secret(k) else v) for k, v in (meta.pop("reader_options", None) or {}).items()}
    key = f"{s.reader_name}@{s.config_hash}" + (f"@{s.inputs}" if s.inputs else "")
    runs[key] = {
        "reader": s.reader_name,
        "reader_revision": s.reader_revision,
        "mode": s.mode,
        "config_hash": s.config_hash,
        "config": None if s.mode == "text" else s.cfg.to_reference_dict(),
        "vlm": s.vlm,
        "tokenizer": getattr(s.tok, "name", str(s.tok)),
        "reader_options": options,
        "max_new_tokens": s.max_new_tokens,
        "inputs": s.inputs,
        "provenance": s.provenance.to_dict() if s.provenance else None,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **meta,
    }
    path.write_text(json.dumps(runs, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def run_eval(
    samples: Iterable[Sample],
    reader: Reader,
    cfg: RenderConfig,
    out_dir: str | Path,
    *,
    reader_name: str = "",
    vlm: str = "glm4v",
    tokenizer: TextTokenizer | str = "qwen",
    system: str | None = None,
    concurrency: int | None = None,
    resume: bool = True,
    retry_errors: bool = True,
    on_error: str = "record",
    on_result: Callable[[Result], None] | None = None,
    on_skip: Callable[[Sample], None] | None = None,
    meta: dict[str, Any] | None = None,
    max_new_tokens: int | None = None,
    provenance: Provenance | None = None,
    sample_configs: bool = True,
) -> RunOutcome:
    """Evaluate into ``out_dir/results.jsonl``, skipping what an earlier run already finished.

    ``concurrency`` bounds the samples in flight (default: the reader's ``eval_concurrency``,
    else 4). ``on_error="raise"`` stops at the first reader error instead of recording it.
    ``max_new_tokens`` replaces every sample's generation budget; ``provenance`` is recorded
    in runs.json and fingerprinted into every result; ``sample_configs=False`` ignores the
    rendering keys samples bring (Glyph's per-record configs).
    """
    out = Path(out_dir)
    s = EvalSettings(
        reader, cfg, reader_name, vlm, tokenizer, system, max_new_tokens, provenance, sample_configs
    )
    done: set[tuple[str, str, str, str]] = set()
    if resume:
        latest: dict[tuple[str, str, str, str], Result] = {}
        for r in read_results(out / RESULTS):
            latest[r.key()] = r
        done = {  # another revision of the reader (new weights, engine, code) is another reader
            k for k, r in latest.items() if r.reader_revision == s.reader_revision and not (retry_errors and r.error)
        }
    out.mkdir(parents=True, exist_ok=True)
    record_run(out, s, dict(meta or {}))
    appender = _Appender(out / RESULTS)
    new: list[Result] = []
    skipped = 0

    def sink(result: Result) -> None:
        appender.write(result)
        new.append(result)
        if on_result:
            on_result(result)

    def skip(sample: Sample) -> bool:
        return (sample.id, s.reader_name, s.config_hash, sample.content_hash) in done

    def skipped_one(sample: Sample) -> None:
        nonlocal skipped
        skipped += 1
        if on_skip:
            on_skip(sample)

    n = concurrency or reader.eval_concurrency
    try:
        asyncio.run(_evaluate_stream(samples, s, n, skip, sink, skipped_one, on_error))
    finally:
        appender.close()
    return RunOutcome(out, new, skipped)
