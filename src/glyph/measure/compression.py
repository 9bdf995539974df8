"""Compression report: what a text costs as tokens and as pages, per VLM family.

ratio = text tokens / visual tokens (wrapper tokens included: the model pays for them);
characters per visual token says how much text each image token carries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from glyph.render.config import RenderConfig
from glyph.render.layout import MissingGlyphs
from glyph.render.pages import RenderedPage
from glyph.render.raster import render_pages
from glyph.tokens import get_tokenizer, get_vlm_rule
from glyph.tokens.text import TextTokenizer

DEFAULT_VLMS = ("glm4v", "qwen2.5vl", "qwen3vl")


@dataclass(frozen=True)
class VisualCost:
    vlm: str
    visual_tokens: int  # image placeholder tokens plus per-image wrapper tokens
    ratio: float | None  # text tokens / visual tokens (None when text tokens are unknown)
    chars_per_visual_token: float


@dataclass
class CompressionReport:
    chars: int
    text_tokens: int | None
    tokenizer: str | None
    pages: int
    page_sizes: list[tuple[int, int]]
    costs: dict[str, VisualCost]
    config_hash: str
    render_seconds: float
    missing_glyphs: int = 0
    notes: list[str] = field(default_factory=list)

    def cost(self, vlm: str) -> VisualCost:
        return self.costs[get_vlm_rule(vlm).name]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["page_sizes"] = [list(s) for s in self.page_sizes]
        return data


def compression_from_sizes(
    text: str,
    sizes: Sequence[tuple[int, int]],
    cfg: RenderConfig,
    vlms: Sequence[str] = DEFAULT_VLMS,
    tokenizer: str | TextTokenizer | None = "qwen",
    render_seconds: float = 0.0,
    missing_glyphs: int = 0,
) -> CompressionReport:
    """The report for pages already rendered (their pixel sizes are all the visual side needs)."""
    tok = get_tokenizer(tokenizer) if tokenizer is not None else None
    text_tokens = tok.count(text) if tok is not None else None
    costs: dict[str, VisualCost] = {}
    notes: list[str] = []
    for name in vlms:
        rule = get_vlm_rule(name)
        visual = rule.document_tokens(sizes) if sizes else 0
        ratio = (text_tokens / visual) if (text_tokens is not None and visual) else None
        costs[rule.name] = VisualCost(rule.name, visual, ratio, (len(text) / visual) if visual else 0.0)
    if not text:
        notes.append("empty text: 0 text tokens, so every ratio is 0 (the reference too renders one blank page)")
    return CompressionReport(
        chars=len(text),
        text_tokens=text_tokens,
        tokenizer=repr(tok) if tok is not None else None,
        pages=len(sizes),
        page_sizes=[tuple(s) for s in sizes],
        costs=costs,
        config_hash=cfg.content_hash(),
        render_seconds=render_seconds,
        missing_glyphs=missing_glyphs,
        notes=notes,
    )


def measure_compression(
    text: str,
    cfg: RenderConfig,
    vlms: Sequence[str] = DEFAULT_VLMS,
    tokenizer: str | TextTokenizer | None = "qwen",
    keep_pages: bool = False,
    on_page: Callable[[RenderedPage], None] | None = None,
) -> tuple[CompressionReport, list[RenderedPage]]:
    """Render ``text`` in memory and account both sides; the pages come back if ``keep_pages``.

    ``on_page`` sees each page as it is rendered (to encode or stream it without keeping every
    image in memory); an exception it raises stops the rendering and propagates.
    """
    missing = MissingGlyphs()
    start = time.perf_counter()
    pages: list[RenderedPage] = []
    sizes: list[tuple[int, int]] = []
    for page in render_pages(text, cfg, missing):
        sizes.append(page.image.size)
        if on_page is not None:
            on_page(page)
        if keep_pages:
            pages.append(page)
    seconds = time.perf_counter() - start
    report = compression_from_sizes(text, sizes, cfg, vlms, tokenizer, seconds, missing.total)
    if missing.total:
        report.notes.append(str(missing))
    return report, pages
