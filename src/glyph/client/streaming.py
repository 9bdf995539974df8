"""Streaming chat completions: server-sent events decoded into chunks, folded into one answer
with the timings an efficiency benchmark reports.

The events are decoded by ``httpx-sse`` (the SSE framing: ``data:`` lines, blank-line
separators, comments); this module only knows what OpenAI-compatible servers put inside:
``chat.completion.chunk`` objects, an optional final ``usage`` chunk
(``stream_options.include_usage``), error events, and ``[DONE]``.

Timings follow vLLM's serving benchmark: TTFT is the time from sending the request to the
first generated text (a reasoning delta counts: the model has started), TPOT the mean time
per output token after the first, ``(e2e - ttft) / (completion_tokens - 1)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from glyph.client.completion import Usage, content_text
from glyph.client.errors import UpstreamConnectionError, UpstreamError, UpstreamTimeoutError, body_message

DONE = "[DONE]"


@dataclass(frozen=True)
class StreamedCompletion:
    """A streamed answer: its text, the server's usage, and when the tokens arrived."""

    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    reasoning: str = ""
    ttft: float | None = None  # seconds from sending to the first generated text; None: nothing generated
    seconds: float = 0.0  # seconds from sending to the end of the stream
    chunks: int = 0  # chunks that carried generated text

    @property
    def tpot(self) -> float | None:
        """Mean seconds per output token after the first (needs the server's completion_tokens)."""
        n = self.usage.completion_tokens
        if self.ttft is None or n is None or n < 2:
            return None
        return (self.seconds - self.ttft) / (n - 1)

    @property
    def output_tokens_per_second(self) -> float | None:
        """completion_tokens / end-to-end seconds (prefill included)."""
        n = self.usage.completion_tokens
        return n / self.seconds if n is not None and self.seconds > 0 else None

    @property
    def decode_tokens_per_second(self) -> float | None:
        """Tokens per second once generation started: 1 / TPOT."""
        tpot = self.tpot
        return 1.0 / tpot if tpot else None


class StreamFolder:
    """Folds ``chat.completion.chunk`` objects into a :class:`StreamedCompletion` as they arrive."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.first: float | None = None
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.chunks = 0

    def add(self, chunk: dict[str, Any], now: float) -> None:
        if isinstance(chunk.get("usage"), dict):
            self.usage = Usage.from_body(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            piece = content_text(delta.get("content"))
            thought = delta.get("reasoning_content") or delta.get("reasoning") or ""
            thought = thought if isinstance(thought, str) else ""
            if piece or thought:
                self.chunks += 1
                if self.first is None:
                    self.first = now
            self.text.append(piece)
            self.reasoning.append(thought)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def result(self, ended: float) -> StreamedCompletion:
        return StreamedCompletion(
            text="".join(self.text),
            usage=self.usage,
            finish_reason=self.finish_reason,
            reasoning="".join(self.reasoning),
            ttft=None if self.first is None else self.first - self.started,
            seconds=ended - self.started,
            chunks=self.chunks,
        )


async def sse_chunks(response: httpx.Response, source: str, timeout: float) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of an OpenAI event stream until ``[DONE]``; an error event raises
    :class:`UpstreamError` with the server's message, transport failures our error types."""
    try:
        async for event in EventSource(response).aiter_sse():
            if event.data == DONE:
                return
            if not event.data:
                continue
            try:
                chunk = json.loads(event.data)
            except json.JSONDecodeError:
                raise UpstreamError(
                    f"stream from {source} sent non-JSON data: {event.data[:200]!r}"
                ) from None
            if not isinstance(chunk, dict):
                raise UpstreamError(f"stream from {source} sent {type(chunk).__name__}, not an object")
            if event.event == "error" or "error" in chunk or chunk.get("object") == "error":
                message, code, _ = body_message(chunk)
                raise UpstreamError(f"stream from {source} failed: {message}", code=code)
            yield chunk
    except SSEError as exc:
        raise UpstreamError(f"{source} did not answer with an event stream: {exc}") from None
    except httpx.TimeoutException as exc:
        raise UpstreamTimeoutError(f"stream from {source} stalled for {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise UpstreamConnectionError(f"stream from {source} broke: {exc!r}") from exc


async def fold_stream(chunks: AsyncIterator[dict[str, Any]], started: float) -> StreamedCompletion:
    """Consume ``chunks`` (sent at ``started``, a ``time.perf_counter()``) into one answer."""
    folder = StreamFolder(started)
    async for chunk in chunks:
        folder.add(chunk, time.perf_counter())
    return folder.result(time.perf_counter())
