"""A reference-based LLM judge for GRPO accuracy rewards, on any OpenAI-compatible endpoint.

The judge sees the question, the reference answer(s) and the policy's answer (the thinking is
not sent), and must reply with exactly one word. The verdict is parsed strictly
(:func:`parse_verdict`): ``CORRECT`` or ``INCORRECT``, case-insensitive, optionally followed by
a full stop, after an optional leading ``<think>...</think>`` block (reasoning judges); any other
reply is *malformed*. A request that still fails after the client's retries is *failed*. Both
score 0, are counted (:attr:`LlmJudge.counts`) and logged, and never raise: one bad verdict must
not end a 500-iteration run.

Requests go through the project's OpenAI-compatible client (``glyph.readers.http``): bounded
concurrency, retries with backoff on 429/5xx/refused connections. Identical (question,
references, answer) triples are judged once (an LRU cache): a group of 16 completions often
holds the same short answer several times.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cachetools import LRUCache
from pydantic import BaseModel, ConfigDict, Field, field_validator

from glyph.client import OpenAIClient, make_client, run_sync

__all__ = ["DEFAULT_JUDGE_PROMPT", "JudgeSpec", "LlmJudge", "Verdict", "parse_verdict"]

DEFAULT_JUDGE_PROMPT = """You are grading an answer against a reference answer.

Question:
{question}

Reference answer(s):
{reference}

Answer to grade:
{answer}

The answer is CORRECT if it states the same facts as a reference answer (wording, order and \
formatting may differ; extra correct detail is fine) and INCORRECT if anything required is missing \
or wrong. Reply with exactly one word: CORRECT or INCORRECT."""

_VERDICT = re.compile(
    r"^\s*(?:<think>.*?</think>\s*)?(CORRECT|INCORRECT)\s*\.?\s*$", re.IGNORECASE | re.DOTALL
)
Status = Literal["correct", "incorrect", "empty", "malformed", "failed"]


class JudgeSpec(BaseModel):
    """Where the judge runs and how it is asked (the ``judge:`` section of a GRPO recipe)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="OpenAI-compatible endpoint, e.g. http://localhost:8001/v1")
    model: str | None = Field(None, description="model name; None: the first one /v1/models lists")
    api_key_env: str | None = Field(
        "OPENAI_API_KEY", description="environment variable holding the API key (keys never go in recipes)"
    )
    timeout: float = Field(120.0, gt=0, description="seconds for one verdict")
    concurrency: int = Field(16, ge=1, description="verdicts in flight at once")
    max_retries: int = Field(3, ge=0)
    backoff_initial: float = Field(0.5, ge=0)
    max_tokens: int = Field(8, ge=1, description="the verdict is one word; reasoning judges need more")
    temperature: float = Field(0.0, ge=0)
    prompt: str = Field(DEFAULT_JUDGE_PROMPT, description="template with {question}, {reference}, {answer}")
    cache_size: int = Field(4096, ge=0)

    @field_validator("prompt")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        missing = [k for k in ("{question}", "{reference}", "{answer}") if k not in value]
        if missing:
            raise ValueError(f"the judge prompt must contain {', '.join(missing)}")
        return value


@dataclass(frozen=True)
class Verdict:
    """One judged answer: ``score`` 1.0 iff correct; ``detail`` keeps a malformed reply or the error."""

    status: Status
    detail: str = ""

    @property
    def score(self) -> float:
        return 1.0 if self.status == "correct" else 0.0


def parse_verdict(reply: str) -> bool | None:
    """True for CORRECT, False for INCORRECT, None for anything else (see the module doc)."""
    m = _VERDICT.match(reply or "")
    return None if m is None else m.group(1).upper() == "CORRECT"


class LlmJudge:
    """Judges answers against references through an OpenAI-compatible chat endpoint."""

    def __init__(self, spec: JudgeSpec, client: OpenAIClient | None = None) -> None:
        self.spec = spec
        self.client = client or make_client(
            spec.base_url,
            api_key_env=(spec.api_key_env,) if spec.api_key_env else (),
            timeout=spec.timeout,
            concurrency=spec.concurrency,
            max_retries=spec.max_retries,
            backoff_initial=spec.backoff_initial,
        )
        self.model = spec.model
        self.counts: Counter[str] = Counter()
        self._cache: LRUCache[tuple[str, tuple[str, ...], str], Verdict] | None = (
            LRUCache(spec.cache_size) if spec.cache_size else None
        )

    def message(self, question: str, references: Sequence[str], answer: str) -> str:
        reference = "\n".join(f"- {r}" for r in references) if len(references) > 1 else "".join(references)
        return self.spec.prompt.format(question=question.strip(), reference=reference, answer=answer.strip())

    async def _model(self) -> str:
        if self.model is None:
            self.model = await self.client.first_model()
        return self.model

    async def ajudge(self, question: str, references: Sequence[str], answer: str) -> Verdict:
        """One verdict; never raises (failures become a ``failed`` verdict)."""
        if not answer.strip():
            return Verdict("empty")
        key = (question, tuple(references), answer)
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        try:
            payload: dict[str, Any] = {
                "model": await self._model(),
                "messages": [{"role": "user", "content": self.message(question, references, answer)}],
                "max_tokens": self.spec.max_tokens,
                "temperature": self.spec.temperature,
            }
            reply = (await self.client.complete(payload)).text
        except Exception as exc:  # noqa: BLE001 -- after the client's retries: count it, score 0, keep training
            return Verdict("failed", f"{type(exc).__name__}: {exc}"[:500])
        verdict = parse_verdict(reply)
        if verdict is None:
            result = Verdict("malformed", reply[:500])
        else:
            result = Verdict("correct" if verdict else "incorrect")
        if self._cache is not None:
            self._cache[key] = result  # failures are not cached: the next batch asks again
        return result

    def judge_many(self, items: Sequence[tuple[str, Sequence[str], str]]) -> list[Verdict]:
        """Verdicts for (question, references, answer) triples, concurrently; counted in :attr:`counts`."""
        if not items:
            return []
        keys = [(q, tuple(r), a) for q, r, a in items]
        unique = list(dict.fromkeys(keys))  # a group's repeated answers: one request each

        async def go() -> list[Verdict]:
            try:
                return list(await asyncio.gather(*(self.ajudge(q, r, a) for q, r, a in unique)))
            finally:
                await self.client.aclose()

        by_key = dict(zip(unique, run_sync(go)))
        verdicts = [by_key[k] for k in keys]
        self.counts.update(v.status for v in verdicts)
        return verdicts
