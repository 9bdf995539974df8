"""Layout: text -> pages of positioned lines, each knowing the source span it covers.

The rules follow the reference pipeline (reportlab ``SimpleDocTemplate`` + ``Paragraph``
fed by ``word2png_function.py``) so that line breaks and page counts match:

* the text is split on ``\\n``; every 30 of those lines form one reportlab paragraph,
  joined by the newline markup (``<br/>``: a forced break; anything else: an inline
  visible marker). A paragraph's trailing break draws no empty line.
* runs of two or more spaces become non-breaking spaces (glued to the adjacent word);
  any other whitespace run is one breakable space. Tabs become ``tab-size`` glued spaces
  (``tab-size`` 0 collapses them as the reference does). U+00AD and U+200B are not drawn.
* greedy breaking on advance widths (no kerning), with reportlab's 5% space shrinkage;
  a word longer than the line is split by character, starting on the current line.
* if the text holds a CJK ideograph, lines break between any two characters, with
  reportlab's back-off to a space for Latin runs and its kinsoku rule.
* vertical flow: frame padding 6 pt, leading per line, space before/after between
  paragraphs (collapsed at the top of a page), no single-line orphans at a page end.
* JUSTIFY spreads a line's slack over its spaces, breaking and glued (``Line.word_space`` on
  each ``' '`` and NBSP, as reportlab's ``Tw``, which also lands on NBSP), except on lines ended
  by a forced break and on a paragraph's last line unless it overflows (then it is squeezed); a
  piece cut off by a page break is stretched to its last line. A CJK-wrapped line is one word to
  reportlab, so only its NBSPs count (and the slack spread over them lands on its spaces too).

Every line records its source span ``[start, end)``; the spans of all lines partition
the input, so nothing is lost without being accounted for.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape

import numpy as np

from glyph.render.config import FRAME_PADDING_PT, Alignment, RenderConfig
from glyph.render.fonts import FontChain, default_fallbacks, font_chain, resolve_font

LINES_PER_PARAGRAPH = 30  # the reference joins this many source lines into one reportlab Paragraph
SPACE_SHRINKAGE = 0.05  # reportlab rl_config.spaceShrinkage
FUZZ = 1e-6  # reportlab rl_config._FUZZ
JUSTIFY_FUZZ = 1e-8  # reportlab's _justifyDrawParaLine: extra space within (-1e-8, 1e-8] is not spread
NBSP = "\xa0"
BREAK = "\n"  # inside a paragraph's drawn string, a forced line break

# reportlab's whitespace set (paragraph._wsc): separators that collapse and allow a break
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u3000"
)
_WS_CLASS = re.escape(WHITESPACE.replace("\n", ""))
_TOKEN = re.compile(rf"(\n)|([{_WS_CLASS}]+)|([^{_WS_CLASS}\n]+)")
_CJK_IDEOGRAPH = re.compile(r"[\u4E00-\u9FFF]")
IGNORED = frozenset("\xad\u200b")  # removed by the reference before layout

# JIS X 4051 characters that may not start a line (the set reportlab's CJK wrap uses)
CANNOT_START_LINE = frozenset(
    "!',.:;?\")]\u3001\u3002\u300d\u300f\u3011\u3015\uff3d\uff09"
    "\u3005\u2015\u3041\u3043\u3045\u3047\u3049\u3063\u3083\u3085\u3087\u308e\u30a1\u30a3"
    "\u30a5\u30a7\u30a9\u30c3\u30e3\u30e5\u30e7\u30ee\u30fc\u30f5\u30f6"
    "\u309b\u309c\u30fb\u30fd\u30fe\u309d\u309e\u2010\xb0\u2032\u2033\u2103\uffe0\uff05\u2030"
)


@dataclass(frozen=True, slots=True)
class Line:
    """One laid-out line. Positions in pt from the page's top-left corner."""

    start: int  # source span [start, end) of the input text
    end: int
    text: str  # characters drawn, separators as ' ', glued spaces as NBSP
    x: float  # left edge of the first glyph
    baseline: float
    width: float  # natural width, before justification
    word_space: float = 0.0  # extra pt on each ' ' and NBSP (justified lines)
    marker: tuple[tuple[int, int], ...] = ()  # ranges of `text` drawn in the marker colour

    @property
    def plain(self) -> str:
        """What a reader should read back: NBSP as space."""
        return self.text.replace(NBSP, " ")


