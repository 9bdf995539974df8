"""Records -> GRPO prompts: the turns before the last assistant turn, its images, and the references.

A GRPO row, as ``GRPOTrainer`` and the reward functions read it:

* ``prompt``: the conversation up to the answer (user turns with their image placeholders);
* ``images``: the page images, decoded;
* ``references``: what a good answer says -- ``meta["answers"]`` when the record has it (SFT records
  written by :mod:`glyph.train.sft.data` do), else the assistant text without its thinking (for an
  OCR record: the text drawn on its pages);
* ``question``, ``metric``, ``task``, ``id``: for the judge, the metric rewards, routing and logs.

The same shards serve SFT and GRPO: an SFT record's assistant turn is the reference here.
"""

from __future__ import annotations

from typing import Any

from glyph.train.records import Record, RecordError, TextPart
from glyph.train.rewards import parse_completion

__all__ = ["grpo_row", "prompt_parts"]


def prompt_parts(record: Record) -> tuple[int, list[str], str]:
    """(index of the answer turn, references, question) of a record; :class:`RecordError` if unusable."""
    if record.template != "chat":
        raise RecordError(record.id, "GRPO needs chat records (a prompt, then the answer)")
    last = max(i for i, m in enumerate(record.messages) if m.role == "assistant")
    users = [m for m in record.messages[:last] if m.role == "user"]
    if not users:
        raise RecordError(record.id, "no user turn before the answer: nothing to generate from")
    answers = record.meta.get("answers")
    if answers is None:
        answers = [parse_completion(record.messages[last].text).answer]
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a for a in answers):
        raise RecordError(
            record.id, f"meta.answers must be a non-empty list of non-empty strings, got {answers!r}"
        )
    question = record.meta.get("question")
    if question is None:
        question = "".join(p.text for p in users[-1].content if isinstance(p, TextPart))
    return last, list(answers), str(question)


def grpo_row(record: Record) -> dict[str, Any]:
    """The GRPO row of a chat record (see the module doc)."""
    last, references, question = prompt_parts(record)
    prompt = record.messages[:last]
    n_images = sum(m.n_images for m in prompt)
    return {
        "id": record.id,
        "task": record.task,
        "prompt": [m.model_dump() for m in prompt],
        "images": record.pil_images()[:n_images],
        "references": references,
        "question": question,
        "metric": str(record.meta.get("metric") or ""),
    }
