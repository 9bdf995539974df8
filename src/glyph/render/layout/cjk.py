"""Line breaking (CJK mode): reportlab's per-character wrap with its back-off for Latin runs and kinsoku.

The reference turns reportlab's ``wordWrap="CJK"`` on when the text holds a CJK ideograph;
``wrap-mode`` can force either mode. This wrap sees separators the word wrap splits away, so the
module also holds reportlab's whitespace cleaning as it applies here (:func:`cjk_clean`) and the
paragraph reportlab wraps again from what a page break cuts off (:func:`split_rest`).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from glyph.render.config import RenderConfig
from glyph.render.layout.breaking import RawLine
from glyph.render.layout.paragraphs import NewlineMarker, Paragraph
from glyph.render.layout.rules import BREAK, CANNOT_START_LINE, CJK_IDEOGRAPH, FUZZ, WHITESPACE
from glyph.render.layout.widths import Measure

_WS_CLASS = re.escape(WHITESPACE.replace("\n", ""))
_TOKEN = re.compile(rf"(\n)|([{_WS_CLASS}]+)|([^{_WS_CLASS}\n]+)")


def wants_cjk(text: str, cfg: RenderConfig) -> bool:
    """Whether ``text`` is broken per character: ``wrap-mode`` cjk, or auto and an ideograph in the text."""
    return cfg.wrap_mode == "cjk" or (cfg.wrap_mode == "auto" and CJK_IDEOGRAPH.search(text) is not None)


def break_cjk(para: Paragraph, m: Measure, widths: tuple[float, float]) -> list[RawLine]:
    """reportlab's cjkFragSplit: per-character breaking with a back-off for Latin runs and kinsoku."""
    drawn = para.drawn
    n = len(drawn)
    w = m.widths
    more_breaks = para.breaks
    lines: list[RawLine] = []
    first_w, later_w = widths
    max_w = first_w
    width_used = 0.0
    i = 0
    line_pos = 0
    line_start = para.start
    while i < n:
        c = drawn[i]
        cw = float(w[i]) if c != BREAK else 0.0
        forced = c == BREAK or (more_breaks is not None and bool(more_breaks[i]))
        i += 1
        width_used += cw
        if (width_used > max_w + FUZZ and width_used > 0) or forced:
            if not forced:
                u = c
                if ord(c) < 0x3000:
                    limit = (line_pos + i) >> 1
                    for j in range(i - 1, limit, -1):
                        cj = drawn[j]
                        if unicodedata.category(cj) == "Zs" or ord(cj) >= 0x3000:
                            k = j + 1
                            if k < i:
                                u = drawn[k]
                                i = k + 1
                                break
                if u not in CANNOT_START_LINE and i > line_pos + 1:
                    i -= 1
            end = i
            vis_end = end - 1 if forced and drawn[end - 1] == BREAK else end  # a space that breaks is drawn
            width = m.span(line_pos, vis_end)
            lines.append(RawLine([(line_pos, vis_end)], width, max_w, 0, forced, line_start, glued=True, stop=end))
            line_start = int(para.src[end]) if end < n else para.end
            if forced:
                line_start = int(para.src[end - 1]) + 1
            line_pos = end
            width_used = 0.0
            max_w = later_w
    if width_used > 0:
        lines.append(RawLine([(line_pos, n)], m.span(line_pos, n), max_w, 0, False, line_start, glued=True, stop=n))
    return lines