@dataclass(frozen=True, slots=True)
class ParagraphBox:
    """The vertical extent of one paragraph piece on a page (for background and border)."""

    top: float
    bottom: float


@dataclass(frozen=True, slots=True)
class PageLayout:
    index: int
    lines: tuple[Line, ...]
    boxes: tuple[ParagraphBox, ...]
    is_last: bool = False

    @property
    def start(self) -> int:
        return self.lines[0].start if self.lines else 0

    @property
    def end(self) -> int:
        return self.lines[-1].end if self.lines else 0

    @property
    def text(self) -> str:
        return "\n".join(line.plain for line in self.lines)


@dataclass
class MissingGlyphs:
    """Characters that no font in the chain can draw: drawn as .notdef boxes and reported."""

    counts: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def examples(self, n: int = 10) -> list[str]:
        return [f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c, _ in self.counts.most_common(n)]

    def __str__(self) -> str:
        if not self.counts:
            return "no missing glyphs"
        return f"{self.total} characters without a glyph ({len(self.counts)} distinct): " + ", ".join(
            self.examples()
        )


@dataclass
class Layout:
    pages: list[PageLayout]
    missing: MissingGlyphs
    text_length: int

    @property
    def lines(self) -> list[Line]:
        return [line for page in self.pages for line in page.lines]


# ---------------------------------------------------------------------------------------------
# Preparing paragraphs: source -> drawn string with a source index per drawn character


@dataclass(slots=True)
class _Para:
    """One reportlab paragraph: drawn characters, their source offsets, and where it starts."""

    drawn: str
    src: np.ndarray  # int64 source offset of each drawn char (BREAK -> offset of its newline)
    start: int  # source offset where the paragraph begins
    end: int  # source offset after the paragraph (after its last newline, if any)
    marker: np.ndarray | None = None  # bool per drawn char: part of an inline newline marker


@dataclass(frozen=True, slots=True)
class NewlineMarker:
    text: str  # drawn in place of a newline; empty means a forced break
    color: str | None

    @classmethod
    def parse(cls, markup: str) -> NewlineMarker:
        if re.fullmatch(r"\s*<br\s*/?>\s*", markup, flags=re.I):
            return cls("", None)
        color = re.search(r"color\s*=\s*[\"']?(#[0-9a-fA-F]{6})", markup)
        text = unescape(re.sub(r"<[^>]*>", "", markup))
        return cls(text, color.group(1).upper() if color else None)


def reflow_text(text: str) -> str:
    """Join hard-wrapped lines: a newline between two non-blank lines becomes a space (same length)."""
    return re.sub(r"(?<=\S)([ \t]*)\n(?=[ \t]*\S)", lambda m: m.group(1) + " ", text)


_DOUBLE_SPACE = re.compile(r" {2,}")
_IGNORED = re.compile("[" + "".join(sorted(IGNORED)) + "]")


def _expand(
    drawn: str, src: np.ndarray, flags: np.ndarray, pattern: re.Pattern, replace_with
) -> tuple[str, np.ndarray, np.ndarray]:
    """Replace each match of one character by a string, keeping a source offset and flag per output char."""
    chunks: list[str] = []
    srcs: list[np.ndarray] = []
    flag_parts: list[np.ndarray] = []
    pos = 0
    for mt in pattern.finditer(drawn):
        k = mt.start()
        chunks.append(drawn[pos:k])
        srcs.append(src[pos:k])
        flag_parts.append(flags[pos:k])
        rep, flag = replace_with(drawn[k])
        chunks.append(rep)
        srcs.append(np.full(len(rep), src[k], dtype=np.int64))
        flag_parts.append(np.full(len(rep), flag, dtype=bool))
        pos = k + 1
    chunks.append(drawn[pos:])
    srcs.append(src[pos:])
    flag_parts.append(flags[pos:])
    return "".join(chunks), np.concatenate(srcs), np.concatenate(flag_parts)


