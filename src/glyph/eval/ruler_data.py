"""RULER data made elsewhere: the official generator's prepared JSONL, and Glyph's preprocessed RULER set.

* RULER's ``prepare.py`` writes ``<root>/<length>/data/<task>/validation.jsonl`` (or
  wherever ``--save_dir`` points) with ``input`` (the whole prompt minus the answer prefix),
  ``outputs``, ``length`` and ``answer_prefix``. Each input is cut into instruction, context
  and question with RULER's own templates (:func:`~glyph.eval.official.split_ruler_input`);
  the question keeps the answer prefix, as RULER sends ``input + answer_prefix``, so the
  sample's text prompt is RULER's model input byte for byte (less any chat-template
  wrapping, which glyph's readers add themselves).
* Glyph's set (thu-coai/Glyph ``evaluation/ruler``: ``dpi96_processed_ruler_all_tasks_<length>.json``,
  a list of ``unique_id, task_name, context, question, outputs`` and optionally ``config``)
  has the few-shot examples already taken out of the context; the page reader gets
  ``question`` next to the pages, as Glyph's ``post_api_ruler.py`` sends it.

A record's task comes from its ``task``/``task_name`` field or its folder (``<task>/validation.jsonl``)
or file name; its target length from a number in its path (``.../131072/data/...``,
``..._4096.json``), else from its ``length``. Scores use RULER's metrics after RULER's
prediction clean-up (:mod:`.postprocess`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from glyph.eval.official import RulerTemplates, split_ruler_input
from glyph.eval.records import glyph_render_overrides, read_records
from glyph.eval.ruler import QA_TASKS, RULER_TASKS
from glyph.eval.sample import Sample, bucket_for, length_label
from glyph.tokens import TextTokenizer, get_tokenizer

_FAMILY = {
    "niah": "niah",
    "variable_tracking": "vt",
    "common_words_extraction": "cwe",
    "freq_words_extraction": "fwe",
    "qa": "qa",
}
_KIND = {"number": "numbers", "word": "words", "uuid": "uuids"}
_TRAILING_LENGTH = re.compile(r"_(\d+)$")


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such RULER data: {path}")
    files = sorted(p for p in path.rglob("*") if p.suffix in (".jsonl", ".json") and p.is_file())
    if not files:
        raise FileNotFoundError(f"{path} holds no .jsonl or .json files")
    return files


def _target_length(path: Path, record: dict[str, Any]) -> int | None:
    m = _TRAILING_LENGTH.search(path.stem)
    if m:
        return int(m.group(1))
    for part in reversed(path.parent.parts):
        if part.isdigit():
            return int(part)
    length = record.get("length")
    return int(length) if isinstance(length, int) else None


def _task_of(path: Path, record: dict[str, Any]) -> str:
    for key in ("task", "task_name"):
        if record.get(key):
            return str(record[key])
    if path.stem in ("validation", "test"):
        return path.parent.name
    return _TRAILING_LENGTH.sub("", path.stem)


def _query(base: str, fields: dict[str, str], outputs: list[str]) -> dict[str, Any]:
    """What the offline extractor needs, from the template's placeholders (never from the answers' text)."""
    if base == "niah":
        q = fields.get("query", "")
        head, _, last = q.rpartition(", and ")
        keys = [*head.split(", "), last] if head else [q]
        kind = _KIND.get(fields.get("type_needle_v", "").rstrip("s").lower(), "numbers")
        return {"keys": keys, "kind": kind, "per_key": max(1, len(outputs) // max(1, len(keys)))}
    if base == "variable_tracking":
        return {"value": fields.get("query", ""), "count": len(outputs)}
    if base == "common_words_extraction":
        return {"top": len(outputs)}
    if base == "freq_words_extraction":
        return {"top": len(outputs), "ignore": "...."}
    return {}


def _builtin_tokens(task: str) -> int:
    spec = RULER_TASKS.get(task) or QA_TASKS.get(task)
    if spec is not None:
        return spec.answer_tokens
    return 32 if task.startswith("qa") else 128


def _metric(task: str, base: str | None) -> str:
    return "string_match_part" if (base == "qa" or task.startswith("qa_")) else "string_match_all"


def prepared_sample(
    record: dict[str, Any], task: str, length: int | None, row: int, templates: RulerTemplates
) -> Sample:
    """One record of RULER's prepared JSONL, split with the official template."""
    rid = f"{task}-{length_label(length) if length else 'x'}-{row:04d}"
    if "input" not in record or "outputs" not in record:
        raise ValueError(f"RULER record {rid}: needs 'input' and 'outputs' (RULER's prepared layout)")
    split = split_ruler_input(str(record["input"]), task, templates, rid)
    base = templates.base_task(task)
    outputs = [str(o) for o in record["outputs"]]
    prefix = str(record.get("answer_prefix") or "")
    target = length or int(record.get("length") or 0)
    return Sample(
        id=rid,
        task=task,
        length=target,
        context=split.context,
        question=split.question + prefix,
        answers=outputs,
        metric=_metric(task, base),
        instruction=split.instruction,
        max_new_tokens=templates.tokens_to_generate(task),
        benchmark="ruler",
        metadata={
            "family": _FAMILY.get(base, base),
            "query": _query(base, split.fields, outputs),
            "model_template": split.model_template,
            "official_length": record.get("length"),
            "answer_prefix": prefix,
            "source_layout": "ruler-prepared",
            "bucket": length_label(target) if target & (target - 1) == 0 else bucket_for(target),
        },
        joiner="",
    )


