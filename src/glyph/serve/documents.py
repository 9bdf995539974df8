"""Which text parts of a chat request become pages, and the cache of rendered pages.

Convention (documented in ``glyph serve --help`` and the README):

* Only ``user`` messages are rendered: chat templates expect plain strings elsewhere.
* A text part ``{"type": "text", "text": ..., "glyph": {"render": true}}`` is always
  rendered; ``"render": false`` keeps it text. Other text parts (and string contents) are
  rendered when they exceed the threshold in text tokens *and* the pages cost fewer tokens
  than the text.
* A request-level extension object ``"glyph": {"render": "auto" | "never",
  "threshold_tokens": N, "config": {...}}`` switches automatic rendering off ("never";
  parts marked ``render: true`` are still rendered), changes the threshold, and changes the
  render config (reference keys; fonts cannot be changed by clients).

Each rendered part is replaced, in place, by its pages as image parts.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from glyph.render.config import RenderConfig
from glyph.render.keys import render_key
from glyph.render.raster import page_pixel_size, render_pages
from glyph.serve.errors import GatewayError
from glyph.tokens import VisualTokenRule

#: Keys a client may not change: they name files on the server.
FORBIDDEN_CONFIG_KEYS = {"font-path", "font_path", "fallback-fonts", "fallback_fonts"}


@dataclass
class RenderedDoc:
    """One text rendered to pages, in the form the backend sends (data URLs or PIL images)."""

    pages: list[Any]
    sizes: list[tuple[int, int]]
    text_tokens: int
    visual_tokens: int
    nbytes: int


class PageCache:
    """LRU of rendered documents keyed by (text hash, config hash, payload kind), bounded in bytes.

    A ``cachetools.LRUCache`` sized by each document's ``nbytes``; its own methods are not
    thread-safe, and planners run in worker threads, so every access holds the lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: LRUCache[tuple[str, str, str], RenderedDoc] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda doc: doc.nbytes
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str, str]) -> RenderedDoc | None:
        with self._lock:
            doc = self._items.get(key)  # a hit moves the document to the young end
            if doc is None:
                self.misses += 1
            else:
                self.hits += 1
            return doc

    def put(self, key: tuple[str, str, str], doc: RenderedDoc) -> None:
        if doc.nbytes > self.max_bytes:
            return  # larger than the whole budget: serve it, don't keep it
        with self._lock:
            self._items[key] = doc  # evicts the least recently used until the bytes fit

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._items),
                "bytes": int(self._items.currsize),
                "hits": self.hits,
                "misses": self.misses,
            }


@dataclass
class RenderStats:
    """What rendering did to one request (reported in the response's ``glyph`` object)."""

    rendered_parts: int = 0
    pages: int = 0
    text_tokens: int = 0  # of the rendered parts
    visual_tokens: int = 0  # of their pages, wrapper tokens included
    cached_parts: int = 0
    config_hash: str = ""

    @property
    def saved(self) -> int:
        return self.text_tokens - self.visual_tokens

    def as_dict(self) -> dict[str, Any]:
        ratio = round(self.text_tokens / self.visual_tokens, 3) if self.visual_tokens else None
        return {
            "rendered_parts": self.rendered_parts,
            "pages": self.pages,
            "text_tokens": self.text_tokens,
            "visual_tokens": self.visual_tokens,
            "ratio": ratio,
            "cached_parts": self.cached_parts,
            "config_hash": self.config_hash,
        }


@dataclass
class Plan:
    """A request's messages with documents replaced by pages, plus the numbers to check limits."""

    messages: list[dict[str, Any]]
    stats: RenderStats
    images: int  # image parts in the final messages (rendered pages + the client's own)
    estimated_prompt_tokens: int  # pages + remaining text (client images not counted)


