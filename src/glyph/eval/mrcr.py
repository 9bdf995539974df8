"""OpenAI MRCR (multi-round co-reference): load the official records, grade the official way.

Each record's ``prompt`` is a JSON list of chat turns ending with a user turn that asks to
reproduce, with ``random_string_to_prepend`` in front, the assistant reply to the N-th of
several near-identical requests. Glyph renders the conversation before that last turn as
``User:`` / ``Assistant:`` blocks (the document) and keeps the last turn as text.

Glyph's preprocessed evaluation set (``processed_<n>needle_0-128k.json[l]``: ``unique_id``,
``context``, ``question``, ``answer``, ``random_string_to_prepend``, optionally ``config``)
loads too: its context is rendered as it is, the reader gets ``"\n" + question`` next to the
pages as Glyph's ``post_api_mrcr.py`` sends it, and its length bin comes from the id.

Results are binned as the Glyph paper reports MRCR: by needles (the task, ``mrcr_<n>needle``)
and by context length (``0-8k``, ``8k-16k``, ..., counted with the run's tokenizer for the
official records, as named in the id for Glyph's).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from glyph.eval.prompts import Prompts, fill, load_prompts
from glyph.eval.records import glyph_render_overrides, hub_records, read_records
from glyph.eval.sample import Sample, range_bin
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
        metadata={**sample.metadata, "prompt_tokens": tokens, "bucket": range_bin(tokens)},
    )


#: Glyph's MRCR ids name needles and bin: ``..._2needle_8k_16k...``
_GLYPH_BIN = re.compile(r"(\d+)needle_(\d+)k_(\d+)k")


def is_glyph_record(record: dict[str, Any]) -> bool:
    """Glyph's preprocessed layout (``context`` + ``question``) rather than OpenAI's (``prompt``)."""
    return "prompt" not in record and {"context", "question", "answer"} <= record.keys()


def needles_of(record: dict[str, Any], glyph_layout: bool) -> int:
    """The record's needle count (Glyph's records name it in their id)."""
    if record.get("n_needles"):
        return int(record["n_needles"])
    m = _GLYPH_BIN.search(str(record.get("unique_id") or "")) if glyph_layout else None
    return int(m.group(1)) if m else 0


def glyph_to_sample(
    record: dict[str, Any], row: int, tokenizer: TextTokenizer, font_dirs: Sequence[str | Path] = ()
) -> Sample:
    """One record of Glyph's preprocessed MRCR set: rendered and asked exactly as Glyph's scripts do."""
    uid = str(record.get("unique_id") or f"row{row:05d}")
    missing = [k for k in ("context", "question", "answer", "random_string_to_prepend") if k not in record]
    if missing:
        raise ValueError(f"MRCR record {uid!r} lacks {', '.join(missing)} (Glyph's processed layout)")
    m = _GLYPH_BIN.search(uid)
    n = int(record.get("n_needles") or (m.group(1) if m else 0))
    question = str(record["question"])
    render, note = glyph_render_overrides("mrcr", record.get("config"), uid, font_dirs)
    meta: dict[str, Any] = {
        "random_string_to_prepend": record["random_string_to_prepend"],
        "n_needles": n,
        "postprocess": "glyph-mrcr",
        "source_layout": "glyph-evaluation",
        "query": {"request": question, "prefix": record["random_string_to_prepend"]},
    }
    if note:
        meta["render_note"] = note
    sample = Sample(
        id=uid,
        task=f"mrcr_{n}needle",
        length=0,
        context=str(record["context"]),
        question=question,
        answers=[str(record["answer"])],
        metric="mrcr",
        max_new_tokens=MAX_NEW_TOKENS,
        benchmark="mrcr",
        metadata=meta,
        page_question="\n" + question,  # post_api_mrcr.py: {"type": "text", "text": "\n" + question}
        render=render,
    )
    tokens = tokenizer.count(sample.text_prompt())
    bucket = range_bin(tokens)
    if m:
        lo, hi = int(m.group(2)), int(m.group(3))
        bucket = f"{lo}k-{hi}k" if lo else f"0-{hi}k"
    return replace(sample, length=tokens, metadata={**meta, "prompt_tokens": tokens, "bucket": bucket})


def load_mrcr(
    source: str | Path,
    limit: int | None = None,
    n_needles: Sequence[int] | None = None,
    max_tokens: int | None = None,
    tokenizer: TextTokenizer | str = "qwen",
    prompts: Prompts | None = None,
) -> Iterable[Sample]:
    """Samples from a ``.parquet`` / ``.jsonl`` / ``.json`` file, a folder of them, or ``"hub"`` (``openai/mrcr``).

    Official records and Glyph's preprocessed ones are told apart by their fields.
    ``n_needles`` keeps those needle counts; ``max_tokens`` drops longer prompts (our
    tokenizer); ``limit`` keeps the first N that pass.
    """
    tok = get_tokenizer(tokenizer)
    prompts = prompts or load_prompts()
    font_dirs: tuple[Path, ...] = ()
    if str(source) == "hub":
        records: Iterable[dict[str, Any]] = hub_records(HUB_REPO, None, split="train")
    else:
        path = Path(source)
        files = (
            sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".jsonl", ".json"))
            if path.is_dir()
            else [path]
        )
        if not files:
            raise FileNotFoundError(f"{path} holds no .parquet, .jsonl or .json files")
        here = path if path.is_dir() else path.parent
        font_dirs = (here, here.parent / "config", here.parent.parent / "config")
        records = (rec for f in files for rec in read_records(f))
    kept = 0
    for row, record in enumerate(records):
        if limit is not None and kept >= limit:
            return
        glyph_layout = is_glyph_record(record)
        if n_needles and needles_of(record, glyph_layout) not in n_needles:
            continue
        if glyph_layout:
            sample = glyph_to_sample(record, row, tok, font_dirs)
        else:
            sample = to_sample(record, row, tok, prompts)
        if max_tokens is not None and sample.length > max_tokens:
            continue
        kept += 1
        yield sample
