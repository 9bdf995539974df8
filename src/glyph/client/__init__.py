"""Talking to OpenAI-compatible servers (vLLM, SGLang, ``glyph serve``, hosted APIs): one home.

Who uses it: the VLM and text-baseline readers (``glyph.readers``), the gateway's upstream
(``glyph.serve``), the search's LLM proposer (``glyph.search``), and whatever next asks a chat
model over HTTP (a trainer's LLM judge, a benchmark's ``--base-url`` streaming mode). None of
those is a reader, so the client lives beside the capability packages, below all of them:
it imports nothing from ``glyph`` outside this package. The names below are imported on first
use (PEP 562), so a module that needs only :class:`Usage` (every reader's answer has one)
does not load httpx.

What is here, one module each:

* :mod:`.settings`: :class:`HttpSettings`, validated (pydantic) once for every caller;
* :mod:`.client`: :class:`OpenAIClient` (JSON calls, raw and decoded event streams) and
  :func:`make_client`, the one place a client is built;
* :mod:`.errors`: the error types, each with the status a gateway should answer with;
* :mod:`.retry`: the retry policy (429/5xx with ``Retry-After``, refused connections; never
  4xx or read timeouts);
* :mod:`.streaming`: SSE chunks folded into a :class:`StreamedCompletion` with TTFT and TPOT;
* :mod:`.completion`: :class:`Completion` and :class:`Usage`, parsed from a reply (chat, or a
  raw prompt's ``/completions``);
* :mod:`.content`: messages and page images (PNG data URLs) in the chat format;
* :mod:`.sync`: :func:`run_sync`, the bridge from blocking code.

Why our httpx + tenacity client and not the ``openai`` SDK (3.57): both were run against the same
scripted loopback server (``benchmarks/http_client.py``, results in
``benchmarks/results/http_client.md``). Both honour ``Retry-After`` and retry 5xx and refused
connections; but the SDK retries read timeouts (a 0.5 s timeout became 3 attempts and ~2.9 s;
at a 300 s timeout each retry adds five minutes for a generation that will not finish), bounds
no concurrency (16 requests in flight where the caller asked for 4), keeps a FastAPI-style
``{"detail": ...}`` error out of its message, refuses a gateway's extra body fields unless
wrapped in ``extra_body``, and takes about three times as long to import. Per-call cost on
loopback is of the same order for both (the figures are in the results file).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from glyph.client.client import OpenAIClient, make_client
    from glyph.client.completion import Completion, Usage, parse_completion, parse_text_completion
    from glyph.client.content import capped_size, chat_messages, image_data_url, image_part
    from glyph.client.errors import (
        UpstreamConnectionError,
        UpstreamError,
        UpstreamHTTPError,
        UpstreamTimeoutError,
    )
    from glyph.client.settings import HttpSettings, normalize_base_url
    from glyph.client.streaming import StreamedCompletion
    from glyph.client.sync import run_sync

_EXPORTS = {
    "OpenAIClient": "glyph.client.client",
    "make_client": "glyph.client.client",
    "Completion": "glyph.client.completion",
    "Usage": "glyph.client.completion",
    "parse_completion": "glyph.client.completion",
    "parse_text_completion": "glyph.client.completion",
    "capped_size": "glyph.client.content",
    "chat_messages": "glyph.client.content",
    "image_data_url": "glyph.client.content",
    "image_part": "glyph.client.content",
    "UpstreamConnectionError": "glyph.client.errors",
    "UpstreamError": "glyph.client.errors",
    "UpstreamHTTPError": "glyph.client.errors",
    "UpstreamTimeoutError": "glyph.client.errors",
    "HttpSettings": "glyph.client.settings",
    "normalize_base_url": "glyph.client.settings",
    "StreamedCompletion": "glyph.client.streaming",
    "run_sync": "glyph.client.sync",
}
__all__ = [
    "Completion",
    "HttpSettings",
    "OpenAIClient",
    "StreamedCompletion",
    "UpstreamConnectionError",
    "UpstreamError",
    "UpstreamHTTPError",
    "UpstreamTimeoutError",
    "Usage",
    "capped_size",
    "chat_messages",
    "image_data_url",
    "image_part",
    "make_client",
    "normalize_base_url",
    "parse_completion",
    "parse_text_completion",
    "run_sync",
]


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'glyph.client' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
