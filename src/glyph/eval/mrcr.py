"""OpenAI MRCR (multi-round co-reference): load the official records, grade the official way.

Each record's ``prompt`` is a JSON list of chat turns ending with a user turn that asks to
reproduce, with ``random_string_to_prepend`` in front, the assistant reply to the N-th of
several near-identical requests. Glyph renders the conversation before that last turn as
``User:`` / ``Assistant:`` blocks (the document) and keeps the last turn as text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from glyph.eval.prompts import Prompts, fill, load_prompts
from glyph.eval.records import hub_records, read_records
from glyph.eval.sample import Sample, bucket_for
from glyph.tokens import TextTokenizer, get_tokenizer

HUB_REPO = "openai/mrcr"
#: generation budget: MRCR answers are whole earlier replies (poems, stories), up to a few thousand tokens
MAX_NEW_TOKENS = 4096


def turns_of(record: dict[str, Any]) -> list[dict[str, str]]:
    """The chat turns of a record (``prompt`` is a JSON string in the official files)."""
    prompt = record["prompt"]
    turns = json.loads(prompt) if isinstance(prompt, str) else list(prompt)
    if not turns or turns[-1].get("role") != "user":
        raise ValueError("an MRCR prompt must end with a user turn")
    return turns


def render_conversation(turns: Sequence[dict[str, str]], prompts: Prompts) -> str:
    """Turns as ``User:`` / ``Assistant:`` blocks separated by blank lines (the rendered document)."""
    labels = {"user": prompts["mrcr"]["user_label"], "assistant": prompts["mrcr"]["assistant_label"]}
    return "\n\n".join(f"{labels.get(t['role'], t['role'].title() + ':')} {t['content']}" for t in turns)


def to_sample(record: dict[str, Any], row: int, tokenizer: TextTokenizer, prompts: Prompts) -> Sample:
    """One MRCR record as a sample; its id is stable (row and prompt digest)."""
    turns = turns_of(record)
    n = int(record.get("n_needles") or 0)
    digest = hashlib.sha256(str(record["prompt"]).encode("utf-8")).hexdigest()[:8]
    p = prompts["mrcr"]
    sample = Sample(
        id=f"mrcr-{n}needle-{row:04d}-{digest}",
        task=f"mrcr_{n}needle",
        length=0,
        context=render_conversation(turns[:-1], prompts),
        question=fill(p["question"], question=turns[-1]["content"]),
        answers=[record["answer"]],
        metric="mrcr",
        instruction=p["instruction"],
        max_new_tokens=MAX_NEW_TOKENS,
        benchmark="mrcr",
        metadata={
            "random_string_to_prepend": record["random_string_to_prepend"],
            "n_needles": n,
            "desired_msg_index": record.get("desired_msg_index"),
            "total_messages": record.get("total_messages"),
            "n_chars": record.get("n_chars"),
            "query": {"request": turns[-1]["content"], "prefix": record["random_string_to_prepend"]},
        },
    )
    tokens = tokenizer.count(sample.text_prompt())
    return replace(
        sample,
        length=tokens,
        metadata={**sample.metadata, "prompt_tokens": tokens, "bucket": bucket_for(tokens)},
    )


def load_mrcr(
    source: str | Path,
    limit: int | None = None,
    n_needles: Sequence[int] | None = None,
    max_tokens: int | None = None,
    tokenizer: TextTokenizer | str = "qwen",
    prompts: Prompts | None = None,
) -> Iterable[Sample]:
    """Samples from a ``.parquet`` / ``.jsonl`` file, a folder of them, or ``"hub"`` (``openai/mrcr``).

    ``n_needles`` keeps those needle counts; ``max_tokens`` drops longer prompts (our
    tokenizer); ``limit`` keeps the first N that pass.
    """
    tok = get_tokenizer(tokenizer)
    prompts = prompts or load_prompts()
    if str(source) == "hub":
        records: Iterable[dict[str, Any]] = hub_records(HUB_REPO, None, split="train")
    else:
        path = Path(source)
        files = (
            sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".jsonl"))
            if path.is_dir()
            else [path]
        )
        if not files:
            raise FileNotFoundError(f"{path} holds no .parquet or .jsonl files")
        records = (rec for f in files for rec in read_records(f))
    kept = 0
    for row, record in enumerate(records):
        if limit is not None and kept >= limit:
            return
        if n_needles and int(record.get("n_needles") or 0) not in n_needles:
            continue
        sample = to_sample(record, row, tok, prompts)
        if max_tokens is not None and sample.length > max_tokens:
            continue
        kept += 1
        yield sample
