"""Pagination: reportlab's Frame/DocTemplate flow of broken lines onto pages.

Frame padding 6 pt, one leading per line, space before/after between paragraphs (collapsed at
the top of a page), no single-line orphans at a page end, and reportlab's re-wrap of what a
page break cuts off a paragraph (word mode: the quirk at a forced break; CJK: the whole rest, see
``cjk.split_rest``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from glyph.render.config import FRAME_PADDING_PT, RenderConfig
from glyph.render.layout.breaking import RawLine
from glyph.render.layout.model import Line, PageLayout, ParagraphBox
from glyph.render.layout.rules import FUZZ


class Paginator:
    """reportlab's Frame/DocTemplate flow for paragraphs of equal leading."""

    def __init__(self, cfg: RenderConfig, baseline_offset: float) -> None:
        self.cfg = cfg
        self.leading = cfg.leading
        self.frame_top = cfg.margin_y + FRAME_PADDING_PT
        self.frame_h = cfg.frame_height
        self.baseline_offset = baseline_offset
        self.used = 0.0
        self.at_top = True
        self.prev_after = 0.0
        self.page_lines: list[LineFields] = []
        self.page_boxes: list[ParagraphBox] = []
        self.page_index = 0

    def new_page(self) -> PageDraft:
        page = PageDraft(self.page_index, self.page_lines, tuple(self.page_boxes))
        self.page_index += 1
        self.page_lines, self.page_boxes = [], []
        self.used, self.at_top, self.prev_after = 0.0, True, 0.0
        return page

    def place(self, raw: list[RawLine], build, rewrap: Rewrap | None = None) -> Iterator[PageDraft]:  # noqa: ANN001
        """Place one paragraph's lines, yielding every page it completes.

        ``build`` positions a line; ``rewrap`` (CJK paragraphs) wraps the lines a page break cuts off
        again, as reportlab does, returning the new lines, their ``build`` and ``rewrap``.
        """
        cfg, leading = self.cfg, self.leading
        first = 0
        while True:
            remaining = self.frame_h - self.used
            s = 0.0 if self.at_top else max(cfg.space_before - self.prev_after, 0.0)
            avail = remaining - s
            count = len(raw) - first
            need = count * leading
            if avail > 0 and need + s <= remaining + FUZZ:
                self._emit(raw, first, len(raw), s, build)
                self.used += s + need + cfg.space_after
                self.prev_after = cfg.space_after
                self.at_top = False
                return
            fit = int(avail / leading) if avail >= FUZZ else 0
            if fit == 0 or (fit == 1 and not self.at_top):
                if self.at_top and fit == 0:
                    raise ValueError("a line does not fit on an empty page; check page-size, margins, line-height")
                yield self.new_page()
                continue
            cut = first + fit
            last = raw[cut - 1]
            if rewrap is not None:
                # CJK: reportlab wraps the rest again as a paragraph of its own (see cjk.split_rest); it
                # flows on from here: onto the next page, or, if it wraps into no line, even this one
                self._emit(raw, first, cut, s, build)
                self.used += s + (cut - first) * leading + cfg.space_after
                self.prev_after, self.at_top = cfg.space_after, False
                raw, build, rewrap = rewrap(raw[cut:])
                first = 0
                continue
            if last.forced and not last.glued:
                # reportlab splits a paragraph's frags at the frag that ended line `cut - 1` and re-wraps
                # both halves: the first half loses a trailing empty line, and the second half opens
                # with the forced break itself, i.e. with an empty line
                if not last.pieces and cut - 1 > first:
                    cut -= 1
                else:
                    nxt = raw[cut]
                    raw = [*raw[:cut], RawLine([], 0.0, nxt.max_width, 0, True, nxt.first_src), *raw[cut:]]
            self._emit(raw, first, cut, s, build)
            first = cut
            yield self.new_page()

    def _emit(self, raw: list[RawLine], a: int, b: int, s: float, build) -> None:  # noqa: ANN001
        top = self.frame_top + self.used + s
        leading, offset, last = self.leading, self.baseline_offset, len(raw) - 1
        append = self.page_lines.append
        for k in range(a, b):
            append(build(raw[k], k == 0, k == last, top + (k - a) * leading + offset))
        self.page_boxes.append(ParagraphBox(top, top + (b - a) * leading))


# A line's fields but its end (start, text, x, baseline, width, word_space, marker): Line objects are
# made once per line, when the next line's start (its end) is known
LineFields = tuple
# the rest of a split CJK paragraph -> (its lines wrapped again, their line builder, the next rewrap)
Rewrap = Callable[[list[RawLine]], tuple[list[RawLine], Callable[..., LineFields], "Rewrap | None"]]


@dataclass(frozen=True, slots=True)
class PageDraft:
    index: int
    lines: list[LineFields]
    boxes: tuple[ParagraphBox, ...]
    is_last: bool = False

    def page(self, next_start: int) -> PageLayout:
        """The page, each line ending where the next begins (``next_start`` after the last)."""
        rows = self.lines
        ends = [r[0] for r in rows[1:]]
        ends.append(next_start)
        lines = tuple(
            Line(start, max(start, end), text, x, baseline, width, ws, marker)
            for (start, text, x, baseline, width, ws, marker), end in zip(rows, ends)
        )
        return PageLayout(self.index, lines, self.boxes, self.is_last)
