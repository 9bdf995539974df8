"""The LLM proposer: show a chat model the space, the scored history and the failures; get configs back.

This is the paper's "LLM-driven genetic search": instead of (only) random mutation, a
model that knows typography reads which configs scored what and which characters were
misread, and proposes the next configs with a one-line rationale each. Any
OpenAI-compatible endpoint works; the HTTP side (retries with backoff, timeouts, the key
from ``GLYPH_LLM_API_KEY`` or ``OPENAI_API_KEY``) is :mod:`glyph.client`, shared with the
VLM readers and the gateway.

Replies are untrusted: JSON is dug out of fences and prose, each proposal is validated
against the space by the caller (:mod:`glyph.search.breed`), which repairs or replaces it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from glyph.search.selection import Scoring, TrialRecord, front_records, rank
from glyph.search.space import SearchSpace

API_KEY_ENV = ("GLYPH_LLM_API_KEY", "OPENAI_API_KEY")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)

SYSTEM_PROMPT = """\
You tune typography for visual-text compression (Glyph): long text is rendered into page images
that a vision-language model reads instead of text tokens. A rendering config trades ACCURACY
(fraction of characters read back correctly) against COMPRESSION (text tokens / visual tokens;
smaller type, lower dpi, tighter margins and leading pack more text per image token but read worse).
You act as the variation operator of a genetic search: study which configs scored what and which
character classes were misread, then propose new configs likely to beat the current Pareto front.
Answer with JSON only."""


@dataclass(frozen=True)
class LLMSettings:
    """Where and how to ask; the API key is never stored with the study (env var or flag)."""

    url: str
    model: str | None = None
    temperature: float = 0.7
    timeout: float = 120.0
    max_retries: int = 3
    max_tokens: int = 4096

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "model": self.model, "temperature": self.temperature, "timeout": self.timeout,
                "max_retries": self.max_retries, "max_tokens": self.max_tokens}


class LLMProposer:
    """Builds the prompt, calls the endpoint, and returns the raw proposals (dicts) it finds."""

    def __init__(self, settings: LLMSettings, api_key: str | None = None, history_size: int = 30) -> None:
        from glyph.client import make_client  # the HTTP stack loads only when a search asks an LLM

        self.settings = settings
        self.client = make_client(settings.url, api_key=api_key, api_key_env=API_KEY_ENV,
                                  timeout=settings.timeout, max_retries=settings.max_retries, concurrency=1)
        self.history_size = history_size

    # ------------------------------------------------------------------ prompt
    def messages(
        self,
        space: SearchSpace,
        n: int,
        history: Sequence[TrialRecord],
        scoring: Scoring,
        failures: Sequence[str] = (),
    ) -> list[dict[str, str]]:
        return [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": build_prompt(space, n, history, scoring, failures, self.history_size)}]

    # ------------------------------------------------------------------ call
    def complete(self, messages: list[dict[str, str]]) -> str:
        """The assistant's reply text (raises glyph.client.UpstreamError after retries)."""
        from glyph.client import run_sync

        payload: dict[str, Any] = {"messages": messages, "max_tokens": self.settings.max_tokens,
                                   "temperature": self.settings.temperature}
        if self.settings.model:
            payload["model"] = self.settings.model

        async def go() -> str:
            try:
                if "model" not in payload:  # vLLM / SGLang serve one model: take the first listed
                    payload["model"] = await self.client.first_model()
                return (await self.client.complete(payload)).text
            finally:
                await self.client.aclose()

        return run_sync(go)


def build_prompt(
    space: SearchSpace,
    n: int,
    history: Sequence[TrialRecord],
    scoring: Scoring,
    failures: Sequence[str] = (),
    history_size: int = 30,
) -> str:
    """The user turn: space, objective, history (best + latest), failures, and the reply format."""
    seed = space.seed_values
    shown = _history_rows(history, scoring, history_size)
    front = {r.number for r in front_records(history)}
    rows = []
    for r in shown:
        diff = {k: v for k, v in r.values.items() if k in seed and seed[k] != v}
        rows.append(json.dumps({
            "trial": r.number, "gen": r.generation, "origin": r.origin, "accuracy": round(r.accuracy, 4),
            "compression": round(r.compression, 3), "score": round(scoring.score(r.accuracy, r.compression), 4),
            "pareto": r.number in front, "changes": diff,
        }, ensure_ascii=False))
    best = rank(history, scoring)[0] if history else None
    parts = [
        "## Search space (knob: domain; numbers must lie on the grid low + k*step)",
        json.dumps(space.describe(), ensure_ascii=False),
        "## Reference config (the seed; history rows list only the knobs that differ from it)",
        json.dumps(seed, ensure_ascii=False),
        "## Objective",
        (f"maximize score = {scoring.accuracy_weight} * accuracy + {1 - scoring.accuracy_weight:.2f} * log2(compression)"
         f" for configs with accuracy >= {scoring.accuracy_floor}; configs under that floor rank last."),
        f"## History ({len(history)} configs evaluated; {len(shown)} shown: best by score, then the latest)",
        *(rows or ["(none yet)"]),
        "## Failures seen",
        *([f"- {f}" for f in failures] or ["- none recorded"]),
        "## Task",
        (f"Propose {n} NEW configs, each different from every config above. Mix bold moves with refinements "
         "of the best ones; keep accuracy above the floor while raising compression."),
        "Reply with JSON only, in this shape:",
        '{"proposals": [{"rationale": "<one line: why this should score well>", "config": {"<knob>": <value>, ...}}]}',
        "A config may list every knob or only those it changes"
        + (f" relative to the best config so far (trial {best.number}); the rest are taken from it." if best
           else " relative to the reference config; the rest are taken from it."),
    ]
    return "\n".join(parts)


