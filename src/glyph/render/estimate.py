"""Lower bounds on what a text renders to, from its characters and the config alone (no layout).

Why: a server must refuse a request over its page or context limit *before* doing the work
the limit bounds. Laying out 32 MB of text to find it needs 5,000 pages costs seconds of CPU
and gigabytes; this module proves "more than 64 pages" after reading a few hundred kilobytes.

Every number here is a bound the real layout can only exceed (checked by property tests
against :func:`glyph.render.render_pages`), never a guess that might refuse a request that fits:

* a line holds at most ``W`` pt of drawn glyph advance (``W`` the wider of the first and the
  later line widths): greedy breaking never lets the words of a line exceed it, spaces
  aside, and a glyph wider than a line goes alone (so each glyph counts at most ``W``);
  in per-character (CJK) wrapping a kinsoku character may hang past ``W``, so ``W`` grows by
  the widest glyph;
* a forced break (``\\n`` under ``<br/>`` without ``reflow``) always starts a new line, so a
  source line with ``a`` pt of glyph advance takes at least ``ceil(a / W)`` lines;
* a page holds at most ``floor(frame height / leading)`` lines.

Under ``auto-crop-width`` a page is only as wide as its widest line's ink, so page widths
are bounded too: a source line that fits one line is at least as wide as the advance up to
its last inked glyph; a source line that wraps puts at least ``(W - space) / 2`` pt on one of
every two consecutive lines (the next line's first word did not fit beside the previous one).
Sorted, these give the ``j``-th widest page: ``j * lines_per_page + 1`` lines need ``j + 1``
pages, so ``j + 1`` pages are at least as wide as the ``(j * lines_per_page + 1)``-th widest
line. The last page's height is unknown under ``auto-crop-last-page`` (1 px is assumed).
"""

from __future__ import annotations

import functools
import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
from cachetools import LRUCache

from glyph.render.config import FRAME_PADDING_PT, RenderConfig
from glyph.render.fonts import chain_for, depends_on_fonts
from glyph.render.layout import IGNORED, WHITESPACE
from glyph.render.raster import page_pixel_size

__all__ = ["PageFloor", "page_floor"]

CHUNK_CHARS = 1 << 18  # characters measured at a time: bounded memory, early stop
_TOLERANCE = 1e-6  # the paginator's own fuzz
_CJK = re.compile(r"[\u4E00-\u9FFF]")  # the layout's test for per-character wrapping


@dataclass(frozen=True)
class PageFloor:
    """What ``text`` renders to under ``cfg``, at least.

    ``pages``: a lower bound on the page count. ``sizes``: one ``(width, height)`` pixel lower
    bound per page (``pages`` of them, widest first), what a visual-token rule needs.
    ``partial``: the scan stopped early, once ``pages`` passed the caller's ``stop_above``
    (the true count is larger still). ``lines``: lines at least, for callers that pack texts.
    """

    pages: int
    sizes: tuple[tuple[int, int], ...]
    partial: bool = False
    lines: int = 0  # lines at least (what ``pages`` was derived from)


