"""Ask one question two ways at once: the pages to a page model, the text to a text model.

Each side streams (OpenAI ``stream: true``, usage requested with ``stream_options``) from an
endpoint through the project's readers (:class:`~glyph.readers.openai_http.OpenAIReader` builds
the page messages, :func:`~glyph.readers.text_baseline.document_prompt` the text prompt, their
:class:`~glyph.client.OpenAIClient` streams decoded chunks), or from a local transformers checkpoint through
the gateway's :class:`~glyph.serve.backends.LocalBackend`. Both sides' events are merged into one
stream for the browser: ``start``, ``delta``, ``done`` (prompt tokens as the server counted them,
latency) or ``error``, per side, then ``end``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from glyph.client import UpstreamError
from glyph.readers.openai_http import OpenAIReader
from glyph.readers.text_baseline import TextBaselineReader, document_prompt
from glyph.tokens import get_tokenizer, get_vlm_rule
from glyph.ui.errors import UIError
from glyph.ui.settings import Side, UISettings
from glyph.ui.store import Render

Event = tuple[str, dict[str, Any]]  # (event name, data)


class AskSide:
    """One model of the comparison; ``kind`` is "pages" or "text"."""

    def __init__(self, kind: str, side: Side, settings: UISettings, local_backend: Any = None) -> None:
        self.kind = kind
        self.side = side
        self.settings = settings
        self.backend = local_backend
        self.reader: OpenAIReader | TextBaselineReader | None = None
        if side.url:
            common = {"base_url": side.url, "model": side.model, "api_key": side.api_key,
                      "timeout": settings.timeout, "max_retries": settings.max_retries}
            self.reader = (
                OpenAIReader(max_pixels=settings.max_pixels, **common) if kind == "pages" else TextBaselineReader(**common)
            )

    @property
    def label(self) -> str:
        return self.side.label

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "local": self.side.local is not None}

    def messages(self, render: Render, question: str) -> list[dict[str, Any]]:
        if self.kind == "text":
            return [{"role": "user", "content": document_prompt(render.document.text, question)}]
        pages = [p.rendered(i) for i, p in enumerate(render.pages)]
        if self.reader is not None:
            return self.reader.messages(pages, question)  # data URLs, the cap applied
        return [{"role": "user", "content": [*({"type": "image", "image": p.image} for p in pages),
                                             {"type": "text", "text": question}]}]

    async def open(self, render: Render, question: str) -> tuple[str, AbstractAsyncContextManager[Any]]:
        """(model name, context yielding the stream's JSON chunks); messages are built off the event loop."""
        messages = await asyncio.to_thread(self.messages, render, question)
        body: dict[str, Any] = {"messages": messages, "max_tokens": self.settings.max_tokens,
                                "temperature": 0.0, "stream_options": {"include_usage": True}}
        if self.reader is not None:
            body["model"] = await self.reader.resolve_model()
            return body["model"], self.reader.client.stream_chunks(body)
        return self.backend.settings.model_name, _local_chunks(self.backend.stream({**body, "stream": True}))

    async def aclose(self) -> None:
        if self.reader is not None:
            await self.reader.client.aclose()


def estimate_prompt_tokens(kind: str, render: Render, question: str, vlm: str) -> int:
    """Our own count when a server reports none: text tokens (Qwen BPE), or visual tokens + question."""
    tok = get_tokenizer("qwen")
    if kind == "text":
        return tok.count(document_prompt(render.document.text, question))
    return render.report.cost(get_vlm_rule(vlm).name).visual_tokens + tok.count(question)


def check_budget(kind: str, render: Render, question: str, settings: UISettings) -> None:
    """Refuse, before anything is sent, a question the model cannot take (pages per request, context)."""
    if kind == "pages" and len(render.pages) > settings.max_pages_asked:
        raise UIError(400, f"the document renders to {len(render.pages)} pages; the page model takes at most "
                      f"{settings.max_pages_asked} per request (glyph ui --max-pages): use a denser config "
                      "(lower dpi, reflow) or a shorter text", type="limit", field="pages")
    need = estimate_prompt_tokens(kind, render, question, settings.vlm) + settings.max_tokens
    if need > settings.max_context:
        raise UIError(400, f"this needs about {need:,} tokens ({kind} + question + answer); the model's context is "
                      f"{settings.max_context:,} (glyph ui --max-context)", type="limit", field="context")


@asynccontextmanager
async def _local_chunks(lines_context: AbstractAsyncContextManager[Any]) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """The in-process backend's SSE lines as JSON chunks (remote streams are decoded by glyph.client)."""

    async def chunks(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
        async for line in lines:
            chunk = parse_chunk(line)
            if chunk is not None:
                yield chunk

    async with lines_context as lines:
        yield chunks(lines)


def parse_chunk(line: str) -> dict[str, Any] | None:
    """One SSE line of the local backend's stream -> its JSON object (None for blank, comments, [DONE])."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise UpstreamError(f"the server sent a stream line that is not JSON: {data[:120]!r}") from None
    return chunk if isinstance(chunk, dict) else None


async def stream_side(side: AskSide, render: Render, question: str, settings: UISettings) -> AsyncIterator[Event]:
    """The events of one side, errors included (they end that side only)."""
    kind = side.kind
    start = time.perf_counter()
    first: float | None = None
    usage: dict[str, Any] = {}
    try:
        check_budget(kind, render, question, settings)
        model, context = await side.open(render, question)
        yield "start", {"side": kind, "label": side.label, "model": model}
        async with asyncio.timeout(settings.timeout):
            async with context as chunks:
                async for chunk in chunks:
                    if isinstance(chunk.get("error"), dict):  # glyph serve relays late failures this way
                        raise UpstreamError(str(chunk["error"].get("message") or chunk["error"]))
                    if isinstance(chunk.get("usage"), dict):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        for key, thinking in (("reasoning_content", True), ("content", False)):
                            piece = delta.get(key)
                            if isinstance(piece, str) and piece:
                                first = first if first is not None else time.perf_counter() - start
                                yield "delta", {"side": kind, "text": piece, "thinking": thinking}
        prompt = usage.get("prompt_tokens")
        yield "done", {
            "side": kind,
            "seconds": round(time.perf_counter() - start, 3),
            "first_token_seconds": None if first is None else round(first, 3),
            "prompt_tokens": prompt if isinstance(prompt, int) else None,
            "completion_tokens": usage.get("completion_tokens"),
            "estimated_prompt_tokens": estimate_prompt_tokens(kind, render, question, settings.vlm),
        }
    except UIError as exc:
        yield "error", {"side": kind, "message": exc.message}
    except TimeoutError:
        yield "error", {"side": kind, "message": f"no complete answer from {side.label} within {settings.timeout:g} s (glyph ui --timeout)"}
    except UpstreamError as exc:  # refused connections, HTTP errors, stalls: the server's own words
        yield "error", {"side": kind, "message": f"{side.label}: {exc.message}"}
    except Exception as exc:  # a local model failing, a gateway error: named, never a traceback
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        yield "error", {"side": kind, "message": f"{side.label}: {message}"}


async def ask_both(sides: list[AskSide], render: Render, question: str, settings: UISettings) -> AsyncIterator[Event]:
    """Both sides' events, interleaved as they arrive, then ``end``."""
    queue: asyncio.Queue[Event | None] = asyncio.Queue()

    async def pump(side: AskSide) -> None:
        try:
            async for event in stream_side(side, render, question, settings):
                await queue.put(event)
        finally:
            await queue.put(None)

    tasks = [asyncio.create_task(pump(s)) for s in sides]
    try:
        remaining = len(tasks)
        while remaining:
            event = await queue.get()
            if event is None:
                remaining -= 1
                continue
            yield event
        yield "end", {}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
