"""One client for every OpenAI-compatible endpoint we talk to (VLM reader, text baseline, gateway).

Why a class of our own around ``httpx.AsyncClient``: the three callers need the same things,
once: a base URL that accepts ``http://host:8000`` as well as ``http://host:8000/v1``, bounded
concurrency, retries with backoff (tenacity) on 429/5xx and refused connections, and errors
that carry the server's own message and the status a gateway should answer with.

Read timeouts are *not* retried: a generation that did not finish in ``timeout`` seconds
will not finish faster the second time, and retrying would multiply the caller's wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random
from tenacity.wait import wait_base

from glyph.readers.base import Reader, ReaderAnswer, ReaderUnavailableError, Usage
from glyph.render.pages import RenderedPage

T = TypeVar("T")


# ---------------------------------------------------------------------------------------- errors
class UpstreamError(RuntimeError):
    """An OpenAI-compatible server failed; ``status`` is what a gateway should answer with."""

    status: int = 502
    type: str = "upstream_error"

    def __init__(self, message: str, *, upstream_status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.upstream_status = upstream_status
        self.code = code


class UpstreamTimeoutError(UpstreamError):
    """No (complete) answer within the configured timeout."""

    status = 504
    type = "timeout_error"


class UpstreamConnectionError(UpstreamError, ReaderUnavailableError):
    """The server cannot be reached (refused, DNS, TLS); retried before this is raised."""

    status = 502


class UpstreamHTTPError(UpstreamError):
    """The server answered with an error status; 4xx are the caller's fault and never retried."""

    def __init__(
        self, message: str, *, upstream_status: int, code: str | None = None, type_: str | None = None
    ):
        super().__init__(message, upstream_status=upstream_status, code=code)
        # A client error the caller can fix passes through with its status; the server's own
        # failures (5xx, and 401/403: the gateway's key is wrong, not the client's) become 502.
        self.status = (
            upstream_status if 400 <= upstream_status < 500 and upstream_status not in (401, 403) else 502
        )
        self.type = "upstream_error" if self.status >= 500 else type_ or "invalid_request_error"
        self.retry_after: float | None = None  # the server's Retry-After, seconds

    @property
    def retryable(self) -> bool:
        return self.upstream_status == 429 or self.upstream_status >= 500


def error_message(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """(message, code, type) from an error response: OpenAI's ``{"error": {...}}``, FastAPI's
    ``{"detail": ...}``, or the body text itself."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = response.text.strip()[:500]
        return text or response.reason_phrase or f"HTTP {response.status_code}", None, None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = err.get("code")
            return str(err.get("message") or err), None if code is None else str(code), err.get("type")
        if isinstance(err, str):
            return err, None, None
        if "detail" in body:
            return str(body["detail"]), None, None
        if "message" in body:
            return str(body["message"]), None, None
    return json.dumps(body)[:500], None, None


def raise_for_status(response: httpx.Response) -> None:
    """Raise :class:`UpstreamHTTPError` with the server's own message for a status >= 400."""
    if response.status_code >= 400:
        message, code, type_ = error_message(response)
        exc = UpstreamHTTPError(
            f"{response.request.method} {response.request.url} -> HTTP {response.status_code}: {message}",
            upstream_status=response.status_code,
            code=code,
            type_=type_,
        )
        exc.retry_after = _retry_after(response)
        raise exc


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, UpstreamHTTPError):
        return exc.retryable
    return isinstance(exc, UpstreamConnectionError)


