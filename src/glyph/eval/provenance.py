"""What produced a run's inputs, so two runs are set side by side only when that is fair.

A score means little without the data it was measured on, the wording the model read, how
long prompts were cut and with which tokenizer, how long the model could answer and how
its answer was cleaned before scoring. Every run records a :class:`Provenance` in
``runs.json``, and every result carries its short fingerprint (``inputs``), so
``glyph eval report`` can say which run used what and warn when runs put side by side
differ in any of it. Which records a run covered is checked from the results themselves
(sample ids and references), not from here.

Text and page runs over the same samples legitimately read different prompts (Glyph reads
a page-prompt file next to the pages, a text model the original template): the prompt a
run is compared on is the one its reader saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: fields two runs must share to be compared (the prompt is added per reader mode)
COMPARED = ("data_layout", "truncation", "tokenizer", "generation", "postprocess")


@dataclass(frozen=True)
class Provenance:
    """The inputs of a run: data, prompts, truncation, tokenizer, generation length, clean-up."""

    benchmark: str
    data: str  # where the records came from, for people: a path, "hub:...", or the built-in generator
    data_layout: str  # glyph-ruler-generator | ruler-prepared | glyph-evaluation | longbench | openai-mrcr
    prompts: dict[str, str] = field(default_factory=dict)  # text prompts: {"name", "sha256"}
    page_prompts: dict[str, str] = field(default_factory=dict)  # what page readers see, if different
    truncation: str = "none"
    tokenizer: str = "qwen"
    generation: str = "per task"
    postprocess: str = "none"
    chat_template: str = "the reader's chat template on every task"
    notes: tuple[str, ...] = ()

    def prompt_for(self, mode: str) -> dict[str, str]:
        """The prompt a reader of ``mode`` reads (page readers: the page prompts when there are any)."""
        if mode != "text" and self.page_prompts:
            return self.page_prompts
        return self.prompts

    def compared(self, mode: str) -> dict[str, Any]:
        values: dict[str, Any] = {k: getattr(self, k) for k in COMPARED}
        values["prompt"] = self.prompt_for(mode).get("sha256", "")
        return values

    def fingerprint(self, mode: str) -> str:
        """Short hash of what must match for a run in ``mode`` to be compared."""
        payload = json.dumps(self.compared(mode), sort_keys=True).encode("utf-8")
        return hashlib.sha256(payload).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        names = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in names}
        values["notes"] = tuple(values.get("notes") or ())
        return cls(**values)


def describe(name: str, payload: Any) -> dict[str, str]:
    """A prompt source for people (``name``) with a digest of what it holds (``payload``)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return {"name": name, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]}


@dataclass(frozen=True)
class RunInputs:
    """One run as the report sees it: a label, its reader mode, its provenance (None: not recorded)."""

    label: str
    mode: str
    provenance: Provenance | None


_FIELD_NAMES = {
    "data_layout": "data layout",
    "truncation": "truncation",
    "tokenizer": "tokenizer",
    "generation": "generation length",
    "postprocess": "prediction clean-up",
    "prompt": "prompt",
}


def comparability_warnings(runs: Sequence[RunInputs]) -> list[str]:
    """One line per pair of runs whose inputs differ, naming what differs (empty when all match)."""
    warnings: list[str] = []
    unknown = [r.label for r in runs if r.provenance is None]
    if unknown and len(runs) > 1:
        warnings.append(
            f"inputs not recorded for {', '.join(unknown)} (results from before glyph recorded provenance): "
            "their data, prompts, truncation and tokenizer cannot be checked against the other runs"
        )
    known = [r for r in runs if r.provenance is not None]
    for i, a in enumerate(known):
        for b in known[i + 1 :]:
            assert a.provenance is not None and b.provenance is not None
            va, vb = a.provenance.compared(a.mode), b.provenance.compared(b.mode)
            differ = [k for k in va if va[k] != vb[k]]
            if "prompt" in differ and a.mode != b.mode and (a.mode == "text" or b.mode == "text"):
                differ.remove("prompt")  # text vs pages: each reads its own prompt by design
            if not differ:
                continue
            detail = "; ".join(
                f"{_FIELD_NAMES[k]}: {_show(a.provenance, a.mode, k)} vs {_show(b.provenance, b.mode, k)}"
                for k in differ
            )
            warnings.append(f"{a.label} and {b.label} were built from different inputs ({detail})")
    return warnings