@functools.cache
def _class_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per BMP code point: drawn at all (not a separator, not deleted), and drawn with ink."""
    drawn = np.ones(0x10000, dtype=bool)
    drawn[[ord(c) for c in WHITESPACE]] = False
    drawn[[ord(c) for c in IGNORED]] = False
    ink = drawn.copy()
    blank = {0xA0, 0x2800, 0x3164, 0x115F, 0x1160, 0xFFA0, 0x180E, 0x3000, 0xFEFF}
    for cp in range(0x10000):
        if not ink[cp]:
            continue
        cat = unicodedata.category(chr(cp))
        if cp in blank or cat[0] in "ZCM":  # separators, controls/format/unassigned, marks: maybe no ink
            ink[cp] = False
    return drawn, ink


class _Chains:
    """Font chains by font choice: resolving the fallbacks reads the disk, each call (cleared with the fonts)."""

    def __init__(self) -> None:
        self._items: LRUCache[tuple[str, tuple[str, ...] | None], Any] = LRUCache(maxsize=64)
        self._lock = threading.Lock()

    def get(self, cfg: RenderConfig) -> Any:
        key = (cfg.font_path, cfg.fallback_fonts)
        with self._lock:
            chain = self._items.get(key)
        if chain is None:
            chain = chain_for(cfg)
            with self._lock:
                self._items[key] = chain
        return chain

    def cache_clear(self) -> None:
        with self._lock:
            self._items.clear()


_CHAINS = depends_on_fonts(_Chains())


def _geometry(cfg: RenderConfig) -> tuple[float, int, float]:
    """(widest line in pt, lines per page, left edge of the text in pt)."""
    width = max(cfg.text_width, cfg.text_width - cfg.first_line_indent)
    lines = int(math.floor((cfg.frame_height + _TOLERANCE) / cfg.leading))
    x0 = cfg.margin_x + FRAME_PADDING_PT + cfg.left_indent + min(0.0, cfg.first_line_indent)
    return width, max(lines, 1), x0


@dataclass
class _Open:
    """The source line still open at a chunk's end: its advance so far, for the next chunk."""

    adv: float = 0.0  # glyph advance so far, pt
    before_ink: float = -1.0  # advance before its last inked glyph so far (-1: no ink yet)
    widest: float = 0.0  # widest glyph so far


