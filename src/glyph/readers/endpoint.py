"""The shared half of the readers that ask an OpenAI-compatible chat endpoint (VLM or text).

The HTTP side (client, retries, errors, the sync bridge) is :mod:`glyph.client`; this module
only turns a reader's options into a client, asks, and wraps the reply as a ``ReaderAnswer``.
A server that cannot be reached is reported as :class:`EndpointUnreachableError`, which is
both the client's connection error and this package's ``ReaderUnavailableError``, so callers
that only know readers catch it as "reader unavailable".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from glyph.client import Completion, UpstreamConnectionError, make_client, run_sync
from glyph.readers.base import Reader, ReaderAnswer, ReaderUnavailableError, code_revision
from glyph.render.pages import RenderedPage

T = TypeVar("T")


class EndpointUnreachableError(UpstreamConnectionError, ReaderUnavailableError):
    """The reader's server cannot be reached (after the retries)."""


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    try:
        yield
    except EndpointUnreachableError:
        raise
    except UpstreamConnectionError as exc:
        raise EndpointUnreachableError(
            exc.message, upstream_status=exc.upstream_status, code=exc.code
        ) from exc


def reader_answer(completion: Completion) -> ReaderAnswer:
    """A client :class:`~glyph.client.Completion` as a reader's answer."""
    return ReaderAnswer(
        text=completion.text, usage=completion.usage, seconds=completion.seconds, raw=completion.raw
    )


class ChatEndpointReader(Reader):
    """Asks ``/chat/completions`` (or ``/completions`` for a raw prompt) of one server; subclasses
    build the messages.

    Sync calls (``answer``, ``transcribe``) run on a private event loop each and close their
    connections afterwards; async callers use ``aanswer`` and share one pool per loop.
    """

    answers = True

    def __init__(
        self,
        base_url: str = "http://localhost:8000/v1",
        model: str | None = None,
        api_key: str | None = None,
        *,
        concurrency: int = 8,
        timeout: float = 300.0,
        max_retries: int = 3,
        backoff_initial: float = 0.5,
        temperature: float | None = 0.0,
    ) -> None:
        self.client = make_client(
            base_url,
            api_key=api_key,
            timeout=timeout,
            concurrency=concurrency,
            max_retries=max_retries,
            backoff_initial=backoff_initial,
        )
        self.model = model
        self.temperature = temperature

    @property
    def revision(self) -> str:
        """The model as asked for: an endpoint's weights cannot be seen from here, so pin them by
        naming the model (``model=``); left unset it is the server's first model, which this
        revision can only call so until the first request resolves it."""
        return f"model {self.model or '(first served)'}; code {code_revision(type(self))}"

    async def resolve_model(self) -> str:
        """The configured model, or the server's first listed one (vLLM and SGLang serve one)."""
        if self.model is None:
            async with _reachable():
                self.model = await self.client.first_model()
        return self.model

    async def _payload(self, max_tokens: int, stop: Sequence[str]) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": await self.resolve_model(), "max_tokens": max_tokens}
        if self.temperature is not None:
            payload["temperature"] = self.temperature
        if stop:
            payload["stop"] = list(stop)
        return payload

    async def chat(
        self, messages: list[dict[str, Any]], max_tokens: int, stop: Sequence[str] = ()
    ) -> ReaderAnswer:
        """One chat completion for ``messages``; the usage is the server's own count."""
        payload = {**await self._payload(max_tokens, stop), "messages": messages}
        async with _reachable():
            return reader_answer(await self.client.complete(payload))

    async def prompt(self, prompt: str, max_tokens: int, stop: Sequence[str] = ()) -> ReaderAnswer:
        """One raw-prompt completion (``/completions``, no chat template); usage as the server counts it."""
        payload = {**await self._payload(max_tokens, stop), "prompt": prompt}
        async with _reachable():
            return reader_answer(await self.client.complete_prompt(payload))

    def answer(
        self,
        pages: Sequence[RenderedPage],
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
    ) -> ReaderAnswer:
        """Sync ``aanswer`` (which each endpoint reader defines) on a private loop."""
        return self.run(lambda: self.aanswer(pages, question, system=system, max_tokens=max_tokens))

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` from sync code on a private loop, closing its connections after."""

        async def go() -> T:
            try:
                return await make()
            finally:
                await self.client.aclose()

        return run_sync(go)

    async def aclose(self) -> None:
        await self.client.aclose()
