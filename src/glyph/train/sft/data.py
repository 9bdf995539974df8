"""SFT data: ``{context, question, answer[, thinking]}`` examples -> records on rendered pages, with OCR mixed in.

Each example's context is rendered with one config (the project's reference default, or the best
config of a ``glyph search``) and becomes one ``sft`` record::

    user:       [page 1] ... [page n] instruction + question
    assistant:  <think>\\n{thinking}\\n</think>\\n\\n{answer}      (just {answer} without thinking)

Only the assistant text is learned (the collator's rule). The reference answers, the question and
the metric go into the record's ``meta`` so the same shards serve GRPO, where the assistant turn
becomes the reference (:mod:`glyph.train.grpo.data`).

**OCR auxiliary records** are the CPT OCR task's records (:func:`glyph.train.cpt.tasks.ocr_record`,
its instructions from the CPT defaults): a run of consecutive pages of one example's context and an
instruction to transcribe them; the target is exactly the text drawn on those pages. ``ocr_share`` is their share of all records written (0.2: one OCR record per four SFT
records), spread evenly over the examples; which pages each one covers is drawn from
``(seed, example index)``, so the output is a pure function of the inputs and the seed.

Bad examples (a missing or empty field, a context that renders to nothing, a record longer than
``max_tokens``) are reported by row and id in ``errors.jsonl`` and left out; the rest are kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from glyph.render.config import RenderConfig
from glyph.render.pages import RenderedPage
from glyph.render.raster import render_pages
from glyph.tokens import get_tokenizer, get_vlm_rule
from glyph.train.cpt.tasks import ocr_record, page_png
from glyph.train.records import Record
from glyph.train.rewards import thinking_response
from glyph.train.shards import write_shard

__all__ = ["SftBuildSummary", "SftExample", "build_sft_data", "example_from_row", "ocr_prompts", "sft_record"]

SHARD_PREFIX = "sft-"
INFO_FILE = "sft_data.json"
ERRORS_FILE = "errors.jsonl"
#: Tokens a chat template adds around one exchange (role tags, separators); a margin for the check.
TEMPLATE_TOKENS = 24


class SftExample(BaseModel):
    """One input example. ``answers`` (all acceptable references) defaults to ``[answer]``."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    id: str | None = None
    context: str = Field(min_length=1, description="the long text, rendered into pages")
    question: str = Field(min_length=1, description="asked after the pages (stays text)")
    answer: str = Field(min_length=1, description="the response to learn")
    thinking: str | None = Field(None, description="reasoning, learned inside <think>...</think>")
    instruction: str = Field("", description="text before the question (stays text)")
    answers: list[str] | None = Field(None, description="references for rewards; default [answer]")
    metric: str | None = Field(None, description="glyph.eval.metrics name for accuracy rewards")
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("context", "question", "answer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank")
        return value

    @field_validator("thinking")
    @classmethod
    def _thinking(cls, value: str | None) -> str | None:
        return value if value is None or value.strip() else None

    @property
    def prompt(self) -> str:
        return "\n\n".join(p for p in (self.instruction.strip(), self.question.strip()) if p)


class ExampleError(ValueError):
    """An example that cannot be used, named by its row and id."""

    def __init__(self, row: int, example_id: str | None, reason: str) -> None:
        self.row, self.example_id, self.reason = row, example_id, reason
        who = f"row {row}" + (f" (id {example_id!r})" if example_id else "")
        super().__init__(f"{who}: {reason}")


def example_from_row(row: Any, n: int, fields: dict[str, str] | None = None) -> SftExample:
    """An :class:`SftExample` from an input row (``fields`` renames: ``{"context": "document"}``)."""
    if not isinstance(row, dict):
        raise ExampleError(n, None, f"expected a JSON object, got {type(row).__name__}")
    data = dict(row)
    for ours, theirs in (fields or {}).items():
        if theirs in data:
            data[ours] = data.pop(theirs)
    rid = data.get("id")
    rid = str(rid) if rid is not None and str(rid) else None
    if rid is not None:
        data["id"] = rid
    try:
        return SftExample.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"])
            problems.append(f"missing field {loc!r}" if e["type"] == "missing" else f"{loc}: {e['msg']}")
        raise ExampleError(n, rid, "; ".join(problems)) from None


def ocr_prompts() -> list[str]:
    """The OCR task's instructions, as the CPT data defaults list them."""
    from glyph.train.cpt.spec import load_data_config

    return list(load_data_config().tasks.ocr.prompts)


def _user(pages: int, text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "image"}] * pages + [{"type": "text", "text": text}]}


def sft_record(rid: str, example: SftExample, pages: list[RenderedPage], meta: dict[str, Any]) -> Record:
    """The SFT record of an example whose context was rendered to ``pages``."""
    answers = example.answers or [example.answer.strip()]
    return Record(
        id=rid,
        task="sft",
        images=[page_png(p) for p in pages],
        messages=[_user(len(pages), example.prompt),
                  {"role": "assistant", "content": thinking_response(example.answer, example.thinking)}],
        meta={**example.meta, **meta, "question": example.prompt, "answers": answers,
              "metric": example.metric or "", "thinking": example.thinking is not None},
    )  # fmt: skip


