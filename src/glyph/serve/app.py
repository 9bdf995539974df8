"""The OpenAI-compatible gateway: ``create_app(settings)`` -> a FastAPI app.

Routes: ``POST /v1/chat/completions`` (JSON or SSE), ``GET /v1/models``, ``GET /health``.
Long text parts are rendered to pages (see :mod:`glyph.serve.documents`) before the request
goes to the backend; the reply comes back as the backend sent it, with ``usage`` extended by
``text_tokens_saved`` and a ``glyph`` object of render stats. Every failure is an OpenAI-style
error body with a fitting status, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from glyph.client import UpstreamError
from glyph.serve.backends import Backend, make_backend
from glyph.serve.documents import PageCache, Plan, Planner, RenderStats, request_config
from glyph.serve.errors import GatewayError, error_body, error_response
from glyph.serve.settings import ServeSettings
from glyph.tokens import get_tokenizer, get_vlm_rule

log = logging.getLogger("glyph.serve")
T = TypeVar("T")


class GlyphOptions(BaseModel):
    """The request-level ``glyph`` extension object."""

    model_config = ConfigDict(extra="forbid")

    render: Literal["auto", "never"] = "auto"
    threshold_tokens: int | None = Field(None, ge=1)
    config: dict[str, Any] | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The fields the gateway reads; everything else passes through to the backend untouched."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    glyph: GlyphOptions | None = None


def create_app(settings: ServeSettings, backend: Backend | None = None) -> FastAPI:
    """The gateway for ``settings``; ``backend`` overrides the one the settings name (tests, embedding)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.backend.aclose()

    app = FastAPI(
        title="glyph serve",
        summary="OpenAI-compatible gateway that renders long text to pages",
        lifespan=lifespan,
    )
    state = _State(settings, backend or make_backend(settings))
    app.state.glyph = state
    _install_error_handlers(app)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        target = settings.upstream if settings.upstream else settings.model_name
        return {"status": "ok", "backend": state.backend.kind, "model": target, "cache": state.cache.stats()}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        state.check_auth(request)
        return await _within(settings.timeout, state.backend.models())

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> JSONResponse | StreamingResponse:
        state.check_auth(request)
        body = await _read_json(request, settings.max_body_bytes)
        try:
            req = ChatRequest.model_validate(body)
        except ValidationError as exc:
            raise GatewayError(400, _validation_message(exc)) from None
        plan = await state.plan(req, body["messages"])
        max_tokens = req.max_completion_tokens or req.max_tokens or 0
        if plan.estimated_prompt_tokens + max_tokens > settings.max_context_tokens:
            raise GatewayError(
                400,
                f"this request needs about {plan.estimated_prompt_tokens:,} prompt tokens "
                f"({plan.stats.pages} pages, {plan.stats.visual_tokens:,} visual tokens) + {max_tokens:,} "
                f"for the answer; the context limit is {settings.max_context_tokens:,}",
                code="context_length_exceeded",
            )
        forward = {k: v for k, v in body.items() if k != "glyph"}
        forward["messages"] = plan.messages
        if req.stream:
            return await _stream(state.backend, forward, plan.stats, settings.timeout)
        response = await _within(settings.timeout, state.backend.complete(forward))
        return JSONResponse(_with_stats(response, plan.stats))

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


class _State:
    """Per-app objects: backend, tokenizer, visual rule, page cache, render slots."""

    def __init__(self, settings: ServeSettings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.cache = PageCache(settings.cache_bytes)
        self.planner = Planner(
            counter=get_tokenizer(settings.text_tokenizer),
            rule=get_vlm_rule(settings.vlm),
            cache=self.cache,
            payload=backend.page_payload,
            part=backend.page_part,
            kind=backend.kind,
            max_pages=settings.max_pages,
            max_page_pixels=settings.max_page_pixels,
        )
        self.render_slots = asyncio.Semaphore(settings.render_concurrency)

    def check_auth(self, request: Request) -> None:
        if self.settings.api_key is None:
            return
        if request.headers.get("authorization", "") != f"Bearer {self.settings.api_key}":
            raise GatewayError(
                401,
                "missing or wrong API key (Authorization: Bearer ...)",
                type="authentication_error",
                code="invalid_api_key",
            )

    async def plan(self, req: ChatRequest, messages: list[dict[str, Any]]) -> Plan:
        """Render the request's documents (``messages`` as the client sent them, validated in ``req``)."""
        opts = req.glyph or GlyphOptions()
        cfg = request_config(self.settings.render_config, opts.config, self.settings.allow_config_overrides)
        threshold = opts.threshold_tokens or self.settings.render_threshold_tokens
        async with self.render_slots:  # rendering and token counting are CPU work: off the event loop
            return await asyncio.to_thread(self.planner.plan, messages, cfg, opts.render, threshold)


async def _read_json(request: Request, limit: int) -> Any:
    """The request body, refused with 413 past ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise GatewayError(
            413,
            f"request body of {int(declared):,} bytes exceeds the {limit:,}-byte limit",
            code="request_too_large",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GatewayError(
                413, f"request body exceeds the {limit:,}-byte limit", code="request_too_large"
            )
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GatewayError(400, f"request body is not valid JSON: {exc}") from None


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"invalid request: {where}: {first.get('msg')}" + (
        f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    )


def _with_stats(response: dict[str, Any], stats: RenderStats) -> dict[str, Any]:
    """The backend's reply with ``usage.text_tokens_saved`` and the ``glyph`` stats added."""
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    return {**response, "usage": {**usage, "text_tokens_saved": stats.saved}, "glyph": stats.as_dict()}


async def _stream(
    backend: Backend, body: dict[str, Any], stats: RenderStats, timeout: float
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
            err = _as_error(exc)
            yield "data: " + json.dumps(error_body(err.message, err.type, err.code)) + "\n\n"
        except Exception as exc:
            log.exception("stream failed")
            yield (
                "data: "
                + json.dumps(error_body(f"stream failed: {type(exc).__name__}: {exc}", "server_error"))
                + "\n\n"
            )
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


def _as_error(exc: Exception) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, UpstreamError):
        return GatewayError(exc.status, exc.message, type=exc.type, code=exc.code)
    if isinstance(exc, TimeoutError):
        return GatewayError(504, "the backend did not answer in time", type="timeout_error", code="timeout")
    return GatewayError(500, f"internal error ({type(exc).__name__})", type="server_error")


def _install_error_handlers(app: FastAPI) -> None:
    async def gateway_error(request: Request, exc: Exception) -> JSONResponse:
        err = _as_error(exc)
        if err.status >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.url.path, err.status, err.message)
        return error_response(err.status, err.message, err.type, err.code)

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return error_response(exc.status_code, str(exc.detail), kind)

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, f"invalid request: {exc.errors()[:1]}", "invalid_request_error")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            500, f"internal error ({type(exc).__name__}); see the server log", "server_error"
        )

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(UpstreamError, gateway_error)
    app.add_exception_handler(TimeoutError, gateway_error)
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected)