class _WaitRetryAfter(wait_base):
    """Honour a 429/503 ``Retry-After`` (seconds, capped) when the server sends one, else back off."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return min(float(after), self.cap)
        return self.fallback(retry_state)


# ---------------------------------------------------------------------------------------- client
@dataclass(frozen=True)
class HttpSettings:
    """Connection settings for one OpenAI-compatible server."""

    base_url: str
    api_key: str | None = None
    timeout: float = 300.0  # seconds for a whole response (read timeout between bytes)
    connect_timeout: float = 10.0
    concurrency: int = 8  # requests in flight at once
    max_retries: int = 3  # extra attempts after the first, on 429/5xx/refused connections
    backoff_initial: float = 0.5  # seconds; doubles each retry, with jitter
    backoff_max: float = 8.0


def normalize_base_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; a URL with a path is kept as given."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base URL must look like http://host:port[/v1], got {url!r}")
    return url if parts.path not in ("", "/") else url + "/v1"


class OpenAIClient:
    """Async client for an OpenAI-compatible API: JSON calls and SSE streams, retried and bounded.

    The ``httpx.AsyncClient`` and semaphore belong to an event loop; a call from another loop
    (e.g. successive ``asyncio.run`` in sync code) gets fresh ones.
    """

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        self.base_url = normalize_base_url(settings.base_url)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None

    def _session(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._sem is None:
            s = self.settings
            headers = {"Authorization": f"Bearer {s.api_key}"} if s.api_key else {}
            self._client = httpx.AsyncClient(
                base_url=self.base_url + "/",
                headers=headers,
                timeout=httpx.Timeout(s.timeout, connect=s.connect_timeout),
                limits=httpx.Limits(max_connections=max(s.concurrency, 1) * 2),
            )
            self._sem = asyncio.Semaphore(max(s.concurrency, 1))
            self._loop = loop
        return self._client, self._sem

    async def aclose(self) -> None:
        """Close the connection pool of the current loop's client."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = self._sem = self._loop = None

    def _retrying(self) -> AsyncRetrying:
        s = self.settings
        return AsyncRetrying(
            stop=stop_after_attempt(s.max_retries + 1),
            wait=_WaitRetryAfter(  # initial, 2x initial, 4x ... up to the max, plus jitter
                wait_exponential(multiplier=s.backoff_initial, max=s.backoff_max)
                + wait_random(0, s.backoff_initial),
                s.backoff_max,
            ),
            retry=retry_if_exception(_is_retryable),
            reraise=True,
        )

    async def _attempt(self, fn: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        """One try, transport errors mapped to our error types (retries see those)."""
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
        """``fn`` retried with backoff; each try takes a concurrency slot (freed while waiting)
        unless the caller holds one already."""
        async for attempt in self._retrying():
            with attempt:
                if not take_slot:
                    return await self._attempt(fn)
                _, sem = self._session()
                async with sem:
                    return await self._attempt(fn)
        raise AssertionError("unreachable")

    async def request_json(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A JSON call, retried on 429/5xx/refused connections."""

        async def once(client: httpx.AsyncClient) -> dict[str, Any]:
            response = await client.request(method, path.lstrip("/"), json=payload)
            raise_for_status(response)
            try:
                body = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise UpstreamError(
                    f"{self.base_url}/{path.lstrip('/')} answered non-JSON: {response.text[:200]!r}"
                )
            if not isinstance(body, dict):
                raise UpstreamError(
                    f"{self.base_url}/{path.lstrip('/')} answered {type(body).__name__}, not an object"
                )
            return body

        return await self._retried(once)

    async def chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST /chat/completions`` (non-streaming)."""
        return await self.request_json("POST", "chat/completions", {**payload, "stream": False})

    async def models(self) -> dict[str, Any]:
        """``GET /models``."""
        return await self.request_json("GET", "models")

    @asynccontextmanager
    async def stream_chat(self, payload: dict[str, Any]) -> AsyncIterator[AsyncIterator[str]]:
        """``POST /chat/completions`` with ``stream: true``: yields an iterator over SSE lines.

        Opening the stream (up to the response status) is retried like any call; once bytes
        flow nothing is retried, since the caller may already have forwarded some.
        """

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
                yield _sse_lines(response, self)
            finally:
                await response.aclose()


async def _sse_lines(response: httpx.Response, client: OpenAIClient) -> AsyncIterator[str]:
    """Lines of a streaming response, transport errors mapped to ours."""
    try:
        async for line in response.aiter_lines():
            yield line
    except httpx.TimeoutException as exc:
        raise UpstreamTimeoutError(
            f"stream from {client.base_url} stalled for {client.settings.timeout:g} s"
        ) from exc
    except httpx.HTTPError as exc:
        raise UpstreamConnectionError(f"stream from {client.base_url} broke: {exc!r}") from exc


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to exponential backoff


# ---------------------------------------------------------------------------------------- answers
def answer_from_completion(body: dict[str, Any], seconds: float) -> ReaderAnswer:
    """A ``chat.completion`` body -> :class:`ReaderAnswer` (text of the first choice, usage)."""
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise UpstreamError(f"response has no choices[0].message: {json.dumps(body)[:300]}") from None
    content = message.get("content")
    if isinstance(content, list):  # some servers return content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    usage = body.get("usage") or {}
    return ReaderAnswer(
        text=content or "",
        usage=Usage(
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
            total_tokens=_int_or_none(usage.get("total_tokens")),
        ),
        seconds=seconds,
        raw=body,
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def timed_chat(client: OpenAIClient, payload: dict[str, Any]) -> ReaderAnswer:
    """Send one chat request and wrap the reply with its wall time."""
    start = time.perf_counter()
    body = await client.chat(payload)
    return answer_from_completion(body, time.perf_counter() - start)


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from sync code, also when the caller's thread already runs a loop
    (notebooks): then it runs on a private loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coro(make))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _as_coro(make)).result()


async def _as_coro(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


# ---------------------------------------------------------------------------------------- readers
class ChatEndpointReader(Reader):
    """Shared half of the readers that ask an OpenAI-compatible chat endpoint (VLM or text).

    Sync calls (``answer``, ``transcribe``) run on a private event loop each and close their
    connections afterwards; async callers use ``aanswer`` and share one pool per loop.
    """

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
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.client = OpenAIClient(
            HttpSettings(
                base_url=base_url,
                api_key=api_key,
                timeout=float(timeout),
                concurrency=int(concurrency),
                max_retries=int(max_retries),
                backoff_initial=float(backoff_initial),
            )
        )
        self.model = model
        self.temperature = temperature

    async def resolve_model(self) -> str:
        """The configured model, or the server's first listed one (vLLM and SGLang serve one)."""
        if self.model is None:
            listing = await self.client.models()
            ids = [m.get("id") for m in listing.get("data") or [] if isinstance(m, dict) and m.get("id")]
            if not ids:
                raise UpstreamError(f"{self.client.base_url}/models lists no model; pass model=...")
            self.model = str(ids[0])
        return self.model

    async def chat(self, messages: list[dict[str, Any]], max_tokens: int) -> ReaderAnswer:
        """One chat completion for ``messages``; the usage is the server's own count."""
        payload: dict[str, Any] = {
            "model": await self.resolve_model(),
            "messages": messages,
            "max_tokens": max_tokens,
        }
        if self.temperature is not None:
            payload["temperature"] = self.temperature
        return await timed_chat(self.client, payload)

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


def chat_messages(content: list[dict[str, Any]] | str, system: str | None) -> list[dict[str, Any]]:
    """``[system?, user]`` messages with the given user content."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": content}]
