"""The playground: ``create_app(settings)`` -> a FastAPI app serving one page and a small JSON API.

Routes (all behind the token, see :mod:`glyph.ui.auth`):

* ``GET /`` the page, ``/static/*`` its script, style and the vendored Chart.js;
* ``GET /api/info`` examples, presets, fonts, limits, the models and sources configured;
* ``GET /api/examples/{name}``; ``POST /api/documents`` (JSON text) and ``POST /api/upload``
  (the file as the raw body) -> a document id;
* ``POST /api/render`` (document + config) -> pages and the compression report of
  :func:`glyph.measure.measure_compression`; ``GET /api/renders/{id}/pages/{n}.png``;
* ``POST /api/renders/{id}/pages/{n}/read`` the offline reader's read-back, aligned;
* ``POST /api/ask`` then ``GET /api/ask/{id}/events`` (server-sent events): both answers;
* ``GET /api/studies/{id}``, ``GET /api/runs/{id}``: a search study, eval runs.

Every failure is ``{"error": {"message", "type", "field"}}`` with a 4xx (5xx only for a
reader or model that is not there), which the page shows next to the control concerned.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cachetools import TTLCache
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.sse import EventSourceResponse, format_sse_event
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from glyph.measure import align, score_text
from glyph.measure.compression import DEFAULT_VLMS
from glyph.render.config import CJK_FAMILIES, REFERENCE_PRESETS, RenderConfig
from glyph.render.fonts import resolve_font
from glyph.ui.ask import AskSide, ask_both
from glyph.ui.auth import TokenAuth
from glyph.ui.errors import UIError, error_response
from glyph.ui.examples import example, example_names
from glyph.ui.intake import check_length, decode_upload, read_body
from glyph.ui.settings import UISettings
from glyph.ui.sources import Source, discover_runs, discover_studies, load_runs, load_study
from glyph.ui.store import Cancelled, Store

log = logging.getLogger("glyph.ui")
STATIC = Path(__file__).parent / "static"
FONT_CHOICES = ("DejaVu Sans", "DejaVu Sans Mono", "DejaVu Serif", *CJK_FAMILIES)
MAX_QUESTION_CHARS = 8000
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    name: str = Field("", max_length=200)


class RenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: str = Field(max_length=64)
    config: dict[str, Any]


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    render: str = Field(max_length=80)
    question: str


def config_from(data: dict[str, Any]) -> RenderConfig:
    """A validated config, or a 400 naming the first bad key and what it accepts."""
    try:
        return RenderConfig.from_dict(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ()) if str(p) != "__root__"]
        key = loc[0] if loc else None
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        value = first.get("input")
        got = f" (got {value!r})" if key and not isinstance(value, dict) else ""
        more = f"; and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
        raise UIError(400, f"{key + ': ' if key and not msg.startswith(key) else ''}{msg}{got}{more}", field=key) from None
    except ValueError as exc:
        raise UIError(400, str(exc), field="config") from None


class _State:
    """Per-app objects: the store, the reader, the models, the sources, the slots that bound CPU work."""

    def __init__(self, settings: UISettings, backends: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.cache_bytes, settings.max_page_pixels, settings.max_render_pixels)
        self.render_slots = asyncio.Semaphore(settings.render_concurrency)
        self.read_slots = asyncio.Semaphore(settings.read_concurrency)
        self.ask_slots = asyncio.Semaphore(settings.ask_concurrency)
        self.asks: TTLCache[str, tuple[str, str]] = TTLCache(maxsize=64, ttl=600)
        self._reader: Any = None
        self._reader_lock = threading.Lock()
        self.presets = {name: make().to_reference_dict(include_extensions=True) for name, make in REFERENCE_PRESETS.items()}
        for path in settings.configs:
            self.presets[path.stem] = RenderConfig.from_json(path).to_reference_dict(include_extensions=True)
        self.studies: dict[str, Source] = {s.id: s for s in discover_studies(settings.studies)}
        self.runs: dict[str, Source] = {s.id: s for s in discover_runs(settings.runs)}
        self.sides = self._sides(backends or {})

    def _sides(self, backends: dict[str, Any]) -> list[AskSide]:
        sides = []
        loaded: dict[str, Any] = {}
        for kind, side in (("pages", self.settings.page), ("text", self.settings.text)):
            if side is None:
                continue
            backend = backends.get(kind)
            if side.local and backend is None:
                backend = loaded.get(side.local) or self._local_backend(side.local)
                loaded[side.local] = backend
            sides.append(AskSide(kind, side, self.settings, backend))
        return sides

    def _local_backend(self, checkpoint: str) -> Any:
        from glyph.serve.backends import LocalBackend
        from glyph.serve.settings import ServeSettings

        s = self.settings
        return LocalBackend(ServeSettings(model=checkpoint, device=s.device, dtype=s.dtype, timeout=s.timeout,
                                          default_max_tokens=s.max_tokens))

    def reader(self) -> Any:
        from glyph.readers import ReaderUnavailableError, get_reader

        with self._reader_lock:
            if self._reader is None:
                try:
                    self._reader = get_reader(self.settings.reader)
                except (ReaderUnavailableError, ValueError) as exc:
                    raise UIError(503, f"the {self.settings.reader!r} reader is not available: {exc}", type="unavailable") from None
            return self._reader

    async def aclose(self) -> None:
        for side in self.sides:
            await side.aclose()
        for backend in {id(s.backend): s.backend for s in self.sides if s.backend is not None}.values():
            await backend.aclose()


def create_app(settings: UISettings, backends: dict[str, Any] | None = None) -> FastAPI:
    """The playground for ``settings``; ``backends`` ({"pages"|"text": LocalBackend}) replace loading checkpoints."""
    state = _State(settings, backends)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.aclose()

    app = FastAPI(title="glyph playground", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.glyph = state
    _install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                                            "Cache-Control": "no-store"})

    @app.get("/api/info")
    async def info() -> dict[str, Any]:
        s = settings
        fonts = []
        for family in FONT_CHOICES:
            try:
                resolve_font(family)
                fonts.append(family)
            except ValueError:
                pass
        return {
            "examples": [example(n).describe() for n in example_names()],
            "presets": state.presets,
            "fonts": fonts,
            "vlms": list(DEFAULT_VLMS),
            "vlm": s.vlm,
            "reader": s.reader,
            "sides": [side.describe() for side in state.sides],
            "studies": [src.describe() for src in state.studies.values()],
            "runs": [src.describe() for src in state.runs.values()],
            "limits": {"max_text_chars": s.max_text_chars, "max_upload_bytes": s.max_upload_bytes,
                       "max_pages_asked": s.max_pages_asked, "max_tokens": s.max_tokens},
        }

    @app.get("/api/examples/{name}")
    async def get_example(name: str) -> dict[str, Any]:
        try:
            ex = example(name)
        except ValueError as exc:
            raise UIError(404, str(exc), type="not_found", field="example") from None
        text = await asyncio.to_thread(ex.text)
        doc = state.store.add_document(text, ex.title)
        return {**ex.describe(), "text": text, "document": state.store.describe(doc)}

    @app.post("/api/documents")
    async def add_document(request: Request) -> dict[str, Any]:
        raw = await read_body(request, settings.max_text_chars * 4 + 4096, "glyph ui --max-chars")
        try:
            body = DocumentIn.model_validate_json(raw)
        except ValidationError as exc:
            raise UIError(400, f"invalid request: {exc.errors()[0].get('msg')}") from None
        check_length(body.text, settings.max_text_chars)
        doc = state.store.add_document(body.text, body.name)
        return state.store.describe(doc)

    @app.post("/api/upload")
    async def upload(request: Request, name: str = "") -> dict[str, Any]:
        data = await read_body(request, settings.max_upload_bytes, "glyph ui --max-upload-mb")
        text = await asyncio.to_thread(decode_upload, data, name[:200], settings.max_text_chars)
        doc = state.store.add_document(text, name[:200])
        return {**state.store.describe(doc), "text": text}

    @app.post("/api/render")
    async def render(body: RenderIn, request: Request) -> dict[str, Any]:
        doc = state.store.document(body.document)
        cfg = config_from(body.config)
        cancel = threading.Event()
        async with state.render_slots:
            task = asyncio.ensure_future(asyncio.to_thread(state.store.render, doc, cfg, cancel.is_set))
            while not task.done():
                await asyncio.wait({task}, timeout=0.2)
                if not task.done() and await request.is_disconnected():
                    cancel.set()  # the page moved on (a newer slider position): stop at the next page
            try:
                entry = task.result()
            except Cancelled:
                raise UIError(499, "render cancelled: the page sent a newer one", type="cancelled") from None
        return entry.summary()

    @app.get("/api/renders/{render_id}/pages/{number}.png")
    async def page_png(render_id: str, number: int) -> Response:
        page = state.store.get_render(render_id).page(number - 1)
        return Response(page.png, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600, immutable", "X-Content-Type-Options": "nosniff"})

    @app.post("/api/renders/{render_id}/pages/{number}/read")
    async def read_back(render_id: str, number: int) -> dict[str, Any]:
        entry = state.store.get_render(render_id)
        stored = entry.page(number - 1)
        if number - 1 in entry.reads:
            return entry.reads[number - 1]
        reader = await asyncio.to_thread(state.reader)
        page = stored.rendered(number - 1)
        async with state.read_slots:
            start = time.perf_counter()
            try:
                (read,) = await asyncio.to_thread(reader.transcribe, [page])
            except Exception as exc:
                log.exception("read-back failed")
                raise UIError(503, f"the {reader.name!r} reader failed on page {number}: {type(exc).__name__}: {exc}", type="unavailable") from None
            seconds = time.perf_counter() - start
        fid = score_text(page.text, read)
        result = {
            "page": number, "reader": reader.name, "seconds": round(seconds, 2),
            "char_accuracy": fid.char_accuracy, "word_accuracy": fid.word_accuracy, "chars": fid.chars,
            "char_edits": fid.char_edits, "words": fid.words, "word_edits": fid.word_edits,
            "class_accuracy": fid.class_accuracy(),
            "segments": [[s.tag, s.truth, s.read] for s in align(page.text, read)],
        }
        entry.reads[number - 1] = result
        return result

    @app.post("/api/ask")
    async def ask(body: AskIn) -> dict[str, Any]:
        question = body.question.strip()
        if not question:
            raise UIError(400, "the question is empty", field="question")
        if len(question) > MAX_QUESTION_CHARS:
            raise UIError(400, f"the question has {len(question):,} characters; at most {MAX_QUESTION_CHARS:,}", field="question")
        if not state.sides:
            raise UIError(400, "no model is configured: start glyph ui with --page-url (a VLM server) and/or "
                          "--text-url (a text LLM server), or --page-local CHECKPOINT", type="unavailable", field="question")
        state.store.get_render(body.render)
        ask_id = secrets.token_urlsafe(12)
        state.asks[ask_id] = (body.render, question)
        return {"id": ask_id, "sides": [s.describe() for s in state.sides]}

    @app.get("/api/ask/{ask_id}/events")
    async def ask_events(ask_id: str) -> EventSourceResponse:
        job = state.asks.pop(ask_id, None)
        if job is None:
            raise UIError(404, "no such question (each one is streamed once; ask again)", type="not_found")
        entry = state.store.get_render(job[0])
        if state.ask_slots.locked():
            raise UIError(429, "other questions are being answered; try again in a moment", type="busy")

        async def events() -> AsyncIterator[bytes]:
            async with state.ask_slots:
                async for name, data in ask_both(state.sides, entry, job[1], settings):
                    yield format_sse_event(event=name, data_str=json.dumps(data, ensure_ascii=False))

        return EventSourceResponse(events(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/studies/{study_id}")
    async def study(study_id: str) -> dict[str, Any]:
        source = state.studies.get(study_id)
        if source is None:
            raise UIError(404, "no such study (start glyph ui with --study)", type="not_found")
        return await asyncio.to_thread(load_study, source)

    @app.get("/api/runs/{runs_id}")
    async def runs(runs_id: str) -> dict[str, Any]:
        source = state.runs.get(runs_id)
        if source is None:
            raise UIError(404, "no such eval run (start glyph ui with --runs)", type="not_found")
        return await asyncio.to_thread(load_runs, source)

    wrapped: Any = TokenAuth(app, settings.token)
    if settings.loopback:  # a page on another site resolving its name to 127.0.0.1 (DNS rebinding) is refused
        wrapped = TrustedHostMiddleware(wrapped, allowed_hosts=["127.0.0.1", "localhost", "[::1]", "::1"])
    app.state.asgi = wrapped
    return app


def asgi_app(settings: UISettings, backends: dict[str, Any] | None = None) -> Any:
    """The app with its auth and host checks around it: what ``glyph ui`` serves."""
    return create_app(settings, backends).state.asgi


def _install_error_handlers(app: FastAPI) -> None:
    async def ui_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UIError)
        return error_response(exc.status, exc.message, exc.type, exc.field)

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else "invalid_request"
        return error_response(exc.status_code, str(exc.detail), kind)

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(400, f"invalid request: {where}: {first.get('msg', 'invalid')}", "invalid_request", where or None)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); see the glyph ui log", "server_error")

    app.add_exception_handler(UIError, ui_error)
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected)
