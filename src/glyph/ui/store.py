"""Documents and their renders, kept in memory within a byte budget (least recently used go first).

A render is keyed by (document, config hash), so moving a slider back to a value seen before
is instant. Pages are kept as PNG bytes (~70 KB at 72 dpi, a twentieth of the image) plus their
line boxes; a page needed as an image again (read-back, asking) is decoded from its PNG.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from PIL import Image

from glyph.measure import DEFAULT_VLMS, CompressionReport, measure_compression
from glyph.render.config import RenderConfig
from glyph.render.pages import LineBox, RenderedPage
from glyph.render.raster import page_pixel_size, save_png
from glyph.tokens import get_tokenizer
from glyph.ui.errors import UIError


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    name: str

    @property
    def nbytes(self) -> int:
        return len(self.text) * 2 + 200


@dataclass(frozen=True)
class StoredPage:
    png: bytes
    size: tuple[int, int]
    lines: tuple[LineBox, ...]
    start: int
    end: int

    def rendered(self, index: int) -> RenderedPage:
        """The page as readers take it (image decoded from the PNG, ground truth attached)."""
        with Image.open(io.BytesIO(self.png)) as img:
            img.load()
            image = img.convert("RGB")
        return RenderedPage(image, index, self.lines, self.start, self.end)


@dataclass
class Render:
    id: str
    document: Document
    config: RenderConfig
    report: CompressionReport
    pages: list[StoredPage]
    seconds: float
    reads: dict[int, dict[str, Any]] = field(default_factory=dict)  # page index -> read-back result

    @property
    def nbytes(self) -> int:
        return sum(len(p.png) + 64 * len(p.lines) for p in self.pages) + 4096

    def page(self, index: int) -> StoredPage:
        if not 0 <= index < len(self.pages):
            raise UIError(404, f"page {index + 1} does not exist: this render has {len(self.pages)} pages", type="not_found")
        return self.pages[index]

    def summary(self) -> dict[str, Any]:
        """What the page shows: the compression report as ``glyph measure --json`` prints it, and the pages."""
        report = self.report.to_dict()
        report.pop("page_sizes")
        return {
            "id": self.id,
            "document": self.document.id,
            "config": self.config.to_reference_dict(include_extensions=True),
            "config_hash": self.config.content_hash(),
            "report": report,
            "pages": [{"width": p.size[0], "height": p.size[1], "bytes": len(p.png)} for p in self.pages],
            "seconds": round(self.seconds, 3),
        }


class Cancelled(Exception):
    """The client went away while its render ran."""


class Store:
    """The documents and renders of one playground, within ``budget`` bytes."""

    def __init__(self, budget: int, max_page_pixels: int, max_render_pixels: int) -> None:
        self.max_page_pixels = max_page_pixels
        self.max_render_pixels = max_render_pixels
        self._docs: LRUCache[str, Document] = LRUCache(maxsize=max(budget // 4, 1), getsizeof=lambda d: d.nbytes)
        self._renders: LRUCache[str, Render] = LRUCache(maxsize=max(budget, 1), getsizeof=lambda r: r.nbytes)
        self._lock = threading.Lock()
        self.tokenizer = get_tokenizer("qwen")

    # ------------------------------------------------------------------ documents
    def add_document(self, text: str, name: str = "") -> Document:
        doc_id = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        with self._lock:
            doc = self._docs.get(doc_id)
            if doc is None:
                doc = Document(doc_id, text, name)
                if doc.nbytes <= self._docs.maxsize:
                    self._docs[doc_id] = doc
            return doc

    def document(self, doc_id: str) -> Document:
        with self._lock:
            doc = self._docs.get(doc_id)
        if doc is None:
            raise UIError(404, "this text is no longer in memory (the playground restarted or evicted it): load it again", type="not_found", field="document")
        return doc

    def describe(self, doc: Document) -> dict[str, Any]:
        return {"id": doc.id, "name": doc.name, "chars": len(doc.text), "text_tokens": self.tokenizer.count(doc.text)}

    # ------------------------------------------------------------------ renders
    def render(self, doc: Document, cfg: RenderConfig, cancelled: Callable[[], bool] = lambda: False) -> Render:
        """The pages and compression report of ``doc`` under ``cfg`` (from the cache when seen before)."""
        render_id = f"{doc.id}-{cfg.content_hash()}"
        with self._lock:
            hit = self._renders.get(render_id)
        if hit is not None:
            return hit
        w, h = page_pixel_size(cfg)
        if w * h > self.max_page_pixels:
            raise UIError(
                400,
                f"dpi: {cfg.dpi} dpi makes {w}x{h}-pixel pages ({w * h / 1e6:.1f} MP); the limit is "
                f"{self.max_page_pixels / 1e6:.1f} MP a page: lower the dpi or the page size",
                field="dpi",
            )
        if not doc.text.strip():
            raise UIError(400, "the text is empty: paste some text, upload a file or pick an example", field="text")
        pages: list[StoredPage] = []
        pixels = 0

        def keep(page: RenderedPage) -> None:
            nonlocal pixels
            if cancelled():
                raise Cancelled
            pixels += page.image.width * page.image.height
            if pixels > self.max_render_pixels:
                raise UIError(
                    413,
                    f"this text at {cfg.dpi} dpi renders to more than {self.max_render_pixels / 1e6:,.0f} megapixels "
                    f"({len(pages) + 1} pages so far): lower the dpi, use a denser config or a shorter text",
                    type="limit",
                    field="dpi",
                )
            buf = io.BytesIO()
            save_png(page.image, buf)
            pages.append(StoredPage(buf.getvalue(), page.image.size, page.lines, page.start, page.end))

        start = time.perf_counter()
        report, _ = measure_compression(doc.text, cfg, DEFAULT_VLMS, self.tokenizer, on_page=keep)
        entry = Render(render_id, doc, cfg, report, pages, time.perf_counter() - start)
        with self._lock:
            if entry.nbytes <= self._renders.maxsize:
                self._renders[render_id] = entry
        return entry

    def get_render(self, render_id: str) -> Render:
        with self._lock:
            entry = self._renders.get(render_id)
        if entry is None:
            raise UIError(404, "these pages are no longer in memory: change a control to render them again", type="not_found", field="render")
        return entry
