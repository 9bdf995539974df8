"""The OpenAI-compatible gateway: ``create_app(settings)`` -> a FastAPI app.

Routes: ``POST /v1/chat/completions`` (JSON or SSE), ``GET /v1/models``, ``GET /v1/glyph/stats``
(cache and render-slot figures), and ``GET /health`` (liveness: ``{"status": "ok"}``, nothing
else, the one route without the API key). Long text parts are rendered to pages
(:mod:`glyph.serve.documents`), conversations compressed by policy
(:mod:`glyph.serve.conversation`); the reply comes back as the backend sent it, with ``usage``
extended by ``text_tokens_saved`` and a ``glyph`` object of render stats.

Hostile requests: bodies are read within their byte limit and parsed strictly
(:mod:`glyph.serve.requests`); limits are checked on lower bounds before any rendering;
rendering runs on its own threads with a bounded number of slots, and a request waits for a
slot at most ``render_wait`` seconds (then 503 with ``Retry-After``) while requests with
nothing to render never wait; a client that hangs up cancels the upstream call. Every failure
is an OpenAI-style error body with a fitting status, never a traceback or an internal URL, and
the connection stays open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from glyph.client import UpstreamError
from glyph.client.errors import UpstreamConnectionError, UpstreamHTTPError, UpstreamTimeoutError
from glyph.render.raster import RASTERIZERS, set_rasterizer_budget
from glyph.serve.auth import LIVENESS_PATH, BearerAuth
from glyph.serve.backends import Backend, make_backend
from glyph.serve.documents import PageCache, Plan, Planner, PlanOptions, RenderStats, request_config
from glyph.serve.errors import GatewayError, error_body, error_response
from glyph.serve.memory import bound_heap_retention
from glyph.serve.pool import RenderWorkers, affinity
from glyph.serve.requests import ChatRequest, GlyphOptions, parse_json, read_body, validation_message
from glyph.serve.settings import ServeSettings
from glyph.tokens import get_tokenizer, get_vlm_rule

log = logging.getLogger("glyph.serve")
T = TypeVar("T")

#: Bodies larger than this are parsed on a worker thread, so a 30 MB JSON does not stall the loop.
PARSE_OFF_LOOP_BYTES = 1 << 20
#: Requests with nothing to render and at most this much text are planned on the event loop: a
#: hop to a worker thread costs more, under render threads holding the GIL, than counting them.
INLINE_PLAN_BYTES = 16 * 1024


def create_app(settings: ServeSettings, backend: Backend | None = None) -> FastAPI:
    """The gateway for ``settings``; ``backend`` overrides the one the settings name (tests, embedding)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.workers is not None:
            await state.workers.start()
        yield
        await state.backend.aclose()
        state.render_pool.shutdown(wait=False, cancel_futures=True)
        if state.workers is not None:
            state.workers.close()

    app = FastAPI(
        title="glyph serve",
        summary="OpenAI-compatible gateway that renders long text to pages",
        lifespan=lifespan,
    )
    state = _State(settings, backend or make_backend(settings))
    app.state.glyph = state
    _install_error_handlers(app, state)
    if settings.api_key is not None:
        app.add_middleware(BearerAuth, key=settings.api_key)

    @app.get(LIVENESS_PATH)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/glyph/stats")
    async def stats() -> dict[str, Any]:
        return state.stats()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return await _within(settings.timeout, state.backend.models())

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Response:
        try:
            return await state.chat(request)
        except (GatewayError, UpstreamError, TimeoutError) as exc:
            return state.error_response(request, exc)
        except Exception:  # a bug of ours: a 500 that keeps the connection (the handler under Starlette drops it)
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return error_response(500, "internal error; see the server log", "server_error")

    return app


async def _within(seconds: float, call: Awaitable[T]) -> T:
    """``call`` under the gateway's deadline (retries included); past it, a 504 saying so."""
    try:
        async with asyncio.timeout(seconds):
            return await call
    except TimeoutError:
        raise GatewayError(
            504, f"no answer from the backend within {seconds:g} s", type="timeout_error", code="timeout"
        ) from None


class _ClientGone(Exception):
    """The client hung up before its answer was ready."""


