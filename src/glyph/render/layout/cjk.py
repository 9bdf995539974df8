"""Line breaking (CJK mode): reportlab's per-character wrap with its back-off for Latin runs and kinsoku.

The reference turns reportlab's ``wordWrap="CJK"`` on when the text holds a CJK ideograph;
``wrap-mode`` can force either mode. This wrap sees separators the word wrap splits away, so the
module also holds reportlab's whitespace cleaning as it applies here (:func:`cjk_clean`) and the
paragraph reportlab wraps again from what a page break cuts off (:func:`split_rest`).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right

import numpy as np

from glyph.render.config import RenderConfig
from glyph.render.layout.breaking import RawLine
from glyph.render.layout.paragraphs import NewlineMarker, Paragraph
from glyph.render.layout.rules import BREAK, CANNOT_START_LINE, CJK_IDEOGRAPH, FUZZ, NBSP, WHITESPACE
from glyph.render.layout.widths import Measure

_WS_CLASS = re.escape(WHITESPACE.replace("\n", ""))
_TOKEN = re.compile(rf"(\n)|([{_WS_CLASS}]+)|([^{_WS_CLASS}\n]+)")


def wants_cjk(text: str, cfg: RenderConfig) -> bool:
    """Whether ``text`` is broken per character: ``wrap-mode`` cjk, or auto and an ideograph in the text."""
    return cfg.wrap_mode == "cjk" or (cfg.wrap_mode == "auto" and CJK_IDEOGRAPH.search(text) is not None)


def break_cjk(
    para: Paragraph, m: Measure, widths: tuple[float, float], single: bool = False
) -> list[RawLine]:
    """reportlab's cjkFragSplit: per-character breaking with a back-off for Latin runs and kinsoku.

    reportlab adds one character's width at a time and ends the line at the first character that
    overflows it (or at a break). Here each line is found with one bisection of the paragraph's
    cumulative widths instead; where that sum is too close to the limit for its rounding to be
    trusted, the line's widths are added in reportlab's order, so the decisions are the same.

    ``single``: the paragraph is one fragment, which reportlab wraps with ``dumbSplit`` instead: the
    same breaks, but a line it ends for width is drawn ``str.strip()``-ped (its last line is not);
    the width used for alignment still counts the stripped whitespace, as reportlab's does.
    """
    drawn = para.drawn
    n = len(drawn)
    if n == 0:
        return []
    first_w, later_w = widths
    w = m.widths.copy()
    hard = m.cps == ord(BREAK)
    w[hard] = 0.0  # a <br/> has no width in reportlab's sum
    if para.breaks is not None:
        hard |= para.breaks
    forced = np.flatnonzero(hard).tolist()
    cum_a = np.empty(n + 1, dtype=np.float64)
    cum_a[0] = 0.0
    np.cumsum(w, out=cum_a[1:])
    cum = cum_a.tolist()
    span = m.cum.tolist()  # drawn widths (a space that breaks counts, a <br/> is not drawn)
    src = para.src
    lines: list[RawLine] = []
    line_pos, max_w, line_start = 0, first_w, para.start
    fi, nf = 0, len(forced)
    while line_pos < n:
        while fi < nf and forced[fi] < line_pos:
            fi += 1
        f = forced[fi] if fi < nf else n
        j = _overflow(w, cum, line_pos, max_w + FUZZ, min(f + 1, n))
        if f < n and f <= j:  # the break comes first (or is the overflowing character): the line ends there
            end = f + 1
            vis_end = f if drawn[f] == BREAK else end  # a space that breaks is drawn
            is_forced = True
        elif j < n:
            i = j + 1
            c = u = drawn[j]
            if ord(c) < 0x3000:
                limit = (line_pos + i) >> 1
                for k0 in range(i - 1, limit, -1):
                    cj = drawn[k0]
                    if unicodedata.category(cj) == "Zs" or ord(cj) >= 0x3000:
                        k = k0 + 1
                        if k < i:
                            u = drawn[k]
                            i = k + 1
                            break
            if u not in CANNOT_START_LINE and i > line_pos + 1:
                i -= 1
            end = vis_end = i
            is_forced = False
            if single:
                a, b = line_pos, end
                while a < b and drawn[a].isspace():
                    a += 1
                while b > a and drawn[b - 1].isspace():
                    b -= 1
                if (a, b) != (line_pos, end):
                    lines.append(RawLine([(a, b)], span[end] - span[line_pos], max_w, 0, False, line_start,
                                         glued=True, stop=end, trimmed=True))  # fmt: skip
                    line_start = int(src[end]) if end < n else para.end
                    line_pos = end
                    max_w = later_w
                    continue
        else:
            if w[line_pos:].any():  # reportlab keeps what is left if it has any width
                lines.append(RawLine([(line_pos, n)], span[n] - span[line_pos], max_w, 0, False, line_start,
                                     glued=True, stop=n))  # fmt: skip
            break
        lines.append(RawLine([(line_pos, vis_end)], span[vis_end] - span[line_pos], max_w, 0, is_forced, line_start,
                             glued=True, stop=end))  # fmt: skip
        line_start = (int(src[end - 1]) + 1) if is_forced else (int(src[end]) if end < n else para.end)
        line_pos = end
        max_w = later_w
    return lines


def _overflow(w: np.ndarray, cum: list[float], start: int, limit: float, stop: int) -> int:
    """The first index j in [start, stop) where w[start] + ... + w[j], added left to right, exceeds
    ``limit``; ``len(w)`` if none does."""
    target = cum[start] + limit
    k = bisect_right(cum, target, start + 1, stop + 1)  # first k with cum[k] > target
    tol = 1e-8 * (1.0 + abs(target))  # far above the rounding of cumulative sums this long
    near = (k <= stop and cum[k] - target < tol) or (k - 1 > start and target - cum[k - 1] < tol)
    if not near:
        return k - 1 if k <= stop else len(w)
    local = np.cumsum(w[start:stop])  # reportlab's own order of additions: the exact decision
    hit = int(np.searchsorted(local, limit, side="right"))
    return start + hit if hit < len(local) else len(w)


def single_fragment(para: Paragraph, marker: NewlineMarker, source: str) -> bool:
    """Whether reportlab parses the paragraph into one fragment, as its single-fragment path needs.

    Its parser starts a fragment at every tag and every entity of the markup: a ``<br/>``, a
    tagged newline marker, and the entities of the reference's escaping (``&amp;``, ``&lt;``,
    ``&gt;``) and glue (``&nbsp;`` for each space of a run of two or more; a no-break space
    typed in the text is plain text). ``source`` is the text the paragraph's offsets point into.
    """
    drawn = para.drawn
    if "&" in drawn or "<" in drawn or ">" in drawn:
        return False
    if NBSP in drawn:
        glued = [k for k, c in enumerate(drawn) if c == NBSP]
        if any(source[int(para.src[k])] != NBSP for k in glued):
            return False
    if para.marker is None or not marker.tags:  # a marker without tags is plain text
        return BREAK not in drawn or drawn == BREAK
    return BREAK not in drawn and len(drawn) == len(marker.text) and bool(para.marker.all())


def split_rest(para: Paragraph, rest: list[RawLine], single: bool) -> Paragraph | None:
    """The paragraph reportlab makes of the lines a page break cuts off a CJK paragraph, to wrap again.

    ``Paragraph.split`` keeps the first part's lines and builds the rest from the lines after the
    cut, which it then wraps afresh. A paragraph of one fragment (``single``: see
    :func:`single_fragment`) is rebuilt from its lines' drawn, stripped, texts joined with nothing
    (``_split_blParaSimple``), so whitespace stripped at a line's ends is gone. A paragraph of
    several fragments is rebuilt from its lines' fragments (``_split_blParaHard``), every line but
    the last given a trailing space: a line ended by a ``<br/>`` has that break's empty text become
    ``' '`` (still a break), any other line gets a space appended unless it ends with one; the
    spaces show, as a line of the rest may start with one. None when the rest is a single
    ``<br/>``: reportlab's single-fragment path wraps that into no line at all.
    """
    if single:
        return _joined(para, rest)
    drawn, n = para.drawn, len(para.drawn)
    lo, hi = rest[0].pieces[0][0], rest[-1].stop  # glued lines are contiguous: the rest is one slice
    if hi - lo == 1 and drawn[lo] == BREAK:
        return None
    cps = np.frombuffer(drawn[lo:hi].encode("utf-32-le"), dtype=np.uint32).copy()
    src = para.src[lo:hi].copy()
    flags = para.marker[lo:hi].copy() if para.marker is not None else None
    breaks = para.breaks[lo:hi].copy() if para.breaks is not None else np.zeros(hi - lo, bool)
    ends = np.array([line.stop for line in rest[:-1]], dtype=np.int64) - lo  # every line but the last
    last_cp = cps[ends - 1] if len(ends) else cps[:0]
    brk = np.array([line.forced for line in rest[:-1]], dtype=bool) & (last_cp == ord(BREAK))
    # a <br/> ending a line: its empty text becomes a space that still breaks
    cps[ends[brk] - 1] = 0x20
    breaks[ends[brk] - 1] = True
    # any other line: a space appended, unless it ends with one
    add = ends[~brk & (last_cp != 0x20)]
    if len(add):
        after = add + lo
        next_src = np.where(after < n, para.src[np.minimum(after, n - 1)], para.end)
        cps = np.insert(cps, add, 0x20)
        src = np.insert(src, add, next_src)
        breaks = np.insert(breaks, add, False)
        if flags is not None:
            flags = np.insert(flags, add, flags[add - 1])
    return Paragraph(
        drawn=cps.tobytes().decode("utf-32-le"),
        src=src,
        start=rest[0].first_src,
        end=para.end,
        marker=flags,
        breaks=breaks if breaks.any() else None,
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


def _joined(para: Paragraph, rest: list[RawLine]) -> Paragraph:
    """The rest of a one-fragment paragraph: its lines' drawn characters, concatenated."""
    idx = np.concatenate([np.arange(a, b) for line in rest for a, b in line.pieces] or [np.zeros(0, np.intp)])
    cps = np.frombuffer(para.drawn.encode("utf-32-le"), dtype=np.uint32)[idx]
    return Paragraph(
        drawn=cps.tobytes().decode("utf-32-le"),
        src=para.src[idx],
        start=rest[0].first_src,
        end=para.end,
        marker=para.marker[idx] if para.marker is not None else None,
    )
