"""``OpenAIClient``: JSON calls and event streams to one OpenAI-compatible server, retried and bounded.

Built on ``httpx.AsyncClient`` (connection pool, timeouts), ``tenacity`` (the retry loop of
:mod:`glyph.client.retry`) and ``httpx-sse`` (event decoding). An ``asyncio.Semaphore``
bounds the requests in flight; a stream holds its slot until it is closed, and a retry
gives its slot back while it waits.

The pool and the semaphore belong to an event loop; a call from another loop (e.g.
successive ``asyncio.run`` in sync code, see :func:`glyph.client.sync.run_sync`) gets fresh ones.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from glyph.client.completion import Completion, parse_completion, parse_text_completion
from glyph.client.errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeoutError,
    raise_for_status,
)
from glyph.client.retry import retrying
from glyph.client.settings import HttpSettings, resolve_api_key, settings_error
from glyph.client.streaming import StreamedCompletion, fold_stream, sse_chunks

T = TypeVar("T")


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi, SSL_CERT_FILE), built once per process: building it
    is most of the ~40 ms a new ``httpx.AsyncClient`` costs, and sync callers make one per call."""
    return httpx.create_ssl_context()


class OpenAIClient:
    """Async client for an OpenAI-compatible API (build it with :func:`make_client`)."""

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        self.base_url = settings.base_url  # normalized: always ends in a path such as /v1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        return f"OpenAIClient({self.base_url!r}, concurrency={self.settings.concurrency})"

    def _session(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._sem is None:
            s = self.settings
            headers = {"Authorization": f"Bearer {s.api_key}"} if s.api_key else {}
            self._client = httpx.AsyncClient(
                base_url=self.base_url + "/",
                headers=headers,
                timeout=httpx.Timeout(s.timeout, connect=s.connect_timeout),
                limits=httpx.Limits(max_connections=s.concurrency * 2),
                verify=_ssl_context(),
            )
            self._sem = asyncio.Semaphore(s.concurrency)
            self._loop = loop
        return self._client, self._sem

    async def aclose(self) -> None:
        """Close the connection pool of the current loop's client."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = self._sem = self._loop = None

    # ------------------------------------------------------------------ one attempt, retried
    async def _attempt(self, fn: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        """One try, transport errors mapped to our error types (the retry policy sees those)."""
        client, _ = self._session()
        try:
            return await fn(client)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                message = f"timed out after {self.settings.connect_timeout:g} s connecting to {self.base_url}"
            else:
                message = f"no answer from {self.base_url} within {self.settings.timeout:g} s"
            raise UpstreamTimeoutError(message) from exc
        except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
            raise UpstreamConnectionError(f"cannot reach {self.base_url}: {exc}") from exc
        except httpx.HTTPError as exc:  # other transport errors: read/write errors and friends
            raise UpstreamConnectionError(f"connection to {self.base_url} failed: {exc!r}") from exc

    async def _retried(self, fn: Callable[[httpx.AsyncClient], Awaitable[T]], *, take_slot: bool = True) -> T:
        """``fn`` under the retry policy; each try takes a concurrency slot (freed while waiting)
        unless the caller holds one already."""
        async for attempt in retrying(self.settings):
            with attempt:
                if not take_slot:
                    return await self._attempt(fn)
                _, sem = self._session()
                async with sem:
                    return await self._attempt(fn)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ JSON calls
    async def request_json(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A JSON call, retried on 429/5xx/refused connections; the answer must be an object."""
        where = f"{self.base_url}/{path.lstrip('/')}"

        async def once(client: httpx.AsyncClient) -> dict[str, Any]:
            response = await client.request(method, path.lstrip("/"), json=payload)
            raise_for_status(response)
            try:
                body = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise UpstreamError(f"{where} answered non-JSON: {response.text[:200]!r}") from None
            if not isinstance(body, dict):
                raise UpstreamError(f"{where} answered {type(body).__name__}, not an object")
            return body

        return await self._retried(once)

    async def chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST /chat/completions`` (non-streaming): the server's body as it came (gateways relay it)."""
        return await self.request_json("POST", "chat/completions", {**payload, "stream": False})

    async def complete(self, payload: dict[str, Any]) -> Completion:
        """``POST /chat/completions``, parsed: the first choice's text, the usage, the wall time."""
        self._session()  # the clock starts when the request can leave, not while a pool is built
        start = time.perf_counter()
        body = await self.chat(payload)
        return parse_completion(body, time.perf_counter() - start)

    async def completions(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST /completions`` (non-streaming): a raw ``prompt``, no chat template (vLLM, SGLang)."""
        return await self.request_json("POST", "completions", {**payload, "stream": False})

    async def complete_prompt(self, payload: dict[str, Any]) -> Completion:
        """``POST /completions``, parsed: the first choice's ``text``, the usage, the wall time.

        For prompts a benchmark sends without a chat template (LongBench's few-shot and code
        tasks): the server tokenizes ``payload["prompt"]`` as it is.
        """
        self._session()
        start = time.perf_counter()
        body = await self.completions(payload)
        return parse_text_completion(body, time.perf_counter() - start)

    async def models(self) -> dict[str, Any]:
        """``GET /models``."""
        return await self.request_json("GET", "models")

    async def first_model(self) -> str:
        """The first model ``/models`` lists (vLLM and SGLang serve one; pass a name to others)."""
        listing = await self.models()
        ids = [m.get("id") for m in listing.get("data") or [] if isinstance(m, dict) and m.get("id")]
        if not ids:
            raise UpstreamError(f"{self.base_url}/models lists no model; pass model=...")
        return str(ids[0])

    # ------------------------------------------------------------------ streams
    @asynccontextmanager
    async def _open_stream(self, payload: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """An open ``stream: true`` response. Opening it (up to the status) is retried like any
        call; once bytes flow nothing is retried, since the caller may have forwarded some."""

        async def open_once(client: httpx.AsyncClient) -> httpx.Response:
            request = client.build_request("POST", "chat/completions", json={**payload, "stream": True})
            response = await client.send(request, stream=True)
            if response.status_code >= 400:
                await response.aread()
                await response.aclose()
                raise_for_status(response)
            return response

        _, sem = self._session()
        async with sem:  # a stream holds its slot until it is closed
            response = await self._retried(open_once, take_slot=False)
            try:
                yield response
            finally:
                await response.aclose()

    @asynccontextmanager
    async def stream_chat(self, payload: dict[str, Any]) -> AsyncIterator[AsyncIterator[str]]:
        """The raw SSE lines of a streaming completion, as sent (what a gateway relays)."""
        async with self._open_stream(payload) as response:
            yield self._lines(response)

    async def _lines(self, response: httpx.Response) -> AsyncIterator[str]:
        try:
            async for line in response.aiter_lines():
                yield line
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(
                f"stream from {self.base_url} stalled for {self.settings.timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise UpstreamConnectionError(f"stream from {self.base_url} broke: {exc!r}") from exc

    @asynccontextmanager
    async def stream_chunks(self, payload: dict[str, Any]) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """The decoded ``chat.completion.chunk`` objects of a streaming completion, up to ``[DONE]``."""
        async with self._open_stream(payload) as response:
            yield sse_chunks(response, self.base_url, self.settings.timeout)

    async def stream_complete(
        self, payload: dict[str, Any], *, include_usage: bool = True
    ) -> StreamedCompletion:
        """Stream one completion to its end: the text, the server's usage, TTFT and TPOT.

        ``include_usage`` asks for the final usage chunk (``stream_options``) unless the payload
        sets its own; without it the token counts, hence TPOT and tokens/s, are unknown.
        """
        if include_usage and "stream_options" not in payload:
            payload = {**payload, "stream_options": {"include_usage": True}}
        self._session()  # TTFT counts from sending, not from building this loop's pool
        started = time.perf_counter()
        async with self.stream_chunks(payload) as chunks:
            return await fold_stream(chunks, started)


def make_client(
    base_url: str, *, api_key: str | None = None, api_key_env: Sequence[str] = (), **options: Any
) -> OpenAIClient:
    """The one way to build a client: ``options`` are :class:`HttpSettings` fields, validated
    (a bad or unknown one is a ``ValueError`` naming it); without ``api_key`` the first set
    variable of ``api_key_env`` is used."""
    try:
        settings = HttpSettings(base_url=base_url, api_key=resolve_api_key(api_key, api_key_env), **options)
    except ValidationError as exc:
        raise ValueError(settings_error(exc)) from None
    return OpenAIClient(settings)
