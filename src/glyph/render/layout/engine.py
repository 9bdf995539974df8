"""The layout engine: the stages wired together (paragraphs -> widths -> line breaking -> pagination),
each line positioned (alignment, JUSTIFY word spacing, marker ranges), and the spans completed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from glyph.render.config import FRAME_PADDING_PT, Alignment, RenderConfig
from glyph.render.fonts import chain_for
from glyph.render.layout.breaking import RawLine, WordBreaker
from glyph.render.layout.cjk import break_cjk, cjk_clean, single_fragment, split_rest, wants_cjk
from glyph.render.layout.model import Layout, MissingGlyphs, PageLayout
from glyph.render.layout.pagination import LineFields, PageDraft, Paginator, Rewrap
from glyph.render.layout.paragraphs import NewlineMarker, Paragraph, draws_no_line, iter_paragraphs
from glyph.render.layout.rules import JUSTIFY_FUZZ, NBSP
from glyph.render.layout.widths import Measure


def iter_layout(text: str, cfg: RenderConfig, missing: MissingGlyphs | None = None) -> Iterator[PageLayout]:
    """Lay out ``text`` lazily, one page at a time; characters no font draws are counted in ``missing``.

    Each line's ``end`` is the next line's start (the text's length after the last), so the spans
    partition the text; a page is complete once the next line's start is known, so one page is
    held back.
    """
    held: list[PageDraft] = []
    first = True
    for draft in _iter_drafts(text, cfg, missing):
        if first and draft.lines:
            # paragraphs before the first drawn line drew none (blank lines on their own with a small
            # ``paragraph-lines``): their span is the first line's, so the spans still start at 0
            draft.lines[0] = (0, *draft.lines[0][1:])
            first = False
        if draft.lines and held:
            for waiting in held:
                yield waiting.page(draft.lines[0][0])
            held = []
        held.append(draft)
    for waiting in held:
        yield waiting.page(len(text))


def layout_text(text: str, cfg: RenderConfig) -> Layout:
    """The whole layout as data (pages, lines with spans, missing glyphs)."""
    missing = MissingGlyphs()
    pages = list(iter_layout(text, cfg, missing))
    return Layout(pages=pages, missing=missing, text_length=len(text))


def _iter_drafts(text: str, cfg: RenderConfig, missing: MissingGlyphs | None = None) -> Iterator[PageDraft]:
    missing = missing if missing is not None else MissingGlyphs()
    chain = chain_for(cfg)
    size = cfg.font_size
    space_w = chain.main.width1000(0x20) * size / 1000.0
    frame_x = cfg.margin_x + FRAME_PADDING_PT
    widths = (cfg.text_width - cfg.first_line_indent, cfg.text_width)
    cjk = wants_cjk(text, cfg)
    pager = Paginator(cfg, baseline_offset=size)
    align = cfg.alignment
    x_first = frame_x + cfg.left_indent + cfg.first_line_indent
    x_later = frame_x + cfg.left_indent + 0.0  # the same sums as per line before, to the last bit

    newline_marker = NewlineMarker.parse(cfg.newline_markup)
    rest_widths = (cfg.text_width, cfg.text_width)  # the rest of a split paragraph has no first-line indent

    def make_build(para: Paragraph, first_x: float) -> Callable[..., LineFields]:
        """Positions the lines of ``para`` (alignment, JUSTIFY word spacing, marker ranges)."""

        def build(
            r: RawLine,
            is_first: bool,
            is_last: bool,
            baseline: float,
            drawn: str = para.drawn,
            flags: np.ndarray | None = para.marker,
            first_x: float = first_x,
        ) -> LineFields:
            pieces = r.pieces
            if len(pieces) == 1:
                a, b = pieces[0]
                text_ = drawn[a:b]
            else:
                text_ = ("" if r.glued else " ").join([drawn[a:b] for a, b in pieces])
            x = first_x if is_first else x_later
            word_space = 0.0
            if align is not Alignment.LEFT:
                extra = r.max_width - r.width
                if align is Alignment.RIGHT:
                    x += extra
                elif align is Alignment.CENTER:
                    x += extra / 2
                elif (
                    (n_spaces := r.n_spaces + text_.count(NBSP))
                    and not r.forced
                    and (extra <= -JUSTIFY_FUZZ or (extra > JUSTIFY_FUZZ and not is_last))
                ):
                    # JUSTIFY, as reportlab's _justifyDrawParaLine(X): a line ended by a forced break or
                    # within (-1e-8, 1e-8] of the measure is drawn as is, and so is the paragraph's last line
                    # unless it overflows (then it is squeezed); the last line of a piece that a page break
                    # cuts off is not the paragraph's last, so it is stretched (reportlab's _JustifyLast);
                    # reportlab's nSpaces = wordCount - 1 + NBSPs, and its Tw lands on every NBSP too
                    word_space = extra / n_spaces
            marker: tuple[tuple[int, int], ...] = ()
            if flags is not None:
                marker = _marker_ranges(flags, pieces, "" if r.glued else " ")
            return (r.first_src, text_, x, baseline, r.width, word_space, marker)

        return build

    def rewrapper(para: Paragraph, single: bool) -> Rewrap:
        """For a CJK paragraph: the lines a page break cuts off, wrapped again as reportlab does."""

        def rewrap(rest: list[RawLine]) -> tuple[list[RawLine], Callable[..., LineFields], Rewrap | None]:
            if single and not any(line.trimmed for line in rest):
                # one fragment, nothing stripped at a line's ends: the joined rest is the text as it was,
                # so wrapping it again gives the very same lines (the rest just has no first-line indent)
                return rest, make_build(para, x_later), rewrap
            again = split_rest(para, rest, single)
            if again is None:
                return [], make_build(para, x_later), None
            m = Measure(chain, size, again.drawn, MissingGlyphs())  # its characters are counted already
            lines = break_cjk(again, m, rest_widths, single)
            return lines, make_build(again, x_later), rewrapper(again, single)

        return rewrap

    drew = False
    for para in iter_paragraphs(text, cfg):
        raw: list[RawLine]
        single = True
        if draws_no_line(para):
            raw = []  # still a paragraph to reportlab's frame: its space before/after can end a full page
        else:
            if cjk:
                para = cjk_clean(para, newline_marker)
            m = Measure(chain, size, para.drawn, missing)
            if cjk:
                single = single_fragment(para, newline_marker, text)
                raw = break_cjk(para, m, widths, single)
            else:
                raw = WordBreaker(para, m, widths, space_w).run()
        drew = drew or bool(raw)
        yield from pager.place(raw, make_build(para, x_first), rewrapper(para, single) if cjk else None)
    final = pager.new_page()
    if text and not drew:
        # a text of separators only draws no line (as in reportlab); one empty line at the top of the
        # page holds its span, so that the spans still partition the text
        final.lines.append((0, "", x_first, pager.frame_top + pager.baseline_offset, 0.0, 0.0, ()))
    yield PageDraft(final.index, final.lines, final.boxes, is_last=True)


def _marker_ranges(flags: np.ndarray, pieces: list[tuple[int, int]], joiner: str) -> tuple[tuple[int, int], ...]:
    ranges: list[tuple[int, int]] = []
    pos = 0
    for i, (a, b) in enumerate(pieces):
        if i:
            pos += len(joiner)
        seg = flags[a:b].view(np.int8)
        if seg.any():  # each run of marker characters is its own range
            edges = np.diff(np.concatenate(([0], seg, [0])))
            for r0, r1 in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()):
                ranges.append((pos + r0, pos + r1))
        pos += b - a
    return tuple(ranges)