def _glue_spaces(drawn: str) -> str:
    """Every run of two or more spaces as as many NBSP (``_DOUBLE_SPACE.sub`` without a call per run).

    Pairs first, then the odd space left at the end of a run, marked with a NUL the text lacks.
    """
    if "\0" in drawn:
        return _DOUBLE_SPACE.sub(lambda m: NBSP * len(m.group()), drawn)
    return drawn.replace("  ", "\0\0").replace("\0 ", "\0\0").replace("\0", NBSP)


def iter_paragraphs(text: str, cfg: RenderConfig) -> Iterator[_Para]:
    """Group source lines 30 at a time, as the reference does, into drawn strings.

    In ``<br/>`` mode the drawn string keeps the source's newlines as forced breaks, so a
    paragraph without tabs or deleted characters is the source slice with glued spaces as
    NBSP, and its offsets are a plain range.
    """
    work = reflow_text(text) if cfg.reflow else text
    marker = NewlineMarker.parse(cfg.newline_markup)
    newlines = [m.start() for m in re.finditer("\n", work)]
    starts = [0] + [p + 1 for p in newlines]
    ends = newlines + [len(work)]
    n_lines = len(starts)
    specials = "\t" if cfg.tab_size > 0 else ""
    if marker.text:
        specials += "\n"
    special = re.compile(f"[{specials}]") if specials else None

    def replacement(c: str) -> tuple[str, bool]:
        return (NBSP * cfg.tab_size, False) if c == "\t" else (marker.text, True)

    for g in range(0, n_lines, LINES_PER_PARAGRAPH):
        last = min(g + LINES_PER_PARAGRAPH, n_lines) - 1
        s, e = starts[g], ends[last]
        drawn = work[s:e]
        src = np.arange(s, e, dtype=np.int64)
        flags = None
        if any(c in drawn for c in IGNORED):  # deleted before the reference looks for double spaces
            drawn, src, _ = _expand(drawn, src, np.zeros(len(drawn), bool), _IGNORED, lambda c: ("", False))
        if "  " in drawn:
            drawn = _glue_spaces(drawn)
        if special is not None and any(c in drawn for c in specials):
            drawn, src, flags = _expand(drawn, src, np.zeros(len(drawn), bool), special, replacement)
            if not flags.any():
                flags = None
        yield _Para(drawn=drawn, src=src, start=s, end=e + 1 if last < len(newlines) else len(work), marker=flags)


# ---------------------------------------------------------------------------------------------
# Line breaking


@dataclass(slots=True)
class _RawLine:
    """A broken line before positioning: drawn-char ranges and widths, in pt."""

    pieces: list[tuple[int, int]]  # drawn-index ranges, joined by one breaking space each
    width: float
    max_width: float
    n_spaces: int  # word gaps to stretch (JUSTIFY): its ' ' characters but one before an empty word head
    forced: bool  # ended by a forced break (not justified)
    first_src: int  # source offset where this line starts
    glued: bool = False  # CJK mode: pieces are contiguous, no spaces inserted


class _Measure:
    """Per-paragraph cumulative advance widths in pt, from the font chain."""

    def __init__(self, chain: FontChain, size: float, drawn: str, missing: MissingGlyphs) -> None:
        self.cps = cps = np.frombuffer(drawn.encode("utf-32-le"), dtype=np.uint32)
        self.widths, lost = _width_table(chain, size).lookup(cps)
        self.cum = cum = np.empty(len(cps) + 1, dtype=np.float64)
        cum[0] = 0.0
        np.cumsum(self.widths, out=cum[1:])
        if lost.any():
            missing.counts.update(chr(c) for c in cps[lost].tolist())

    def span(self, a: int, b: int) -> float:
        return float(self.cum[b] - self.cum[a])