def _show(p: Provenance, mode: str, key: str) -> str:
    if key == "prompt":
        prompt = p.prompt_for(mode)
        return f"{prompt.get('name') or prompt.get('path', '?')} [{prompt.get('sha256', '?')[:8]}]"
    return str(getattr(p, key))


# ----------------------------------------------------------------------------- per benchmark


def _generation(default: str, max_new_tokens: int | None) -> str:
    return f"fixed {max_new_tokens} tokens" if max_new_tokens else default


def ruler_provenance(
    *,
    data: str | None,
    layout: str,
    tokenizer: str,
    prompts: dict[str, str],
    max_new_tokens: int | None = None,
    seed: int | None = None,
    notes: Sequence[str] = (),
) -> Provenance:
    """RULER: the built-in generator (``data=None``), RULER's prepared data, or Glyph's set."""
    clean = "glyph-ruler (RULER's, after cutting <|user|>)" if layout == "glyph-evaluation" else "ruler"
    default = {
        "glyph-ruler-generator": "per task (glyph's table: niah 128, vt 30, cwe 120, fwe 50, qa 32)",
        "ruler-prepared": "per task (RULER's tokens_to_generate)",
        "glyph-evaluation": "per task (RULER's tokens_to_generate); Glyph's scripts send 8192",
    }.get(layout, "per task")
    return Provenance(
        benchmark="ruler",
        data=data or f"glyph's built-in RULER generator (seed {seed})",
        data_layout=layout,
        prompts=prompts,
        truncation="none (haystacks sized to fit the length)" if data is None else "none (as prepared)",
        tokenizer=tokenizer,
        generation=_generation(default, max_new_tokens),
        postprocess=clean,
        notes=tuple(notes),
    )


def longbench_provenance(
    *,
    data: str,
    layout: str,
    tokenizer: str,
    prompts: dict[str, str],
    page_prompts: dict[str, str] | None,
    max_length: int | None,
    maxlen_file: dict[str, str] | None,
    postprocess: str | None,
    max_new_tokens: int | None = None,
    notes: Sequence[str] = (),
) -> Provenance:
    """LongBench (v1, LongBench-E, or Glyph's preprocessed copy)."""
    maxlen = (
        f"per dataset ({maxlen_file['path']} [{maxlen_file['sha256'][:8]}])"
        if maxlen_file
        else "per dataset (LongBench's dataset2maxlen values, built in)"
    )
    chat = (
        "text readers send trec, triviaqa, samsum, lsht, lcc and repobench-p as a raw prompt without a chat "
        "template (LongBench pred.py: /v1/completions, or the tokenizer on the prompt as is) and end samsum "
        "at its first newline; page readers use the chat format on every task, no stop (Glyph's "
        "post_api_longbench.py)"
    )
    return Provenance(
        benchmark="longbench",
        data=data,
        data_layout=layout,
        prompts=prompts,
        page_prompts=page_prompts or {},
        truncation=f"middle to {max_length} tokens ({tokenizer}; LongBench pred.py)" if max_length else "none",
        tokenizer=tokenizer,
        generation=_generation(maxlen, max_new_tokens),
        postprocess=postprocess or "none (LongBench: first line for trec, triviaqa, samsum, lsht)",
        chat_template=chat,
        notes=tuple(notes),
    )


def mrcr_provenance(
    *,
    data: str,
    layout: str,
    tokenizer: str,
    prompts: dict[str, str],
    max_new_tokens: int | None = None,
    max_tokens: int | None = None,
    notes: Sequence[str] = (),
) -> Provenance:
    """OpenAI MRCR (official records, or Glyph's preprocessed copy)."""
    return Provenance(
        benchmark="mrcr",
        data=data,
        data_layout=layout,
        prompts=prompts,
        truncation=f"records over {max_tokens} tokens dropped" if max_tokens else "none",
        tokenizer=tokenizer,
        generation=_generation("4096 tokens (glyph's default); Glyph's scripts send 8192", max_new_tokens),
        postprocess="glyph-mrcr (text after </think>)" if layout == "glyph-evaluation" else "none",
        notes=tuple(notes),
    )