class _State:
    """Per-app objects: backend, tokenizer, visual rule, page cache, render slots."""

    def __init__(self, settings: ServeSettings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.cache = PageCache(settings.cache_bytes)
        set_rasterizer_budget(settings.render_cache_bytes)  # per-process: the renderer's own caches
        bound_heap_retention()  # per-process: big blocks go back to the system when freed
        self.planner = Planner(
            counter=get_tokenizer(settings.text_tokenizer),
            rule=get_vlm_rule(settings.vlm),
            cache=self.cache,
            payload=backend.page_payload,
            part=backend.page_part,
            kind=backend.kind,
            max_pages=settings.max_pages,
            max_page_pixels=settings.max_page_pixels,
            image_url_schemes=settings.image_url_schemes,
        )
        # render processes: they hold the page and renderer caches; this process only counts tokens
        self.workers = RenderWorkers(settings, backend.kind) if settings.render_processes else None
        if self.workers is not None:
            self.cache.max_bytes = 0
        self.render_slots = asyncio.Semaphore(settings.render_concurrency)
        self.render_pool = ThreadPoolExecutor(settings.render_concurrency, thread_name_prefix="glyph-render")
        self.waiting = 0
        self.rendering = 0
        self.render_seconds = 1.0  # moving average of one render, for Retry-After
        self.counters = {"requests": 0, "rendered": 0, "refused_busy": 0, "client_gone": 0, "pages_rendered": 0}
        self._secrets = _upstream_secrets(settings)

    # -- the route --------------------------------------------------------------------------
    async def chat(self, request: Request) -> Response:
        settings = self.settings
        self.counters["requests"] += 1
        raw = await read_body(request, settings.max_body_bytes)
        if len(raw) > PARSE_OFF_LOOP_BYTES:
            body = await asyncio.to_thread(parse_json, raw, settings.max_json_depth)
        else:
            body = parse_json(raw, settings.max_json_depth)
        del raw
        if not isinstance(body, dict):
            raise GatewayError(400, f"request body must be a JSON object, got {type(body).__name__}")
        try:
            req = ChatRequest.model_validate(body)
        except ValidationError as exc:
            raise GatewayError(400, validation_message(exc)) from None
        try:
            return await self._until_disconnect(request, self._answer(req, body))
        except _ClientGone:
            self.counters["client_gone"] += 1
            return Response(status_code=499)  # never delivered: the client is gone

    async def _answer(self, req: ChatRequest, body: dict[str, Any]) -> Response:
        plan = await self.plan(req, body["messages"])
        forward = {k: v for k, v in body.items() if k != "glyph"}
        forward["messages"] = plan.messages
        if req.stream:
            return await _stream(self.backend, forward, plan.stats, self.settings.timeout, self)
        response = await _within(self.settings.timeout, self.backend.complete(forward))
        return JSONResponse(_with_stats(response, plan.stats))

    async def plan(self, req: ChatRequest, messages: list[dict[str, Any]]) -> Plan:
        """Render the request's documents (``messages`` as the client sent them, validated in ``req``)."""
        opts = req.glyph or GlyphOptions()
        cfg = request_config(self.settings.render_config, opts.config, self.settings.allow_config_overrides)
        policy = opts.merged(self.settings.conversation)
        plan_opts = PlanOptions(
            mode=opts.render,
            threshold=opts.threshold_tokens or self.settings.render_threshold_tokens,
            policy=policy,
            budget=opts.budget,
            max_tokens=req.max_completion_tokens or req.max_tokens or 0,
            context=self.settings.max_context_tokens,
        )
        if not self.planner.might_render(messages, plan_opts):  # counting only: no slot, no wait
            if _text_bytes(messages) <= INLINE_PLAN_BYTES:  # microseconds of work: no thread hop
                return self.planner.plan(messages, cfg, plan_opts)
            return await asyncio.to_thread(self.planner.plan, messages, cfg, plan_opts)
        if self.workers is not None:
            index = await self._take_slot(self.workers.acquire(affinity(messages)))
            release = None
        else:
            await self._take_slot(self.render_slots.acquire())
            release = self.render_slots.release
        start = time.perf_counter()
        try:
            self.rendering += 1
            if self.workers is not None:
                plan = await self.workers.plan(index, messages, cfg, plan_opts)
            else:
                loop = asyncio.get_running_loop()
                plan = await loop.run_in_executor(self.render_pool, self.planner.plan, messages, cfg, plan_opts)
        finally:
            self.rendering -= 1
            if release is not None:
                release()
            self.render_seconds = 0.8 * self.render_seconds + 0.2 * (time.perf_counter() - start)
        self.counters["rendered"] += 1
        self.counters["pages_rendered"] += plan.rendered_pages
        return plan

    async def _take_slot(self, acquire: Awaitable[T]) -> T:
        """A render slot within ``render_wait`` seconds, or a 503 saying when to come back."""
        self.waiting += 1
        try:
            return await asyncio.wait_for(acquire, self.settings.render_wait)
        except TimeoutError:
            self.counters["refused_busy"] += 1
            slots = self.settings.render_concurrency
            retry = min(60, max(1, math.ceil(self.render_seconds * (self.waiting + self.rendering) / slots)))
            raise GatewayError(
                503,
                f"all {slots} render slots stayed busy for {self.settings.render_wait:g} s; retry in {retry} s",
                type="overloaded_error",
                code="render_busy",
                headers={"Retry-After": str(retry)},
            ) from None
        finally:
            self.waiting -= 1

    async def _until_disconnect(self, request: Request, work: Awaitable[Response]) -> Response:
        """``work``, cancelled (with the upstream call inside it) if the client disconnects first."""
        task = asyncio.ensure_future(work)
        watcher = asyncio.ensure_future(_disconnected(request))
        try:
            done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                return task.result()
            task.cancel()
            raise _ClientGone
        finally:
            watcher.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, watcher, return_exceptions=True)

    # -- errors and stats -------------------------------------------------------------------
    def client_error(self, exc: BaseException) -> GatewayError:
        """What a client may see of ``exc``: never the upstream's URL or our internals."""
        if isinstance(exc, GatewayError):
            return exc
        if isinstance(exc, UpstreamError):
            log.warning("upstream: %s", exc.message)
            if isinstance(exc, UpstreamHTTPError):
                detail = self.scrub(exc.detail)
                message = f"the model server answered HTTP {exc.upstream_status}: {detail}"
            elif isinstance(exc, UpstreamTimeoutError):
                message = f"the model server did not answer within {self.settings.timeout:g} s"
            elif isinstance(exc, UpstreamConnectionError):
                message = "cannot reach the model server (see the gateway's log)"
            else:
                message = "the model server sent an answer the gateway cannot read (see the gateway's log)"
            return GatewayError(exc.status, message, type=exc.type, code=exc.code)
        if isinstance(exc, TimeoutError):
            return GatewayError(504, "the backend did not answer in time", type="timeout_error", code="timeout")
        return GatewayError(500, f"internal error ({type(exc).__name__})", type="server_error")

    def error_response(self, request: Request, exc: BaseException) -> JSONResponse:
        err = self.client_error(exc)
        if err.status >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.url.path, err.status, err.message)
        return error_response(err.status, err.message, err.type, err.code, err.headers or None)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<upstream>")
        return text

    def stats(self) -> dict[str, Any]:
        caches = (
            self.workers.stats()
            if self.workers is not None
            else {"page_cache": self.cache.stats(), "renderers": RASTERIZERS.stats()}
        )
        return {
            "backend": self.backend.kind,
            "worker": os.getpid(),  # one of several under --workers: caches are per worker
            **caches,
            "render_slots": {
                "slots": self.settings.render_concurrency,
                "rendering": self.rendering,
                "waiting": self.waiting,
                "render_seconds": round(self.render_seconds, 4),
            },
            "requests": dict(self.counters),
        }