class _WidthTable:
    """Advance in pt, and whether no font has it, of every BMP code point seen: for one chain and size.

    The same numbers as ``chain.resolve`` (widths ``w1000 * (size / 1000)``), looked up with
    a couple of gathers per paragraph instead of resolving again.
    """

    def __init__(self, chain: FontChain, size: float) -> None:
        self.chain, self.size = chain, size
        self.known = np.zeros(0x10000, dtype=bool)
        self.width = np.zeros(0x10000, dtype=np.float64)
        self.lost = np.zeros(0x10000, dtype=bool)

    def lookup(self, cps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Width in pt of each code point, and which ones no face draws (a forced break is not lost)."""
        if len(cps) and int(cps.max()) < 0x10000:
            idx = cps.astype(np.intp)  # once, rather than once per gather
            if self.known.take(idx).all():
                return self.width.take(idx), self.lost.take(idx)
        faces, w1000 = self.chain.resolve(cps)
        widths = w1000 * (self.size / 1000.0)
        lost = (faces < 0) & (cps != ord(BREAK))
        bmp = cps < 0x10000
        self.width[cps[bmp]] = widths[bmp]
        self.lost[cps[bmp]] = lost[bmp]
        self.known[cps[bmp]] = True  # last: a reader that sees it known sees its width
        return widths, lost


_WIDTH_TABLES: dict[tuple[int, float], tuple[FontChain, _WidthTable]] = {}


def _width_table(chain: FontChain, size: float) -> _WidthTable:
    hit = _WIDTH_TABLES.get((id(chain), size))
    if hit is None or hit[0] is not chain:
        table = _WidthTable(chain, size)
        _WIDTH_TABLES[(id(chain), size)] = hit = (chain, table)
    return hit[1]


_SEPARATOR = np.zeros(0x10000, dtype=bool)
_SEPARATOR[[ord(c) for c in WHITESPACE if c != BREAK]] = True
_IN_WORD = ~_SEPARATOR  # int8 per BMP code point: 1 inside a word, 0 for separators and forced breaks
_IN_WORD[ord(BREAK)] = False
_IN_WORD = _IN_WORD.view(np.int8)


class _WordBreaker:
    """reportlab's greedy frag-path breaking (Paragraph.breakLines, kind=1).

    Adding word k to a line that starts empty at word i fits when
    ``W(i..k) + (k-i)*space <= max_width + 0.05*space*(k-i)``, i.e. when
    ``g[k] = Wcum[k+1] + 0.95*space*k <= max_width + Wcum[i] + 0.95*space*i``; ``g`` is
    increasing, so a whole line is one bisection. Lines that start with the tail of a
    split long word take the word-by-word path, as reportlab does.
    """

    def __init__(self, para: _Para, m: _Measure, widths: tuple[float, float], space_w: float) -> None:
        self.para, self.m, self.space_w = para, m, space_w
        self.first_w, self.later_w = widths
        self.lines: list[_RawLine] = []
        self.pieces: list[tuple[int, int]] = []
        self.cur = 0.0
        self.line_start = para.start
        # breaking spaces inside the pieces themselves: a line kept as one slice of the drawn string
        # (words i..j, each followed by exactly one ' ') holds j - i of them; joiners come on top
        self.inner = 0

    @property
    def max_w(self) -> float:
        return self.first_w if not self.lines else self.later_w

    def close(self, forced: bool, next_start: int) -> None:
        n_spaces = max(len(self.pieces) - 1, 0) + self.inner
        self.lines.append(_RawLine(self.pieces, self.cur, self.max_w, n_spaces, forced, self.line_start))
        self.pieces, self.cur, self.line_start, self.inner = [], 0.0, next_start, 0

    def step(self, a: int, b: int, word_w: float) -> None:
        """Add one word the way reportlab's loop does (long-word split included)."""
        m, src, sw = self.m, self.para.src, self.space_w
        while True:
            n = len(self.pieces)
            gap = sw if n else 0.0
            new_w = self.cur + gap + word_w
            max_w = self.max_w
            lim = max_w + SPACE_SHRINKAGE * sw * n
            if new_w > lim and word_w > max_w:
                # a word longer than the line: split by character, first piece on this line
                cut = _split_point(m, a, b, max_w - gap - self.cur, self.later_w, allow_empty=True)
                if n or cut > a:
                    self.pieces.append((a, cut))
                    self.cur += gap + m.span(a, cut)
                    if cut == a:  # an empty head after words: reportlab counts no word, so no gap to stretch
                        self.inner -= 1
                else:
                    self.pieces.append((a, a))
                self.close(False, int(src[cut]) if cut < b else int(src[b - 1]) + 1)
                a = cut
                while a < b and m.span(a, b) > self.later_w:
                    cut = _split_point(m, a, b, self.later_w, self.later_w, allow_empty=False)
                    self.pieces.append((a, cut))
                    self.cur = m.span(a, cut)
                    self.close(False, int(src[cut]))
                    a = cut
                if a < b:
                    self.pieces.append((a, b))
                    self.cur = m.span(a, b)
                return
            if new_w > lim and n:
                self.close(False, int(src[a]))
                continue
            self.pieces.append((a, b))
            self.cur = new_w
            return

    def run(self) -> list[_RawLine]:
        para, m, sw = self.para, self.m, self.space_w
        cps, src = m.cps, para.src
        n = len(cps)
        in_word = np.zeros(n + 2, dtype=np.int8)  # padded with a non-word char at each end
        if n and int(cps.max()) < 0x10000:
            in_word[1:-1] = _IN_WORD[cps]
        elif n:
            in_bmp = cps < 0x10000
            in_word[1:-1][in_bmp] = _IN_WORD[cps[in_bmp]]
            in_word[1:-1][~in_bmp] = 1  # no astral code point is a separator
        # word edges alternate: start, end, start, end, ...
        edges = (in_word[1:] - in_word[:-1]).nonzero()[0]
        w_start, w_end = edges[0::2], edges[1::2]
        breaks = (cps == ord(BREAK)).nonzero()[0]
        cum_at = m.cum[edges]
        w_width = cum_at[1::2] - cum_at[0::2]
        w_cum = np.concatenate(([0.0], np.cumsum(w_width)))
        shrunk = (1 - SPACE_SHRINKAGE) * sw
        n_words = len(w_start)
        word_idx = np.arange(n_words)
        g = w_cum[1:] + shrunk * word_idx
        # the last word of a line that starts empty at word i, for a later line's width: one bisection
        # each, all at once (g is nondecreasing: bisect_right(g, v, i, stop) = clamp(searchsorted, i, stop))
        reach = np.searchsorted(g, (self.later_w + w_cum[:-1]) + shrunk * word_idx, side="right")
        last_later = (np.maximum(reach, word_idx) - 1).tolist()
        # words followed by exactly one ' ' let a line be kept as one slice of the drawn string
        single = np.zeros(n_words, dtype=bool)
        if n_words > 1:
            single[:-1] = ((w_start[1:] - w_end[:-1]) == 1) & (cps[w_end[:-1]] == 0x20)
        loose = np.concatenate(([0], np.cumsum(~single))).tolist()
        seg_bounds = np.searchsorted(np.searchsorted(breaks, w_start), np.arange(len(breaks) + 2)).tolist()
        ws, we, ww, wc = w_start.tolist(), w_end.tolist(), w_width.tolist(), w_cum.tolist()
        src_ws = src[w_start].tolist()
        breaks_l = breaks.tolist()
        after_break = (src[breaks] + 1).tolist()
        first_w, later_w = self.first_w, self.later_w
        lines = self.lines
        # the line being filled lives in locals; step() (long words) works on self, so sync around it
        pieces, cur, line_start, inner = self.pieces, self.cur, self.line_start, self.inner
        for seg in range(len(breaks_l) + 1):
            i, stop = seg_bounds[seg], seg_bounds[seg + 1]
            while i < stop:
                max_w = later_w if lines else first_w
                if pieces or ww[i] > max_w:
                    self.pieces, self.cur, self.line_start, self.inner = pieces, cur, line_start, inner
                    self.step(ws[i], we[i], ww[i])
                    pieces, cur, line_start, inner = self.pieces, self.cur, self.line_start, self.inner
                    i += 1
                    continue
                if lines:
                    j = last_later[i]
                    if j >= stop:
                        j = stop - 1
                else:
                    j = bisect_right(g, max_w + wc[i] + shrunk * i, i, stop) - 1
                if loose[j] - loose[i] == 0:
                    pieces, inner = [(ws[i], we[j])], j - i
                else:
                    pieces, inner = [(ws[k], we[k]) for k in range(i, j + 1)], 0
                cur = wc[j + 1] - wc[i] + (j - i) * sw
                i = j + 1
                if i < stop and ww[i] <= max_w:  # close(False, src[ws[i]]): j - i breaking spaces either way
                    lines.append(_RawLine(pieces, cur, max_w, len(pieces) - 1 + inner, False, line_start))
                    pieces, cur, line_start, inner = [], 0.0, src_ws[i], 0
            if seg < len(breaks_l):  # close(True, src[break] + 1)
                max_w = later_w if lines else first_w
                lines.append(_RawLine(pieces, cur, max_w, max(len(pieces) - 1, 0) + inner, True, line_start))
                pieces, cur, line_start, inner = [], 0.0, after_break[seg], 0
        self.pieces, self.cur, self.line_start, self.inner = pieces, cur, line_start, inner
        if pieces:
            self.close(False, para.end)
        return lines


def _split_point(m: _Measure, a: int, b: int, room: float, next_w: float, allow_empty: bool) -> int:
    """Where reportlab's _splitFragWord cuts: the first char that overflows ``room`` starts the next piece."""
    limit = m.cum[a] + room
    # first index k in (a, b] with cum[k] > limit: chars a..k-2 fit, char k-1 overflows
    k = int(np.searchsorted(m.cum[a + 1 : b + 1], limit, side="right")) + a + 1
    cut = k - 1  # the overflowing char starts the next piece
    if cut <= a:
        first_w = m.span(a, a + 1)
        if allow_empty and first_w <= next_w:
            return a  # an empty first piece: the word starts on the next line
        return a + 1  # a char wider than any line: it goes alone
    return min(cut, b)


def _break_cjk(para: _Para, m: _Measure, widths: tuple[float, float]) -> list[_RawLine]:
    """reportlab's cjkFragSplit: per-character breaking with a back-off for Latin runs and kinsoku."""
    drawn = para.drawn
    n = len(drawn)
    w = m.widths
    lines: list[_RawLine] = []
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
            lines.append(_RawLine([(line_pos, vis_end)], width, max_w, 0, forced, line_start, glued=True))
            line_start = int(para.src[end]) if end < n else para.end
            if forced:
                line_start = int(para.src[end - 1]) + 1
            line_pos = end
            width_used = 0.0
            max_w = later_w
    if width_used > 0:
        lines.append(_RawLine([(line_pos, n)], m.span(line_pos, n), max_w, 0, False, line_start, glued=True))
    return lines


def _cjk_clean(para: _Para) -> _Para:
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
    return _Para(
        drawn=drawn,
        src=np.concatenate(keep_src) if keep_src else np.zeros(0, np.int64),
        start=para.start,
        end=para.end,
        marker=np.concatenate(keep_flag) if para.marker is not None and keep_flag else None,
    )


# ---------------------------------------------------------------------------------------------
# Pages


class _Paginator:
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
        self.page_lines: list[_LineFields] = []
        self.page_boxes: list[ParagraphBox] = []
        self.page_index = 0

    def new_page(self) -> _PageDraft:
        page = _PageDraft(self.page_index, self.page_lines, tuple(self.page_boxes))
        self.page_index += 1
        self.page_lines, self.page_boxes = [], []
        self.used, self.at_top, self.prev_after = 0.0, True, 0.0
        return page

    def place(self, raw: list[_RawLine], build) -> Iterator[_PageDraft]:  # noqa: ANN001
        """Place one paragraph's lines, yielding every page it completes."""
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
            if last.forced and not last.glued:
                # reportlab splits a paragraph's frags at the frag that ended line `cut - 1` and re-wraps
                # both halves: the first half loses a trailing empty line, and the second half opens
                # with the forced break itself, i.e. with an empty line
                if not last.pieces and cut - 1 > first:
                    cut -= 1
                else:
                    nxt = raw[cut]
                    raw = [*raw[:cut], _RawLine([], 0.0, nxt.max_width, 0, True, nxt.first_src), *raw[cut:]]
            self._emit(raw, first, cut, s, build)
            first = cut
            yield self.new_page()

    def _emit(self, raw: list[_RawLine], a: int, b: int, s: float, build) -> None:  # noqa: ANN001
        top = self.frame_top + self.used + s
        leading, offset, last = self.leading, self.baseline_offset, len(raw) - 1
        append = self.page_lines.append
        for k in range(a, b):
            append(build(raw[k], k == 0, k == last, top + (k - a) * leading + offset))
        self.page_boxes.append(ParagraphBox(top, top + (b - a) * leading))


# A line's fields but its end (start, text, x, baseline, width, word_space, marker): Line objects are
# made once per line, when the next line's start (its end) is known
_LineFields = tuple


@dataclass(frozen=True, slots=True)
class _PageDraft:
    index: int
    lines: list[_LineFields]
    boxes: tuple[ParagraphBox, ...]
    is_last: bool = False

    def page(self, next_start: int | None) -> PageLayout:
        """The page, each line ending where the next begins (``next_start`` after the last); -1 if None."""
        rows = self.lines
        if next_start is None:
            lines = tuple(Line(r[0], -1, *r[1:]) for r in rows)
        else:
            ends = [r[0] for r in rows[1:]]
            ends.append(next_start)
            lines = tuple(
                Line(start, max(start, end), text, x, baseline, width, ws, marker)
                for (start, text, x, baseline, width, ws, marker), end in zip(rows, ends)
            )
        return PageLayout(self.index, lines, self.boxes, self.is_last)


def iter_layout(text: str, cfg: RenderConfig, missing: MissingGlyphs | None = None) -> Iterator[PageLayout]:
    """Lay out ``text`` lazily, one page at a time (each line's ``end`` is -1: see iter_pages_with_spans)."""
    for draft in _iter_drafts(text, cfg, missing):
        yield draft.page(None)


def _iter_drafts(text: str, cfg: RenderConfig, missing: MissingGlyphs | None = None) -> Iterator[_PageDraft]:
    missing = missing if missing is not None else MissingGlyphs()
    chain = chain_for(cfg)
    size = cfg.font_size
    space_w = chain.main.width1000(0x20) * size / 1000.0
    frame_x = cfg.margin_x + FRAME_PADDING_PT
    widths = (cfg.text_width - cfg.first_line_indent, cfg.text_width)
    cjk = cfg.wrap_mode == "cjk" or (cfg.wrap_mode == "auto" and _CJK_IDEOGRAPH.search(text) is not None)
    pager = _Paginator(cfg, baseline_offset=size)
    align = cfg.alignment
    x_first = frame_x + cfg.left_indent + cfg.first_line_indent
    x_later = frame_x + cfg.left_indent + 0.0  # the same sums as per line before, to the last bit

    for para in iter_paragraphs(text, cfg):
        if cjk:
            para = _cjk_clean(para)
        m = _Measure(chain, size, para.drawn, missing)
        raw = _break_cjk(para, m, widths) if cjk else _WordBreaker(para, m, widths, space_w).run()

        def build(
            r: _RawLine,
            is_first: bool,
            is_last: bool,
            baseline: float,
            drawn: str = para.drawn,
            flags: np.ndarray | None = para.marker,
        ) -> _LineFields:
            pieces = r.pieces
            if len(pieces) == 1:
                a, b = pieces[0]
                text_ = drawn[a:b]
            else:
                text_ = ("" if r.glued else " ").join([drawn[a:b] for a, b in pieces])
            x = x_first if is_first else x_later
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

        yield from pager.place(raw, build)
    final = pager.new_page()
    yield _PageDraft(final.index, final.lines, final.boxes, is_last=True)


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


def chain_for(cfg: RenderConfig) -> FontChain:
    fallbacks = tuple(resolve_font(f) for f in cfg.fallback_fonts) if cfg.fallback_fonts else default_fallbacks()
    return font_chain(resolve_font(cfg.font_path), fallbacks)


def iter_pages_with_spans(text: str, cfg: RenderConfig, missing: MissingGlyphs | None = None) -> Iterator[PageLayout]:
    """Like :func:`iter_layout`, with each line's ``end`` filled in: the spans partition the text.

    A page is complete once the next line's start is known, so one page is held back.
    """
    held: list[_PageDraft] = []
    for draft in _iter_drafts(text, cfg, missing):
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
    pages = list(iter_pages_with_spans(text, cfg, missing))
    return Layout(pages=pages, missing=missing, text_length=len(text))
