"""A completion as our callers use it: the reply text, the server's token usage, the time.

Readers wrap it in their ``ReaderAnswer``; the search's proposer and an LLM judge only need
``text``. Parsing is forgiving where servers differ (content as a string or as parts, a
``reasoning_content`` next to the answer) and strict where a reply is unusable (no choices).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from glyph.client.errors import UpstreamError


@dataclass(frozen=True)
class Usage:
    """Token usage as the backend counted it (None where it does not report a figure)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    @classmethod
    def from_body(cls, usage: Any) -> Usage:
        """From an OpenAI ``usage`` object (anything else: all None)."""
        usage = usage if isinstance(usage, dict) else {}
        return cls(
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
            total_tokens=_int_or_none(usage.get("total_tokens")),
        )


@dataclass(frozen=True)
class Completion:
    """The first choice of a ``chat.completion`` (or a raw-prompt ``text_completion``), with the
    usage and the wall time of the call."""

    text: str
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    finish_reason: str | None = None
    reasoning: str = ""  # a reasoning parser's separate output (vLLM --reasoning-parser), if any
    raw: dict[str, Any] | None = None


def content_text(content: Any) -> str:
    """A message's content as text: a string, or the text of its content parts."""
    if isinstance(content, list):  # some servers return content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def parse_completion(body: dict[str, Any], seconds: float = 0.0) -> Completion:
    """A ``chat.completion`` body -> :class:`Completion`; no ``choices[0].message`` is an error."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise UpstreamError(f"response has no choices[0].message: {json.dumps(body)[:300]}") from None
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    return Completion(
        text=content_text(message.get("content")),
        usage=Usage.from_body(body.get("usage")),
        seconds=seconds,
        finish_reason=choice.get("finish_reason"),
        reasoning=reasoning if isinstance(reasoning, str) else "",
        raw=body,
    )


def parse_text_completion(body: dict[str, Any], seconds: float = 0.0) -> Completion:
    """A ``text_completion`` body (``POST /completions``, a raw prompt) -> :class:`Completion`."""
    try:
        choice = body["choices"][0]
        text = choice["text"]
    except (KeyError, IndexError, TypeError):
        raise UpstreamError(f"response has no choices[0].text: {json.dumps(body)[:300]}") from None
    return Completion(
        text=text if isinstance(text, str) else "",
        usage=Usage.from_body(body.get("usage")),
        seconds=seconds,
        finish_reason=choice.get("finish_reason"),
        raw=body,
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