def _upstream_secrets(settings: ServeSettings) -> list[str]:
    """Spellings of the upstream's address that must not reach clients (longest first)."""
    if not settings.upstream:
        return []
    from urllib.parse import urlsplit

    from glyph.client.settings import normalize_base_url

    base = normalize_base_url(settings.upstream)
    parts = urlsplit(base)
    out = {base, base.rstrip("/"), parts.netloc, parts.hostname or ""}
    return sorted((s for s in out if s), key=len, reverse=True)


def _text_bytes(messages: list[dict[str, Any]]) -> int:
    """Characters of text in ``messages`` (string contents and text parts), without copying them."""
    total = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return total


async def _disconnected(request: Request) -> None:
    """Return when the client disconnects (the body has been read: only ``http.disconnect`` is left)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _with_stats(response: dict[str, Any], stats: RenderStats) -> dict[str, Any]:
    """The backend's reply with ``usage.text_tokens_saved`` and the ``glyph`` stats added."""
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    return {**response, "usage": {**usage, "text_tokens_saved": stats.saved}, "glyph": stats.as_dict()}


async def _stream(
    backend: Backend, body: dict[str, Any], stats: RenderStats, timeout: float, state: _State
) -> StreamingResponse:
    """Open the backend stream first (errors become statuses), then relay it line by line."""
    stack = AsyncExitStack()
    try:
        lines = await _within(timeout, stack.enter_async_context(backend.stream(body)))
    except BaseException:
        await stack.aclose()
        raise

    async def relay() -> AsyncIterator[str]:
        try:
            async for line in lines:
                yield _stats_into_usage_chunk(line, stats) + "\n"
        except (UpstreamError, GatewayError) as exc:
            err = state.client_error(exc)
            yield "data: " + json.dumps(error_body(err.message, err.type, err.code)) + "\n\n"
        except Exception:
            log.exception("stream failed")
            yield "data: " + json.dumps(error_body("the stream failed; see the server log", "server_error")) + "\n\n"
        finally:
            await stack.aclose()

    return StreamingResponse(relay(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _stats_into_usage_chunk(line: str, stats: RenderStats) -> str:
    """Add our stats to the chunk that carries ``usage`` (sent with stream_options.include_usage)."""
    if not line.startswith("data:") or '"usage"' not in line:
        return line
    try:
        data = json.loads(line[5:])
    except json.JSONDecodeError:
        return line
    if not isinstance(data, dict) or not isinstance(data.get("usage"), dict):
        return line
    return "data: " + json.dumps(_with_stats(data, stats), ensure_ascii=False)


def _install_error_handlers(app: FastAPI, state: _State) -> None:
    async def gateway_error(request: Request, exc: Exception) -> JSONResponse:
        return state.error_response(request, exc)

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return error_response(exc.status_code, str(exc.detail), kind)

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "invalid request", "invalid_request_error")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; see the server log", "server_error")

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(UpstreamError, gateway_error)
    app.add_exception_handler(TimeoutError, gateway_error)
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected)