def _history_rows(history: Sequence[TrialRecord], scoring: Scoring, size: int) -> list[TrialRecord]:
    best = rank(history, scoring)[: max(1, size * 2 // 3)]
    seen = {r.number for r in best}
    latest = [r for r in sorted(history, key=lambda r: -r.number) if r.number not in seen][: size - len(best)]
    return best + latest


def failure_notes(history: Sequence[TrialRecord], scoring: Scoring, errors: Sequence[str] = (),
                  rejections: Sequence[str] = ()) -> list[str]:
    """What went wrong so far, in words the proposer can act on: misread character classes,
    configs under the floor, evaluation errors, and rejected proposals."""
    notes: list[str] = []
    top = rank(history, scoring)[:5]
    for field, label in (("class_accuracy", "{} characters"), ("by_task", "task {}")):
        groups: dict[str, list[tuple[float, int]]] = {}
        for r in history:
            for name, acc in (r.metrics.get(field) or {}).items():
                if acc is not None:
                    groups.setdefault(name, []).append((acc, r.number))
        for name, values in sorted(groups.items()):
            mean = sum(a for a, _ in values) / len(values)
            worst, at = min(values)
            top_vals = [a for r in top for n, a in (r.metrics.get(field) or {}).items() if n == name and a is not None]
            if worst < 0.99:
                top_txt = f", in the 5 best configs {sum(top_vals) / len(top_vals):.3f}" if top_vals else ""
                notes.append(f"{label.format(name)}: mean accuracy {mean:.3f} over {len(values)} configs{top_txt}; "
                             f"worst {worst:.3f} (trial {at})")
    rare = [(r.metrics["rare_string_accuracy"], r.number) for r in history
            if r.metrics.get("rare_string_accuracy") is not None]
    if rare and min(rare)[0] < 1.0:
        notes.append(f"exact rare strings (UUIDs, codes): worst {min(rare)[0]:.3f} (trial {min(rare)[1]}), "
                     f"best {max(rare)[0]:.3f}")
    low = [r for r in history if not scoring.feasible(r.accuracy)]
    if low:
        lowest = sorted(low, key=lambda r: r.accuracy)[:3]
        notes.append(f"{len(low)} configs fell under the accuracy floor {scoring.accuracy_floor}, e.g. "
                     + "; ".join(f"trial {r.number} (accuracy {r.accuracy:.3f}, font-size {r.values.get('font-size')}, "
                                 f"dpi {r.values.get('dpi')})" for r in lowest))
    notes += [f"evaluation failed: {e}" for e in errors[-5:]]
    notes += [f"rejected proposal: {e}" for e in rejections[-8:]]
    return notes


# ---------------------------------------------------------------------- reply parsing
def parse_proposals(reply: str) -> list[Any]:
    """The list of proposals in a reply: JSON alone, in ``` fences, or embedded in prose.

    Accepts ``{"proposals": [...]}``, ``{"configs": [...]}``, a bare list, or a single object.
    Raises ValueError when no JSON value can be found.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(reply)] + [reply]
    for text in candidates:
        value = _first_json(text)
        if value is None:
            continue
        if isinstance(value, dict):
            for key in ("proposals", "configs", "candidates"):
                if isinstance(value.get(key), list):
                    return value[key]
            return [value]
        if isinstance(value, list):
            return value
    raise ValueError(f"no JSON proposals in the reply: {reply[:200]!r}")


def _first_json(text: str) -> Any:
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "[{":
            try:
                return decoder.raw_decode(text, i)[0]
            except json.JSONDecodeError:
                continue
    return None


def split_proposal(item: Any) -> tuple[dict[str, Any] | None, str]:
    """(config dict, rationale) of one proposal; ``None`` config when the item has none."""
    if not isinstance(item, dict):
        return None, ""
    rationale = item.get("rationale") or item.get("reason") or item.get("why") or ""
    config = item.get("config", item.get("params"))
    if config is None:
        config = {k: v for k, v in item.items() if k not in ("rationale", "reason", "why")}
    if not isinstance(config, dict):
        return None, str(rationale)
    return config, " ".join(str(rationale).split())[:300]
