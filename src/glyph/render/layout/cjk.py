"""Line breaking (CJK mode): reportlab's per-character wrap with its back-off for Latin runs and kinsoku.

The reference turns reportlab's ``wordWrap="CJK"`` on when the text holds a CJK ideograph;
``wrap-mode`` can force either mode.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from glyph.render.config import RenderConfig
from glyph.render.layout.breaking import RawLine
from glyph.render.layout.paragraphs import Paragraph
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
        i += 1
        width_used += cw
        forced = c == BREAK
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
            vis_end = end - 1 if forced else end
            width = m.span(line_pos, vis_end)
            lines.append(RawLine([(line_pos, vis_end)], width, max_w, 0, forced, line_start, glued=True))
            line_start = int(para.src[end]) if end < n else para.end
            if forced:
                line_start = int(para.src[end - 1]) + 1
            line_pos = end
            width_used = 0.0
            max_w = later_w
    if width_used > 0:
        lines.append(RawLine([(line_pos, n)], m.span(line_pos, n), max_w, 0, False, line_start, glued=True))
    return lines


def cjk_clean(para: Paragraph) -> Paragraph:
    """The reference's paragraph cleaning as the CJK wrap sees it: strip ends, collapse separators."""
    keep_text: list[str] = []
    keep_src: list[np.ndarray] = []
    keep_flag: list[np.ndarray] = []
    tokens = list(_TOKEN.finditer(para.drawn))
    # strip leading/trailing separators of the whole paragraph
    lo, hi = 0, len(tokens)
    while lo < hi and tokens[lo].group(2) is not None:
        lo += 1
    while hi > lo and tokens[hi - 1].group(2) is not None:
        hi -= 1
    for mt in tokens[lo:hi]:
        a, b = mt.span()
        if mt.group(2) is not None:
            keep_text.append(" ")
            keep_src.append(para.src[a : a + 1])
            keep_flag.append(para.marker[a : a + 1] if para.marker is not None else np.zeros(1, bool))
        else:
            keep_text.append(para.drawn[a:b])
            keep_src.append(para.src[a:b])
            keep_flag.append(para.marker[a:b] if para.marker is not None else np.zeros(b - a, bool))
    drawn = "".join(keep_text)
    return Paragraph(
        drawn=drawn,
        src=np.concatenate(keep_src) if keep_src else np.zeros(0, np.int64),
        start=para.start,
        end=para.end,
        marker=np.concatenate(keep_flag) if para.marker is not None and keep_flag else None,
    )