def split_rest(para: Paragraph, rest: list[RawLine]) -> Paragraph | None:
    """The paragraph reportlab makes of the lines a page break cuts off a CJK paragraph, to wrap again.

    ``Paragraph.split`` keeps the first part's lines and builds the rest from its lines' fragments
    (``_split_blParaHard``), giving every line but the last a trailing space: a line ended by a
    ``<br/>`` has that break's empty text become ``' '`` (still a break), any other line gets a
    space appended unless it ends with one. The rest is then wrapped afresh, so the spaces show:
    a line of the rest may start with one. None when the rest is a single ``<br/>``: reportlab's
    single-fragment path wraps that into no line at all.
    """
    drawn, src, flags, breaks = para.drawn, para.src, para.marker, para.breaks
    n = len(drawn)
    text: list[str] = []
    offsets: list[np.ndarray] = []
    marks: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    for idx, line in enumerate(rest):
        a, b = line.pieces[0][0], line.stop
        chars = drawn[a:b]
        line_breaks = breaks[a:b].copy() if breaks is not None else np.zeros(b - a, bool)
        line_src = src[a:b]
        line_flags = flags[a:b] if flags is not None else np.zeros(b - a, bool)
        if idx < len(rest) - 1:
            if line.forced and chars and chars[-1] == BREAK:
                chars = chars[:-1] + " "  # the break's text becomes a space; it still ends the line
                line_breaks[-1] = True
            elif not chars.endswith(" "):
                chars += " "
                line_breaks = np.append(line_breaks, False)
                line_src = np.append(line_src, int(src[b]) if b < n else para.end)
                line_flags = np.append(line_flags, bool(line_flags[-1]) if len(line_flags) else False)
        text.append(chars)
        offsets.append(line_src)
        marks.append(line_flags)
        ends.append(line_breaks)
    joined = "".join(text)
    if joined == BREAK:
        return None
    all_breaks = np.concatenate(ends) if ends else np.zeros(0, bool)
    return Paragraph(
        drawn=joined,
        src=np.concatenate(offsets) if offsets else np.zeros(0, np.int64),
        start=rest[0].first_src,
        end=para.end,
        marker=np.concatenate(marks) if flags is not None else None,
        breaks=all_breaks if all_breaks.any() else None,
    )


def cjk_clean(para: Paragraph, marker: NewlineMarker) -> Paragraph:
    """The separators reportlab's CJK wrap sees: the reference's markup cleaned as reportlab cleans it.

    ``Paragraph`` runs ``cleanBlockQuotedText`` on the paragraph's markup: the markup is stripped and
    every run of separators in it becomes one space. Runs and ends are those of the *markup*, so a
    tag stands between the separators on its two sides (the ``<font>`` tags around an inline newline
    marker, a ``<br/>``), and the paragraph's ends are stripped only where its markup begins or ends
    with text, not with a marker's tag. (The word wrap splits on separators anyway: only CJK sees this.)
    """
    drawn, flags = para.drawn, para.marker
    cuts = _tag_positions(flags, marker)
    n = len(drawn)
    keep_text: list[str] = []
    keep_src: list[np.ndarray] = []
    keep_flag: list[np.ndarray] = []
    for mt in _TOKEN.finditer(drawn):
        a, b = mt.span()
        if mt.group(2) is None:
            keep_text.append(drawn[a:b])
            keep_src.append(para.src[a:b])
            keep_flag.append(flags[a:b] if flags is not None else np.zeros(b - a, bool))
            continue
        # a run of separators: one space per stretch between tags; none for the markup's own ends
        edges = [a, *(c for c in cuts if a < c < b), b]
        for lo, hi in zip(edges, edges[1:]):
            if (lo == 0 and 0 not in cuts) or (hi == n and n not in cuts):
                continue  # leading or trailing separators of the markup: stripped
            keep_text.append(" ")
            keep_src.append(para.src[lo : lo + 1])
            keep_flag.append(flags[lo : lo + 1] if flags is not None else np.zeros(1, bool))
    return Paragraph(
        drawn="".join(keep_text),
        src=np.concatenate(keep_src) if keep_src else np.zeros(0, np.int64),
        start=para.start,
        end=para.end,
        marker=np.concatenate(keep_flag) if flags is not None and keep_flag else None,
    )


def _tag_positions(flags: np.ndarray | None, marker: NewlineMarker) -> set[int]:
    """Drawn offsets where the markup has a tag of an inline newline marker (markers may be adjacent)."""
    if flags is None or not marker.text:
        return set()
    size = len(marker.text)
    edges = np.diff(np.concatenate(([0], flags.view(np.int8), [0])))
    cuts: set[int] = set()
    for start, stop in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()):
        for first in range(start, stop, size):  # a run of k adjacent markers is k copies of the marker
            cuts.update(first + t for t in marker.tags)
    return cuts
