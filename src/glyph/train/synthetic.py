"""Synthetic long-context SFT examples from the project's RULER generators: train without downloading anything.

Every example is a RULER sample (``glyph.eval.ruler``: needle retrieval, variable tracking, common
and frequent words) turned into ``{context, question, answer, thinking}``: the haystack is the
context (rendered into pages), RULER's instruction and question stay text, the answer is written
as the question asks for it, and a short rationale that states the evidence (the needle sentence,
the assignment chain, the counting) is the thinking.

**Seeds are disjoint from evaluation's.** A RULER sample is a pure function of (seed, task, length,
index); ``glyph eval ruler`` and the search evaluators use seeds below :data:`SEED_BASE` (default
0). Training data uses seed ``SEED_BASE + seed``, so no training sample is an evaluation sample
(the needles, keys, values and haystack positions all differ; the essay text of ``essay``
haystacks is the same bundled corpus). The data's metadata says so (:func:`synthetic_info`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any

from glyph.eval.prompts import fill, load_prompts
from glyph.eval.ruler import RULER_TASKS, generate_sample
from glyph.eval.sample import Sample, length_label
from glyph.train.sft.data import SftExample

__all__ = ["SEED_BASE", "ruler_example", "ruler_examples", "synthetic_info", "training_seed"]

#: Training seeds start here; evaluation seeds (``glyph eval ruler --seed``, default 0) stay below.
SEED_BASE = 1_000_000


def training_seed(seed: int) -> int:
    """The RULER seed of synthetic training data with user seed ``seed`` (>= 0)."""
    if seed < 0 or seed >= SEED_BASE:
        raise ValueError(f"seed must be in [0, {SEED_BASE}), got {seed} (it is offset by {SEED_BASE:,})")
    return SEED_BASE + seed


def _answer(sample: Sample) -> str:
    family = sample.metadata["family"]
    if family == "niah":
        return ", ".join(sample.answers)
    if family in ("vt", "fwe"):
        return " ".join(sample.answers)
    return ", ".join(sample.answers)  # cwe


def _thinking(sample: Sample) -> str:
    family, query, answers = sample.metadata["family"], sample.metadata["query"], sample.answers
    if family == "niah":
        kind = load_prompts()["ruler"]["kinds"][query["kind"]][0]
        needle = load_prompts()["ruler"]["niah"]["needle"]
        per = int(query.get("per_key") or 1)
        said = [
            fill(needle, kind=kind, key=key, value=value)
            for k, key in enumerate(query["keys"])
            for value in answers[k * per : (k + 1) * per]
        ]
        return "The pages say: " + " ".join(said)
    if family == "vt":
        steps = [f"VAR {answers[0]} = {query['value']}"]
        steps += [f"VAR {b} = VAR {a}" for a, b in pairwise(answers)]
        return f"Following the value {query['value']} through the assignments: " + "; ".join(steps) + "."
    if family == "cwe":
        return (
            f"Counting the numbered list, {len(answers)} words come up far more often than the rest: "
            + ", ".join(answers)
            + "."
        )
    return (
        "Counting the coded words and leaving out '...', the most frequent are, in order: "
        + ", ".join(answers)
        + "."
    )


def ruler_example(task: str, length: int, index: int, seed: int = 0, tokenizer: str = "qwen") -> SftExample:
    """One SFT example from RULER sample ``index`` of ``task`` at ``length`` tokens, training seed space."""
    sample = generate_sample(task, length, index, training_seed(seed), tokenizer)
    return SftExample(
        id=f"synth-{sample.id}-s{seed}",
        context=sample.context,
        instruction=sample.instruction,
        question=sample.question,
        answer=_answer(sample),
        answers=list(sample.answers),
        thinking=_thinking(sample),
        metric=sample.metric,
        meta={"generator": "glyph.eval.ruler", "ruler_task": task, "length": length, "index": index,
              "ruler_seed": training_seed(seed), "family": sample.metadata["family"]},
    )  # fmt: skip


def ruler_examples(
    tasks: Sequence[str] | None = None,
    lengths: Sequence[int] = (4096,),
    samples: int = 10,
    seed: int = 0,
    tokenizer: str = "qwen",
) -> Iterator[SftExample]:
    """``samples`` examples per (length, task), in that order (lazily: long lengths are large)."""
    names = list(tasks) if tasks else list(RULER_TASKS)
    unknown = [t for t in names if t not in RULER_TASKS]
    if unknown:
        raise ValueError(f"unknown RULER task(s) {', '.join(unknown)}; known: {', '.join(RULER_TASKS)}")
    training_seed(seed)  # validate before generating anything
    for length in lengths:
        for task in names:
            for index in range(samples):
                yield ruler_example(task, length, index, seed, tokenizer)


def synthetic_info(
    tasks: Sequence[str] | None, lengths: Sequence[int], samples: int, seed: int
) -> dict[str, Any]:
    """What the data's metadata records about how it was generated (and why it is not evaluation data)."""
    return {
        "generator": "glyph.eval.ruler",
        "tasks": list(tasks) if tasks else list(RULER_TASKS),
        "lengths": [length_label(n) for n in lengths],
        "samples_per_task_and_length": samples,
        "seed": seed,
        "ruler_seed": training_seed(seed),
        "seeds_disjoint_from_evaluation": (
            f"RULER seed {training_seed(seed):,} = {SEED_BASE:,} + {seed}; glyph eval ruler and the search "
            f"evaluators use seeds below {SEED_BASE:,} (default 0), and a sample is a pure function of "
            "(seed, task, length, index), so no training sample is an evaluation sample"
        ),
    }