class Planner:
    """Turns a request's messages into the messages the backend sees.

    ``payload`` converts a rendered page image into what the backend wants (a data URL for
    an upstream, the image itself for a local model); ``kind`` keys the cache by it.
    """

    def __init__(
        self,
        counter: Any,
        rule: VisualTokenRule,
        cache: PageCache,
        payload: Callable[[Any], Any],
        part: Callable[[Any], dict[str, Any]],
        kind: str,
        max_pages: int,
        max_page_pixels: int,
    ) -> None:
        self.counter = counter
        self.rule = rule
        self.cache = cache
        self.payload = payload
        self.part = part
        self.kind = kind
        self.max_pages = max_pages
        self.max_page_pixels = max_page_pixels

    def plan(self, messages: list[dict[str, Any]], cfg: RenderConfig, mode: str, threshold: int) -> Plan:
        """Render what the convention says to render; raise GatewayError past the page limit."""
        width, height = page_pixel_size(cfg)
        if width * height > self.max_page_pixels:
            raise GatewayError(
                400,
                f"render config gives {width}x{height} px pages, over the {self.max_page_pixels:,} px limit; "
                "lower dpi or page-size",
                code="page_too_large",
            )
        stats = RenderStats(config_hash=cfg.content_hash())
        out: list[dict[str, Any]] = []
        images = 0
        other_text_tokens = 0
        for message in messages:
            content = message.get("content")
            if message.get("role") != "user" or content is None:
                other_text_tokens += self._count_content(content)
                out.append(message)
                continue
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
            new_parts: list[dict[str, Any]] = []
            changed = False
            for part in parts:
                if not isinstance(part, dict):
                    raise GatewayError(
                        400, f"message content parts must be objects, got {type(part).__name__}"
                    )
                if part.get("type") != "text":
                    if part.get("type") in ("image_url", "image"):
                        images += 1
                    new_parts.append(part)
                    continue
                doc = self._maybe_render(part, cfg, mode, threshold, stats)
                if doc is None:
                    other_text_tokens += self._count(str(part.get("text", "")))
                    new_parts.append(_strip_marker(part))
                    changed |= "glyph" in part
                    continue
                images += len(doc.pages)
                if images > self.max_pages:
                    raise GatewayError(
                        413,
                        f"request needs more than {self.max_pages} images (rendered pages included); "
                        "send less text, a denser config, or raise --max-pages",
                        code="too_many_pages",
                    )
                new_parts.extend(self.part(p) for p in doc.pages)
                changed = True
            if changed:
                out.append({**message, "content": new_parts})
            else:
                out.append(message)
        if images > self.max_pages:
            raise GatewayError(
                413, f"request has {images} images; the limit is {self.max_pages}", code="too_many_pages"
            )
        return Plan(out, stats, images, stats.visual_tokens + other_text_tokens)

    # -- helpers ------------------------------------------------------------------------
    def _maybe_render(
        self, part: dict[str, Any], cfg: RenderConfig, mode: str, threshold: int, stats: RenderStats
    ) -> RenderedDoc | None:
        text = part.get("text")
        if not isinstance(text, str) or not text.strip():
            return None
        marker = part.get("glyph")
        forced = isinstance(marker, dict) and marker.get("render") is True
        if isinstance(marker, dict) and marker.get("render") is False:
            return None
        if not forced and (mode == "never" or len(text.encode("utf-8")) < threshold):
            return None  # every token is at least one byte: too short to reach the threshold
        text_tokens = self._count(text)
        if not forced and text_tokens < threshold:
            return None
        doc, cached = self._render(text, cfg, text_tokens)
        if not forced and doc.visual_tokens >= doc.text_tokens:
            return None  # the pages would cost more than the text
        stats.rendered_parts += 1
        stats.pages += len(doc.pages)
        stats.text_tokens += doc.text_tokens
        stats.visual_tokens += doc.visual_tokens
        stats.cached_parts += int(cached)
        return doc

    def _render(self, text: str, cfg: RenderConfig, text_tokens: int) -> tuple[RenderedDoc, bool]:
        key = (hashlib.sha256(text.encode("utf-8")).hexdigest(), render_key(cfg), self.kind)
        doc = self.cache.get(key)
        if doc is not None:
            return doc, True
        pages: list[Any] = []
        sizes: list[tuple[int, int]] = []
        nbytes = 0
        for page in render_pages(text, cfg):
            if len(pages) >= self.max_pages:
                raise GatewayError(
                    413,
                    f"a document renders to more than {self.max_pages} pages; send less text, a denser config, "
                    "or raise --max-pages",
                    code="too_many_pages",
                )
            payload = self.payload(page.image)
            pages.append(payload)
            sizes.append(page.image.size)
            nbytes += len(payload) if isinstance(payload, str) else page.image.width * page.image.height * 3
        doc = RenderedDoc(pages, sizes, text_tokens, self.rule.document_tokens(sizes), nbytes)
        self.cache.put(key, doc)
        return doc, False

    def _count(self, text: str) -> int:
        return self.counter.count(text) if text else 0

    def _count_content(self, content: Any) -> int:
        if isinstance(content, str):
            return self._count(content)
        if isinstance(content, list):
            return sum(self._count(str(p.get("text", ""))) for p in content if isinstance(p, dict))
        return 0


def _strip_marker(part: dict[str, Any]) -> dict[str, Any]:
    """Drop our ``glyph`` key so strict upstreams never see an unknown field."""
    return {k: v for k, v in part.items() if k != "glyph"} if "glyph" in part else part


def request_config(base: RenderConfig, overrides: dict[str, Any] | None, allowed: bool) -> RenderConfig:
    """The base config with a request's ``glyph.config`` overrides, validated."""
    if not overrides:
        return base
    if not allowed:
        raise GatewayError(400, "this gateway does not accept render config overrides (glyph.config)")
    bad = FORBIDDEN_CONFIG_KEYS & set(overrides)
    if bad:
        raise GatewayError(
            400, f"glyph.config may not set {', '.join(sorted(bad))} (fonts are the server's choice)"
        )
    try:
        return base.with_updates(**overrides)
    except ValueError as exc:
        raise GatewayError(400, f"invalid glyph.config: {exc}", code="invalid_render_config") from None
