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

Each rendered part is replaced, in place, by its pages as image parts. A conversation policy
(:mod:`glyph.serve.conversation`) first turns older messages into history pages.

Limits come before the work they bound: images in every message are counted (and their URLs
checked) first; each part that may be rendered gets a lower bound on its pages and visual
tokens from :func:`glyph.render.estimate.page_floor` (no layout), checked against the page and
context limits; only then is anything laid out, and the layout stops at the page limit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cachetools import LRUCache

from glyph.render.config import RenderConfig
from glyph.render.estimate import PageFloor, page_floor
from glyph.render.keys import render_key
from glyph.render.raster import page_pixel_size, render_pages
from glyph.serve.conversation import ConversationPolicy, HistoryPlanner, PageChains, content_text
from glyph.serve.errors import GatewayError
from glyph.serve.images import count_images
from glyph.tokens import VisualTokenRule

#: Token counts remembered (by text digest, ~100 bytes each): every turn of a chat resends its history.
COUNT_CACHE_ENTRIES = 65536

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
    """LRU of rendered documents and history pages, bounded in bytes (each value has ``nbytes``).

    Documents are keyed by (text hash, config hash, payload kind), history chains by their own
    keys (:class:`glyph.serve.conversation.PageChains`). A ``cachetools.LRUCache`` sized by each
    value's ``nbytes``; its own methods are not thread-safe, and planners run in worker threads,
    so every access holds the lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: LRUCache[Hashable, Any] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda doc: doc.nbytes
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        with self._lock:
            doc = self._items.get(key)  # a hit moves the document to the young end
            if doc is None:
                self.misses += 1
            else:
                self.hits += 1
            return doc

    def put(self, key: Hashable, doc: Any) -> None:
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
    """What rendering did to one request (reported in the response's ``glyph`` object).

    Nothing here says whether a page came from the cache: that would tell one client what
    another sent. Hit rates are on the authenticated stats route.
    """

    rendered_parts: int = 0
    pages: int = 0
    text_tokens: int = 0  # of the rendered parts and history
    visual_tokens: int = 0  # of their pages, wrapper tokens included
    config_hash: str = ""
    conversation: dict[str, Any] | None = None

    @property
    def saved(self) -> int:
        return self.text_tokens - self.visual_tokens

    def as_dict(self) -> dict[str, Any]:
        ratio = round(self.text_tokens / self.visual_tokens, 3) if self.visual_tokens else None
        out = {
            "rendered_parts": self.rendered_parts,
            "pages": self.pages,
            "text_tokens": self.text_tokens,
            "visual_tokens": self.visual_tokens,
            "ratio": ratio,
            "config_hash": self.config_hash,
        }
        if self.conversation is not None:
            out["conversation"] = self.conversation
        return out


@dataclass
class Plan:
    """A request's messages with documents replaced by pages, plus the numbers to check limits."""

    messages: list[dict[str, Any]]
    stats: RenderStats
    images: int  # image parts in the final messages (rendered pages + the client's own)
    estimated_prompt_tokens: int  # pages + remaining text (client images not counted)
    rendered_pages: int = 0  # pages laid out and rasterised for this request (not from the cache)


@dataclass
class PlanOptions:
    """Per-request choices: the render mode and threshold, the conversation policy, the limits."""

    mode: str = "auto"
    threshold: int = 2048
    policy: ConversationPolicy = field(default_factory=ConversationPolicy)
    budget: int | None = None
    max_tokens: int = 0
    context: int = 1 << 62


@dataclass
class _Candidate:
    """A text part that may become pages: where it is, its text, and its bounds."""

    message: int
    part: int
    text: str
    forced: bool
    floor: PageFloor
    floor_tokens: int
    text_tokens: int = 0


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
        image_url_schemes: tuple[str, ...] = ("data", "https"),
        key_of: Callable[[RenderConfig], str] | None = None,
    ) -> None:
        self.counter = counter
        self.rule = rule
        self.cache = cache
        self.payload = payload
        self.part = part
        self.kind = kind
        self.max_pages = max_pages
        self.max_page_pixels = max_page_pixels
        self.image_url_schemes = image_url_schemes
        self.key_of = key_of or render_key  # content-addressed: config, font bytes, renderer source
        self.chains = PageChains(cache, payload, kind, self.key_of)
        # token counts of long texts by digest: a conversation resends its history every turn
        self._counts: LRUCache[Hashable, int] = LRUCache(maxsize=COUNT_CACHE_ENTRIES)
        self._counts_lock = threading.Lock()

    # -- the cheap question first -----------------------------------------------------------
    def might_render(self, messages: list[dict[str, Any]], opts: PlanOptions) -> bool:
        """Whether planning could render anything (byte lengths and markers only: no tokenizer).

        Requests for which this is False never wait for a render slot.
        """
        if opts.policy.on and len(messages) > 1:
            return True
        for message in messages:
            content = message.get("content")
            if message.get("role") != "user" or content is None:
                continue
            for part in [{"type": "text", "text": content}] if isinstance(content, str) else content:
                if not isinstance(part, dict) or part.get("type") != "text":
                    continue
                marker = part.get("glyph")
                if isinstance(marker, dict) and marker.get("render") is True:
                    return True
                text = part.get("text")
                if opts.mode != "never" and isinstance(text, str) and len(text) * 4 >= opts.threshold:
                    return True  # a UTF-8 character is at most 4 bytes, a token at least 1
        return False

    def plan(self, messages: list[dict[str, Any]], cfg: RenderConfig, opts: PlanOptions) -> Plan:
        """Render what the convention says to render; GatewayError past any limit, before the work."""
        self._check_page_size(cfg)
        images = count_images(messages, self.image_url_schemes)
        if images > self.max_pages:
            raise _too_many(f"request has {images} images; the limit is {self.max_pages}")
        stats = RenderStats(config_hash=cfg.content_hash())
        rendered = 0
        if opts.policy.on:
            messages, history_images, rendered = self._history(messages, cfg, opts, stats, images)
            images += history_images
        candidates, other_tokens = self._candidates(messages, cfg, opts, images)
        # the context limit, on lower bounds: nothing is rendered for a request that cannot fit
        floor = other_tokens + stats.visual_tokens + sum(
            c.floor_tokens if c.forced else min(c.floor_tokens, c.text_tokens) for c in candidates
        )
        if floor + opts.max_tokens > opts.context:
            raise _context(floor, opts, estimated=True)
        out = [dict(m) for m in messages]
        by_message: dict[int, dict[int, RenderedDoc | None]] = {}
        for k, cand in enumerate(candidates):
            rest = sum(c.floor_tokens if c.forced else min(c.floor_tokens, c.text_tokens) for c in candidates[k + 1 :])
            allowance = opts.context - opts.max_tokens - other_tokens - stats.visual_tokens - rest
            doc, fresh = self._render_part(cand, cfg, self.max_pages - images, allowance, opts.context)
            by_message.setdefault(cand.message, {})[cand.part] = doc
            if doc is None:
                other_tokens += cand.text_tokens
                continue
            rendered += fresh
            images += len(doc.pages)
            stats.rendered_parts += 1
            stats.pages += len(doc.pages)
            stats.text_tokens += doc.text_tokens
            stats.visual_tokens += doc.visual_tokens
        for i, parts in by_message.items():
            out[i] = self._replace_parts(out[i], parts)
        for i, message in enumerate(out):  # markers on parts that were never candidates
            content = message.get("content")
            if message.get("role") == "user" and isinstance(content, list) and i not in by_message:
                if any(isinstance(p, dict) and "glyph" in p for p in content):
                    out[i] = {**message, "content": [_strip_marker(p) for p in content]}
        if images > self.max_pages:
            raise _too_many(f"request has {images} images; the limit is {self.max_pages}")
        estimate = stats.visual_tokens + other_tokens
        if estimate + opts.max_tokens > opts.context:
            raise _context(estimate, opts, stats=stats)
        return Plan(out, stats, images, estimate, rendered)

    # -- conversation -----------------------------------------------------------------------
    def _history(
        self, messages: list[dict[str, Any]], cfg: RenderConfig, opts: PlanOptions, stats: RenderStats, images: int
    ) -> tuple[list[dict[str, Any]], int, int]:
        history = HistoryPlanner(
            self.chains, self._count, self._page_tokens, self.part, opts.threshold, self._lines
        )
        for level in history.ladder(cfg, opts.policy):
            self._check_page_size(level)

        def rest(msgs: list[dict[str, Any]]) -> int:
            return sum(self._count_content(m) for m in msgs)

        plan, estimate = history.plan(messages, cfg, opts.policy, opts.budget, self.max_pages - images, rest)
        pages = [p for s in plan.segments for p in s.pages] + [p for t in plan.tool_pages for p in t]
        texts = [t for s in plan.segments for t in s.texts]
        stats.pages += len(pages)
        stats.visual_tokens += sum(self._page_tokens(p.size) for p in pages)
        stats.text_tokens += sum(self._count(t) for t in texts)
        stats.rendered_parts += len(plan.segments) + len(plan.tool_pages)
        dpis = [c.dpi for c in history.ladder(cfg, opts.policy)]
        stats.conversation = plan.summary(opts.budget, estimate, dpis)
        return plan.messages, len(pages), plan.chain.pages_rendered

    # -- documents --------------------------------------------------------------------------
    def _candidates(
        self, messages: list[dict[str, Any]], cfg: RenderConfig, opts: PlanOptions, images: int
    ) -> tuple[list[_Candidate], int]:
        """Text parts that may be rendered (with bounds), and the text tokens of everything else."""
        candidates: list[_Candidate] = []
        other = 0
        room = self.max_pages - images
        for i, message in enumerate(messages):
            content = message.get("content")
            other += self._count_calls(message)
            if message.get("role") != "user" or content is None:
                other += self._count_content(message)
                continue
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for j, part in enumerate(parts):
                if part.get("type") != "text":
                    continue
                text = part.get("text", "")
                marker = part.get("glyph")
                forced = isinstance(marker, dict) and marker.get("render") is True
                never = isinstance(marker, dict) and marker.get("render") is False
                if not text.strip() or never or (
                    not forced and (opts.mode == "never" or len(text.encode("utf-8")) < opts.threshold)
                ):  # every token is at least one byte: too short to reach the threshold
                    other += self._count(text)
                    continue
                floor = page_floor(text, cfg, stop_above=room)
                if floor.pages > room:  # refused before laying out a single page
                    raise _too_many(
                        f"a document renders to at least {floor.pages if not floor.partial else f'more than {room}'} "
                        f"pages; {room} of the {self.max_pages}-image limit are left. Send less text, a denser "
                        "config, or raise --max-pages"
                    )
                tokens = self._count(text)
                if not forced and tokens < opts.threshold:
                    other += tokens
                    continue
                cand = _Candidate(i, j, text, forced, floor, self._floor_tokens(floor, cfg), tokens)
                candidates.append(cand)
                room -= floor.pages
        return candidates, other

    def _render_part(
        self, cand: _Candidate, cfg: RenderConfig, room: int, allowance: int, context: int
    ) -> tuple[RenderedDoc | None, int]:
        """The part's pages (or None: it stays text, the pages would cost more), and pages laid out."""
        key = (hashlib.sha256(cand.text.encode("utf-8")).hexdigest(), self.key_of(cfg), self.kind)
        doc = self.cache.get(key)
        fresh = 0
        if doc is _STAYS_TEXT and not cand.forced:
            return None, 0
        if doc is None or doc is _STAYS_TEXT:
            stop = None if cand.forced else cand.text_tokens  # pages costlier than the text: stop there
            doc, fresh = self._render(cand.text, cfg, cand.text_tokens, room, allowance, stop, context)
            if doc is None:
                self.cache.put(key, _STAYS_TEXT)
                return None, fresh
            self.cache.put(key, doc)
        if len(doc.pages) > room:
            raise _too_many(f"a document renders to {len(doc.pages)} pages; {room} images are left under the limit")
        if not cand.forced and doc.visual_tokens >= doc.text_tokens:
            return None, fresh  # the pages would cost more than the text
        if doc.visual_tokens > allowance:
            raise _context_tokens(doc.visual_tokens, allowance, context)
        return doc, fresh

    def _render(
        self,
        text: str,
        cfg: RenderConfig,
        text_tokens: int,
        room: int,
        allowance: int,
        stop: int | None,
        context: int,
    ) -> tuple[RenderedDoc | None, int]:
        pages: list[Any] = []
        sizes: list[tuple[int, int]] = []
        nbytes = 0
        visual = 0
        for page in render_pages(text, cfg):  # lazy: one page laid out at a time
            if len(pages) >= room:
                raise _too_many(
                    f"a document renders to more than {room} pages (the limit is {self.max_pages} images); "
                    "send less text, a denser config, or raise --max-pages"
                )
            visual += self.rule.tokens_with_wrappers(*page.image.size)
            if stop is not None and visual >= stop:
                return None, len(pages) + 1  # already costlier than its text: it stays text
            if visual > allowance:
                raise _context_tokens(visual, allowance, context)
            payload = self.payload(page.image)
            pages.append(payload)
            sizes.append(page.image.size)
            nbytes += len(payload) if isinstance(payload, str) else page.image.width * page.image.height * 3
        return RenderedDoc(pages, sizes, text_tokens, self.rule.document_tokens(sizes), nbytes), len(pages)

    def _replace_parts(self, message: dict[str, Any], docs: dict[int, RenderedDoc | None]) -> dict[str, Any]:
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        new_parts: list[dict[str, Any]] = []
        for j, part in enumerate(parts):
            doc = docs.get(j)
            if doc is None:
                new_parts.append(_strip_marker(part) if isinstance(part, dict) else part)
            else:
                new_parts.extend(self.part(p) for p in doc.pages)
        if isinstance(content, str) and all(d is None for d in docs.values()):
            return message
        return {**message, "content": new_parts}

    # -- numbers ----------------------------------------------------------------------------
    def _check_page_size(self, cfg: RenderConfig) -> None:
        width, height = page_pixel_size(cfg)
        if width * height > self.max_page_pixels:
            raise GatewayError(
                400,
                f"render config gives {width}x{height} px pages, over the {self.max_page_pixels:,} px limit; "
                "lower dpi or page-size",
                code="page_too_large",
            )

    def _page_tokens(self, size: tuple[int, int]) -> int:
        return self.rule.tokens_with_wrappers(*size)

    def _floor_tokens(self, floor: PageFloor, cfg: RenderConfig) -> int:
        """A lower bound on the visual tokens of pages at least ``floor.sizes`` large."""
        full = page_pixel_size(cfg)
        if cfg.horizontal_scale != 1.0:
            full = (max(1, int(full[0] * cfg.horizontal_scale)), full[1])
        envelope = _token_envelope(self.rule, *full)
        smallest = _smallest_tokens(self.rule)
        return sum(int(envelope[w - 1]) if h >= full[1] else smallest for w, h in floor.sizes)

    def _count(self, text: str) -> int:
        if not text:
            return 0
        if len(text) < 256:
            return self._tokenize(text)
        key = hashlib.sha256(text.encode("utf-8")).digest()  # hashing is ~50x cheaper than tokenizing
        with self._counts_lock:
            hit = self._counts.get(key)
        if hit is None:
            hit = self._tokenize(text)
            with self._counts_lock:
                self._counts[key] = hit
        return hit

    def _lines(self, text: str, cfg: RenderConfig) -> int:
        """Lines ``text`` takes at least under ``cfg`` (remembered: history segments are cut by them)."""
        key = (hashlib.sha256(text.encode("utf-8")).digest(), self.key_of(cfg))
        with self._counts_lock:
            hit = self._counts.get(key)
        if hit is None:
            hit = page_floor(text, cfg).lines
            with self._counts_lock:
                self._counts[key] = hit
        return hit

    def _tokenize(self, text: str) -> int:
        try:
            return self.counter.count(text)
        except BaseException as exc:  # tiktoken's Rust regex panics (a BaseException) on pathological text
            if type(exc).__name__ != "PanicException":
                raise
            raise GatewayError(
                400, f"a text of {len(text):,} characters cannot be tokenized (its longest whitespace run "
                f"is too long?); split it or send less", code="untokenizable_text"
            ) from None

    def _count_content(self, message: dict[str, Any]) -> int:
        return self._count(content_text(message.get("content"))[0]) + self._count_calls(message)

    def _count_calls(self, message: dict[str, Any]) -> int:
        calls = message.get("tool_calls")
        return self._count(json.dumps(calls, ensure_ascii=False)) if calls else 0