@dataclass
class SftBuildSummary:
    """What a build wrote: records per task, examples left out and why, shards, pages, time."""

    examples: int = 0
    sft: int = 0
    ocr: int = 0
    failed: int = 0
    pages: int = 0
    shards: list[str] = field(default_factory=list)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Costs:
    """Token counts for the length check: text with the tokenizer, pages with each VLM's exact rule."""

    def __init__(self, tokenizer: str, vlms: Iterable[str]) -> None:
        self.tok = get_tokenizer(tokenizer)
        self.rules = [get_vlm_rule(v) for v in vlms]

    def tokens(self, text: str, pages: list[RenderedPage]) -> dict[str, int]:
        base = TEMPLATE_TOKENS + self.tok.count(text)
        return {r.name: base + r.document_tokens(p.image.size for p in pages) for r in self.rules}


def build_sft_data(
    examples: Iterable[Any],
    out_dir: str | Path,
    config: RenderConfig,
    *,
    ocr_share: float = 0.2,
    ocr_pages: tuple[int, int] = (1, 4),
    max_tokens: int | None = None,
    vlms: Iterable[str] = ("glm4v",),
    tokenizer: str = "qwen",
    seed: int = 0,
    shard_size: int = 256,
    fields: dict[str, str] | None = None,
    source: str = "",
    info: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SftBuildSummary:
    """Render every example, write SFT (+ OCR) records to ``out_dir/sft-NNNNN.parquet``; see the module doc.

    ``examples`` are dicts (input rows) or :class:`SftExample`; ``info`` goes into ``sft_data.json``
    beside the shards (e.g. the generator and seeds of synthetic data).
    """
    if not 0 <= ocr_share < 1:
        raise ValueError(f"ocr_share must be in [0, 1), got {ocr_share}")
    if not 1 <= ocr_pages[0] <= ocr_pages[1]:
        raise ValueError(f"ocr_pages must be [low, high] with 1 <= low <= high, got {list(ocr_pages)}")
    vlms = tuple(vlms)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{SHARD_PREFIX}*.parquet"):
        old.unlink()  # a rebuild replaces the previous shards entirely
    costs = _Costs(tokenizer, vlms)
    prompts = ocr_prompts()
    per_example = ocr_share / (1 - ocr_share)  # OCR records per SFT record
    summary = SftBuildSummary()
    t0 = time.perf_counter()
    batch: list[Record] = []
    config_dict = config.to_reference_dict()
    with (out / ERRORS_FILE).open("w", encoding="utf-8") as errors:

        def flush() -> None:
            if batch:
                name = f"{SHARD_PREFIX}{len(summary.shards):05d}.parquet"
                write_shard(out / name, batch)
                summary.shards.append(name)
                batch.clear()

        def fail(err: ExampleError) -> None:
            summary.failed += 1
            summary.errors.append(str(err))
            errors.write(json.dumps({"row": err.row, "id": err.example_id, "reason": err.reason}) + "\n")

        for n, row in enumerate(examples):
            summary.examples += 1
            if progress is not None:
                progress(1)
            try:
                example = row if isinstance(row, SftExample) else example_from_row(row, n, fields)
                rid = example.id or f"sft-{n:07d}"
                pages = [p for p in render_pages(example.context, config) if p.text.strip()]
                if not pages:
                    raise ExampleError(n, example.id, "the context renders to no page with text on it")
                meta = {"source": source, "row": n, "config": config_dict, "pages": len(pages)}
                target = thinking_response(example.answer, example.thinking)
                tokens = costs.tokens(example.prompt + target, pages)
                if max_tokens is not None and max(tokens.values()) > max_tokens:
                    worst = max(tokens, key=tokens.__getitem__)
                    raise ExampleError(
                        n, example.id, f"does not fit: {len(pages)} pages + text take {tokens[worst]:,} tokens "
                        f"for {worst}, over max_tokens {max_tokens:,} (use a denser config or drop it)",
                    )  # fmt: skip
                batch.append(sft_record(rid, example, pages, {**meta, "tokens": tokens}))
                summary.sft += 1
                summary.pages += len(pages)
                if int((n + 1) * per_example) > int(n * per_example):
                    rng = np.random.default_rng([seed, n])
                    k = min(len(pages), int(rng.integers(ocr_pages[0], ocr_pages[1] + 1)))
                    first = int(rng.integers(0, len(pages) - k + 1))
                    chosen = pages[first : first + k]
                    prompt = prompts[int(rng.integers(len(prompts)))]
                    target = "\n".join(p.text for p in chosen)
                    ocr_tokens = costs.tokens(prompt + target, chosen)
                    if max_tokens is None or max(ocr_tokens.values()) <= max_tokens:
                        batch.append(ocr_record(f"{rid}-ocr", chosen, prompt, meta={
                            **meta, "pages": k, "first_page": first, "tokens": ocr_tokens, "answers": [target],
                            "question": prompt}))  # fmt: skip
                        summary.ocr += 1
            except ExampleError as err:
                fail(err)
            if len(batch) >= shard_size:
                flush()
        flush()
    summary.seconds = round(time.perf_counter() - t0, 3)
    (out / INFO_FILE).write_text(
        json.dumps(
            {
                "source": source,
                "config": config_dict,
                "ocr_share": ocr_share,
                "ocr_pages": list(ocr_pages),
                "max_tokens": max_tokens,
                "vlms": list(vlms),
                "tokenizer": tokenizer,
                "seed": seed,
                **(info or {}),
                "summary": {k: v for k, v in summary.to_dict().items() if k != "errors"},
            },
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return summary


def iter_input(source: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL / JSON / Parquet file, or of a Hugging Face dataset named ``hf:NAME[:SPLIT]``."""
    from glyph.eval.records import hub_records, read_records

    text = str(source)
    if text.startswith("hf:"):
        name, _, split = text[3:].partition(":")
        yield from hub_records(name, split=split or "train")
    else:
        yield from read_records(source)
