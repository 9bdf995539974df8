"""LongBench (Bai et al., 2023): load the official records, score with the official metric map.

Records have ``input, context, answers, length, all_classes, dataset, _id`` (the layout of
``THUDM/LongBench`` and its ``data.zip``: one ``<dataset>.jsonl`` per task, ``<dataset>_e``
for LongBench-E; Glyph's preprocessed evaluation set adds ``unique_id`` and the rendering
``config`` of each record). The context is rendered; the question (``input``) and the task
wording stay text. Scores per sample are in [0, 1]; LongBench reports the task mean x 100.

Wording: the packaged prompts.yaml (our own) unless official prompt files are given
(:class:`~glyph.eval.official.LongBenchPromptFiles`): then the text prompt is LongBench's
``dataset2prompt.json`` template filled as ``pred.py`` fills it (byte-equal), optionally cut
in the middle to ``max_length`` model tokens as ``pred.py`` does, and a page reader gets the
page-prompt file's text (Glyph's ``dataset2vlmprompt.json``) next to the pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from glyph.eval.official import (
    NO_CHAT_TEMPLATE,
    STOP_AT_NEWLINE,
    LongBenchPromptFiles,
    glyph_page_prompt,
    split_longbench,
)
from glyph.eval.prompts import Prompts, fill, load_prompts
from glyph.eval.records import glyph_render_overrides, hub_records, read_records, render_overrides
from glyph.eval.sample import Sample, bucket_for, longbench_e_bin
from glyph.eval.truncate import truncate_context
from glyph.tokens import TextTokenizer, get_tokenizer

HUB_REPO = "THUDM/LongBench"

#: LongBench's dataset -> metric map (its eval.py), by our metric names.
DATASET_METRIC: dict[str, str] = {
    "narrativeqa": "qa_f1",
    "qasper": "qa_f1",
    "multifieldqa_en": "qa_f1",
    "multifieldqa_zh": "qa_f1_zh",
    "hotpotqa": "qa_f1",
    "2wikimqa": "qa_f1",
    "musique": "qa_f1",
    "dureader": "rouge_zh",
    "gov_report": "rouge",
    "qmsum": "rouge",
    "multi_news": "rouge",
    "vcsum": "rouge_zh",
    "trec": "classification",
    "triviaqa": "qa_f1",
    "samsum": "rouge",
    "lsht": "classification",
    "passage_retrieval_en": "retrieval",
    "passage_count": "count",
    "passage_retrieval_zh": "retrieval_zh",
    "lcc": "code_sim",
    "repobench-p": "code_sim",
}

#: LongBench's generation budget per dataset (its dataset2maxlen.json).
DATASET_MAX_NEW_TOKENS: dict[str, int] = {
    "narrativeqa": 128,
    "qasper": 128,
    "multifieldqa_en": 64,
    "multifieldqa_zh": 64,
    "hotpotqa": 32,
    "2wikimqa": 32,
    "musique": 32,
    "dureader": 128,
    "gov_report": 512,
    "qmsum": 512,
    "multi_news": 512,
    "vcsum": 512,
    "trec": 64,
    "triviaqa": 32,
    "samsum": 128,
    "lsht": 64,
    "passage_count": 32,
    "passage_retrieval_en": 32,
    "passage_retrieval_zh": 32,
    "lcc": 64,
    "repobench-p": 64,
}

#: the datasets LongBench-E has (``<name>_e``)
LONGBENCH_E = (
    "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "gov_report", "multi_news", "trec",
    "triviaqa", "samsum", "passage_count", "passage_retrieval_en", "lcc", "repobench-p",
)  # fmt: skip


#: LongBench's task categories (its README's table columns), for the report
CATEGORIES: dict[str, tuple[str, ...]] = {
    "Single-Doc QA": ("narrativeqa", "qasper", "multifieldqa_en", "multifieldqa_zh"),
    "Multi-Doc QA": ("hotpotqa", "2wikimqa", "musique", "dureader"),
    "Summarization": ("gov_report", "qmsum", "multi_news", "vcsum"),
    "Few-shot Learning": ("trec", "triviaqa", "samsum", "lsht"),
    "Synthetic Tasks": ("passage_count", "passage_retrieval_en", "passage_retrieval_zh"),
    "Code Completion": ("lcc", "repobench-p"),
}


def category_of(dataset: str) -> str | None:
    base = base_name(dataset)
    return next((c for c, names in CATEGORIES.items() if base in names), None)


def base_name(dataset: str) -> str:
    """``hotpotqa_e`` -> ``hotpotqa`` (LongBench-E shares the metric and wording)."""
    return dataset.removesuffix("_e")


def to_sample(
    record: dict[str, Any],
    tokenizer: TextTokenizer,
    prompts: Prompts,
    dataset: str | None = None,
    files: LongBenchPromptFiles | None = None,
    max_length: int | None = None,
    postprocess: str | None = None,
    font_dirs: Sequence[str | Path] = (),
) -> Sample:
    """One LongBench record as a sample (length = our token count of the whole text prompt).

    ``files`` brings the official wording and generation lengths; ``max_length`` cuts the
    text prompt in the middle to that many ``tokenizer`` tokens (LongBench's ``pred.py``).
    """
    name = dataset or record.get("dataset")
    if not name or base_name(name) not in DATASET_METRIC:
        raise ValueError(f"record {record.get('_id')!r}: unknown LongBench dataset {name!r}")
    base = base_name(name)
    rid = str(record.get("_id") or record.get("unique_id") or "?")
    files = files or LongBenchPromptFiles()
    answers = record.get("answers") or []
    context = record.get("context") or ""
    template = files.template(base)
    if template is not None:  # official wording: parts carry the template's own whitespace
        instruction, question = split_longbench(template, record)
        joiner = ""
    else:
        wording = {**prompts["longbench"]["default"], **prompts["longbench"].get(base, {})}
        instruction = fill(wording["instruction"], input=record.get("input") or "")
        question = fill(wording["question"], input=record.get("input") or "")
        joiner = "\n\n"
    truncation: dict[str, Any] | None = None
    if max_length is not None:
        sep = joiner if instruction else ""
        context, cut = truncate_context(
            instruction + sep, context, (joiner if question else "") + question, tokenizer, max_length, rid
        )
        if cut.truncated:
            truncation = {"tokens": cut.tokens, "max_length": max_length, "kept_head": cut.kept_head,
                          "kept_tail": cut.kept_tail}  # fmt: skip
    page_template = files.page_template(base)
    glyph_layout = "unique_id" in record or "config" in record  # Glyph's add_uid_jsonl.py output
    render, render_note = (glyph_render_overrides("longbench", record.get("config"), rid, font_dirs)
                           if glyph_layout else render_overrides(record.get("config"), rid, font_dirs))  # fmt: skip
    meta: dict[str, Any] = {
        "all_classes": record.get("all_classes") or None,
        "official_length": record.get("length"),
        "language": record.get("language"),
    }
    if glyph_layout:
        meta["source_layout"] = "glyph-evaluation"
    if base in NO_CHAT_TEMPLATE:
        meta["chat_template"] = False  # LongBench prompts these tasks without the chat template
    if base in STOP_AT_NEWLINE:
        meta["stop"] = ["\n"]  # pred.py ends samsum at its first newline (for text models)
    if truncation:
        meta["truncation"] = truncation
    if postprocess:
        meta["postprocess"] = postprocess
    if render_note:
        meta["render_note"] = render_note
    sample = Sample(
        id=rid,
        task=name,
        length=0,
        context=context,
        question=question,
        answers=[answers] if isinstance(answers, str) else list(answers),
        metric=DATASET_METRIC[base],
        instruction=instruction,
        max_new_tokens=files.max_new_tokens(base) or DATASET_MAX_NEW_TOKENS[base],
        benchmark="longbench",
        metadata=meta,
        joiner=joiner,
        page_question=None if page_template is None else glyph_page_prompt(page_template, record),
        render=render,
    )
    tokens = tokenizer.count(sample.text_prompt())
    bucket = bucket_for(tokens)
    if name.endswith("_e") and isinstance(record.get("length"), int):
        bucket = longbench_e_bin(record["length"])  # LongBench-E's intervals, by the official length
    meta = {**sample.metadata, "prompt_tokens": tokens, "bucket": bucket}
    return replace(sample, length=tokens, metadata=meta)


def _local(path: Path, tasks: Sequence[str] | None) -> Iterator[tuple[str | None, dict[str, Any]]]:
    if path.is_dir():
        names = list(tasks) if tasks else sorted(p.stem for p in path.glob("*.jsonl"))
        for name in names:
            file = path / f"{name}.jsonl"
            if not file.is_file():
                raise FileNotFoundError(f"{path} has no {name}.jsonl (LongBench's data.zip layout)")
            for record in read_records(file):
                yield name, record
    else:
        wanted = set(tasks) if tasks else None
        for record in read_records(path):
            if wanted is None or record.get("dataset") in wanted:
                yield None, record


def load_longbench(
    source: str | Path,
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    tokenizer: TextTokenizer | str = "qwen",
    prompts: Prompts | None = None,
    *,
    files: LongBenchPromptFiles | None = None,
    max_length: int | None = None,
    postprocess: str | None = None,
    font_dirs: Sequence[str | Path] = (),
) -> Iterable[Sample]:
    """Samples from a data folder (``<task>.jsonl`` files), one records file, or ``"hub"``.

    ``limit`` keeps the first N records of each task; ``files``, ``max_length`` and
    ``postprocess`` as in :func:`to_sample`; ``font_dirs`` is where fonts named by records'
    own configs are looked for (the data folder is always searched).
    """
    tok = get_tokenizer(tokenizer)
    prompts = prompts or load_prompts()
    for name in tasks or []:
        if base_name(name) not in DATASET_METRIC:
            raise ValueError(f"unknown LongBench task {name!r}; known: {', '.join(DATASET_METRIC)}")
    if str(source) == "hub":
        if not tasks:
            raise ValueError("loading LongBench from the hub needs --tasks (one hub config per task)")
        pairs: Iterable[tuple[str | None, dict[str, Any]]] = (
            (name, rec) for name in tasks for rec in hub_records(HUB_REPO, name, split="test")
        )
    else:
        pairs = _local(Path(source), tasks)
        here = Path(source) if Path(source).is_dir() else Path(source).parent
        font_dirs = (*font_dirs, here, here.parent / "config", here.parent.parent / "config")
    taken: dict[str, int] = {}
    for file_task, record in pairs:
        task = str(file_task or record.get("dataset") or "?")
        if limit is not None and taken.get(task, 0) >= limit:
            continue
        taken[task] = taken.get(task, 0) + 1
        yield to_sample(record, tok, prompts, file_task, files, max_length, postprocess, font_dirs)
