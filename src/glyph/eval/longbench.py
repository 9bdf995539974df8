"""LongBench (Bai et al., 2023): load the official records, score with the official metric map.

Records have ``input, context, answers, length, all_classes, dataset, _id`` (the layout of
``THUDM/LongBench`` and its ``data.zip``: one ``<dataset>.jsonl`` per task, ``<dataset>_e``
for LongBench-E). The context is rendered; the question (``input``) and the task wording
stay text. Scores per sample are in [0, 1]; LongBench reports the task mean x 100.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from glyph.eval.prompts import Prompts, fill, load_prompts
from glyph.eval.records import hub_records, read_records
from glyph.eval.sample import Sample, bucket_for
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


def base_name(dataset: str) -> str:
    """``hotpotqa_e`` -> ``hotpotqa`` (LongBench-E shares the metric and wording)."""
    return dataset.removesuffix("_e")


def to_sample(
    record: dict[str, Any], tokenizer: TextTokenizer, prompts: Prompts, dataset: str | None = None
) -> Sample:
    """One LongBench record as a sample (length = our token count of the whole text prompt)."""
    name = dataset or record.get("dataset")
    if not name or base_name(name) not in DATASET_METRIC:
        raise ValueError(f"record {record.get('_id')!r}: unknown LongBench dataset {name!r}")
    base = base_name(name)
    wording = {**prompts["longbench"]["default"], **prompts["longbench"].get(base, {})}
    answers = record.get("answers") or []
    sample = Sample(
        id=str(record["_id"]),
        task=name,
        length=0,
        context=record.get("context") or "",
        question=fill(wording["question"], input=record.get("input") or ""),
        answers=[answers] if isinstance(answers, str) else list(answers),
        metric=DATASET_METRIC[base],
        instruction=fill(wording["instruction"], input=record.get("input") or ""),
        max_new_tokens=DATASET_MAX_NEW_TOKENS[base],
        benchmark="longbench",
        metadata={
            "all_classes": record.get("all_classes") or None,
            "official_length": record.get("length"),
            "language": record.get("language"),
        },
    )
    tokens = tokenizer.count(sample.text_prompt())
    meta = {**sample.metadata, "prompt_tokens": tokens, "bucket": bucket_for(tokens)}
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
) -> Iterable[Sample]:
    """Samples from a data folder (``<task>.jsonl`` files), one records file, or ``"hub"``.

    ``limit`` keeps the first N records of each task.
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
    taken: dict[str, int] = {}
    for file_task, record in pairs:
        task = str(file_task or record.get("dataset") or "?")
        if limit is not None and taken.get(task, 0) >= limit:
            continue
        taken[task] = taken.get(task, 0) + 1
        yield to_sample(record, tok, prompts, file_task)