def page_floor(text: str, cfg: RenderConfig, stop_above: int | None = None) -> PageFloor:
    """Lower bounds on the pages of ``text`` under ``cfg``; stops reading past ``stop_above`` pages.

    Costs one pass over the characters in chunks (no layout, no raster), less when it stops early.
    """
    chain = _CHAINS.get(cfg)
    width, per_page, x0 = _geometry(cfg)
    cjk = cfg.wrap_mode == "cjk" or (cfg.wrap_mode == "auto" and _CJK.search(text) is not None)
    forced = cfg.newline_markup == "<br/>" and not cfg.reflow
    drawn_t, ink_t = _class_tables()
    size = cfg.font_size / 1000.0
    space = float(chain.main.width1000(0x20)) * size
    # widths need every forced break known: `<br/>` without reflow, or no newline at all
    want_widths = cfg.auto_crop_width and not cjk and (forced or "\n" not in text)

    lines = 0
    vouched: list[np.ndarray] = []  # ink extents in pt of lines we can vouch for (auto-crop only)
    pending = _Open()
    partial = False
    for pos in range(0, max(len(text), 1), CHUNK_CHARS):
        chunk = text[pos : pos + CHUNK_CHARS]
        final = pos + CHUNK_CHARS >= len(text)
        cps = np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        bmp = cps < 0x10000
        idx = np.where(bmp, cps, 0).astype(np.intp)
        drawn = np.where(bmp, drawn_t.take(idx), True)
        inked = np.where(bmp, ink_t.take(idx), False)  # astral: assume no ink (a bound, not a guess)
        _, w1000 = chain.resolve(cps)
        adv = np.minimum(w1000 * size, width) * drawn
        # source lines of this chunk: [starts[k], ends[k]); the first continues `pending`
        breaks = np.flatnonzero(cps == 0x0A) + 1 if forced else np.zeros(0, dtype=np.int64)
        starts = np.concatenate(([0], breaks)).astype(np.int64)
        ends = np.concatenate((breaks, [len(cps)])).astype(np.int64)
        cum = np.concatenate(([0.0], np.cumsum(adv)))
        line_adv = cum[ends] - cum[starts]
        ink_pos = np.flatnonzero(inked)
        k = np.searchsorted(ink_pos, ends) - 1  # the last inked glyph before each line's end
        last = ink_pos[np.maximum(k, 0)] if ink_pos.size else np.zeros(len(starts), dtype=np.int64)
        has_ink = (k >= 0) & (last >= starts) if ink_pos.size else np.zeros(len(starts), dtype=bool)
        before_ink = np.where(has_ink, cum[last] - cum[starts], -1.0)
        inner = starts[starts < len(cps)]  # a chunk ending in a break opens an empty last line
        widest = np.zeros(len(starts))
        if inner.size:
            widest[: inner.size] = np.maximum.reduceat(adv, inner)
        # merge the line left open by the previous chunk into this chunk's first line
        if before_ink[0] >= 0:
            before_ink[0] += pending.adv
        else:
            before_ink[0] = pending.before_ink
        line_adv[0] += pending.adv
        widest[0] = max(float(widest[0]), pending.widest)
        if not final:  # the last line goes on in the next chunk
            pending = _Open(float(line_adv[-1]), float(before_ink[-1]), float(widest[-1]))
            line_adv, before_ink, widest = line_adv[:-1], before_ink[:-1], widest[:-1]
        lines += _count_lines(line_adv, widest, width, cjk)
        if want_widths and line_adv.size:
            vouched.append(_ink_extents(line_adv, before_ink, widest, width, space, x0))
        if stop_above is not None and -(-lines // per_page) > stop_above:
            partial = not final
            break
    pages = max(1, -(-lines // per_page))
    return PageFloor(pages, _page_sizes(cfg, pages, per_page, vouched, want_widths), partial, lines)


def _count_lines(line_adv: np.ndarray, widest: np.ndarray, width: float, cjk: bool) -> int:
    """Lines that whole source lines of these advances take at least."""
    cap = width + widest if cjk else np.full(len(line_adv), width)  # a kinsoku glyph may hang past W
    return int(np.ceil(line_adv / cap - 1e-9).clip(min=0).sum())


def _ink_extents(
    line_adv: np.ndarray, before_ink: np.ndarray, widest: np.ndarray, width: float, space: float, x0: float
) -> np.ndarray:
    """Ink extents in pt (from the page's left edge) of rendered lines we can vouch for.

    A source line that may fit on one line reaches at least the origin of its last inked glyph (or,
    should its spaces make it wrap, half a line); one that wraps into ``n >= 2`` lines has ``n // 2``
    lines of at least ``(W - space) / 2 - widest``.
    """
    half_line = np.maximum(0.0, (width - space) / 2 - widest)
    fits = (line_adv <= width) & (before_ink >= 0)
    # spaces may still wrap it: then one of its first two lines holds half a line
    out = [x0 + np.minimum(before_ink[fits], half_line[fits])]
    n = np.ceil(line_adv / width - 1e-9).astype(np.int64)
    wraps = (n >= 2) & (before_ink >= 0)
    if wraps.any():
        out.append(np.repeat(x0 + half_line[wraps], n[wraps] // 2))
    return np.concatenate(out)


def _page_sizes(
    cfg: RenderConfig, pages: int, per_page: int, vouched: list[np.ndarray], want_widths: bool
) -> tuple[tuple[int, int], ...]:
    """Per-page pixel lower bounds, widest first; the smallest height goes to the widest page."""
    full_w, full_h = page_pixel_size(cfg)
    hs = cfg.horizontal_scale
    scaled_w = max(1, int(full_w * hs)) if hs != 1.0 else full_w
    if want_widths:
        extents = np.sort(np.concatenate(vouched))[::-1] if vouched else np.zeros(0)
        picks = np.arange(pages) * per_page
        picks = extents[picks[picks < len(extents)]]
        # the crop keeps margin-x *pixels* past the last inked column (postprocess)
        px = [min(scaled_w, max(1, int(math.floor(w * cfg.scale * hs)) - 2 + int(cfg.margin_x))) for w in picks]
        px += [1] * (pages - len(px))
    elif cfg.auto_crop_width:  # per-character wrapping or unknown breaks: no width we can vouch for
        px = [1] * pages
    else:
        px = [scaled_w] * pages
    last_h = 1 if cfg.auto_crop_last_page else full_h
    return tuple((w, last_h if i == 0 else full_h) for i, w in enumerate(px))