class _StaysText:
    """Cached for a text whose pages cost more than its tokens: later requests skip the layout."""

    nbytes = 64


_STAYS_TEXT = _StaysText()


@functools.lru_cache(maxsize=64)
def _token_envelope(rule: VisualTokenRule, full_w: int, full_h: int) -> np.ndarray:
    """``env[w - 1]``: the fewest tokens a full-height page of width >= ``w`` can cost (w <= full_w).

    The processors' resize rounding makes tokens not quite monotone in width, so the bound takes
    the minimum over every wider page; widths below the processors' aspect limit count as that limit.
    """
    lowest = max(1, -(-full_h // 200))
    tokens = np.array([rule.tokens_with_wrappers(max(w, lowest), full_h) for w in range(1, full_w + 1)])
    return np.minimum.accumulate(tokens[::-1])[::-1]


@functools.lru_cache(maxsize=16)
def _smallest_tokens(rule: VisualTokenRule) -> int:
    """The fewest tokens any image costs (the processors' minimum area)."""
    return min(rule.tokens_with_wrappers(w, h) for w, h in ((1, 1), (28, 28), (1, 200), (200, 1)))


def _too_many(message: str) -> GatewayError:
    return GatewayError(413, message, code="too_many_pages")


def _context(estimate: int, opts: PlanOptions, *, estimated: bool = False, stats: RenderStats | None = None) -> GatewayError:
    what = "at least" if estimated else "about"
    detail = f" ({stats.pages} pages, {stats.visual_tokens:,} visual tokens)" if stats is not None else ""
    return GatewayError(
        400,
        f"this request needs {what} {estimate:,} prompt tokens{detail} + {opts.max_tokens:,} for the answer; "
        f"the context limit is {opts.context:,}",
        code="context_length_exceeded",
    )


def _context_tokens(visual: int, allowance: int, context: int) -> GatewayError:
    return GatewayError(
        400,
        f"a document's pages need more than {max(allowance, 0):,} visual tokens, all that the context limit of "
        f"{context:,} leaves after the rest of the request and the answer",
        code="context_length_exceeded",
    )


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