def glyph_sample(
    record: dict[str, Any],
    task: str,
    length: int | None,
    row: int,
    templates: RulerTemplates | None,
    font_dirs: Sequence[Path],
) -> Sample:
    """One record of Glyph's preprocessed RULER set (context rendered, ``question`` sent as it is)."""
    rid = str(record.get("unique_id") or f"{task}-{length or 'x'}-{row:04d}")
    missing = [k for k in ("context", "question", "outputs") if k not in record]
    if missing:
        raise ValueError(f"RULER record {rid}: lacks {', '.join(missing)} (Glyph's processed layout)")
    outputs = record["outputs"]
    outputs = [outputs] if isinstance(outputs, str) else [str(o) for o in outputs]
    tokens = templates.tokens_to_generate(task) if templates else _builtin_tokens(task)
    target = length or int(record.get("length") or 0)
    render, note = glyph_render_overrides("ruler", record.get("config"), rid, font_dirs)
    meta: dict[str, Any] = {
        "source_layout": "glyph-evaluation",
        "postprocess": "glyph-ruler",
        "bucket": length_label(target) if target & (target - 1) == 0 else bucket_for(target),
    }
    if note:
        meta["render_note"] = note
    return Sample(
        id=rid,
        task=task,
        length=target,
        context=str(record["context"]),
        question=str(record["question"]),
        answers=outputs,
        metric=_metric(task, templates.base_task(task) if templates else None),
        max_new_tokens=tokens,
        benchmark="ruler",
        metadata=meta,
        render=render,
    )


def load_ruler_data(
    source: str | Path,
    templates: RulerTemplates | None = None,
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    tokenizer: TextTokenizer | str = "qwen",
    font_dirs: Sequence[str | Path] = (),
) -> Iterator[Sample]:
    """Samples from RULER's prepared JSONL or Glyph's preprocessed RULER files (told apart by fields).

    ``templates`` (RULER's) are needed to split prepared inputs; ``limit`` keeps the first N
    records of each (task, length); a record already seen (Glyph's folder holds each record
    before and after rendering) is skipped.
    """
    tok = get_tokenizer(tokenizer)
    path = Path(source)
    wanted = set(tasks) if tasks else None
    here = path if path.is_dir() else path.parent
    dirs = [Path(d) for d in font_dirs] + [here, here.parent / "config", here.parent.parent / "config"]
    seen: set[str] = set()
    taken: dict[tuple[str, int | None], int] = {}
    for file in _files(path):
        for row, record in enumerate(read_records(file)):
            if not isinstance(record, dict):
                raise ValueError(f"{file}: record {row} is not an object")  # noqa: TRY004
            task = _task_of(file, record)
            if wanted is not None and task not in wanted:
                continue
            length = _target_length(file, record)
            if limit is not None and taken.get((task, length), 0) >= limit:
                continue
            if "input" in record:
                if templates is None:
                    raise ValueError(
                        f"{file} holds RULER's prepared inputs: splitting them needs RULER's templates "
                        "(--templates PATH: a RULER checkout or its scripts/data/synthetic/constants.py)"
                    )
                sample = prepared_sample(record, task, length, row, templates)
            elif "context" in record and "question" in record:
                sample = glyph_sample(record, task, length, row, templates, dirs)
            else:
                raise ValueError(
                    f"{file}: record {row} is neither RULER's prepared layout (input, outputs) nor "
                    f"Glyph's (context, question, outputs); it has {', '.join(sorted(record))}"
                )
            if sample.id in seen:
                continue
            seen.add(sample.id)
            taken[(task, length)] = taken.get((task, length), 0) + 1
            tokens = tok.count(sample.text_prompt())
            yield Sample.from_dict({**sample.to_dict(), "metadata": {**sample.metadata, "prompt_tokens": tokens}})
