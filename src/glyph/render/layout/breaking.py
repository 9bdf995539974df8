"""Line breaking (word mode): reportlab's greedy breaking on advance widths, long words split by character.

A broken line is a :class:`RawLine`: ranges of the paragraph's drawn string and their width,
not yet positioned (pagination places it, the engine aligns it).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from glyph.render.layout.paragraphs import Paragraph
from glyph.render.layout.rules import BREAK, SPACE_SHRINKAGE, WHITESPACE
from glyph.render.layout.widths import Measure


@dataclass(slots=True)
class RawLine:
    """A broken line before positioning: drawn-char ranges and widths, in pt."""

    pieces: list[tuple[int, int]]  # drawn-index ranges, joined by one breaking space each
    width: float
    max_width: float
    n_spaces: int  # word gaps to stretch (JUSTIFY): its ' ' characters but one before an empty word head
    forced: bool  # ended by a forced break (not justified)
    first_src: int  # source offset where this line starts
    glued: bool = False  # CJK mode: pieces are contiguous, no spaces inserted
    stop: int = 0  # CJK mode: drawn index after the line's last character, its break included
    trimmed: bool = False  # CJK mode, one fragment: whitespace at the line's ends is not drawn


_SEPARATOR = np.zeros(0x10000, dtype=bool)
_SEPARATOR[[ord(c) for c in WHITESPACE if c != BREAK]] = True
_IN_WORD = ~_SEPARATOR  # int8 per BMP code point: 1 inside a word, 0 for separators and forced breaks
_IN_WORD[ord(BREAK)] = False
_IN_WORD = _IN_WORD.view(np.int8)


class WordBreaker:
    """reportlab's greedy frag-path breaking (Paragraph.breakLines, kind=1).

    Adding word k to a line that starts empty at word i fits when
    ``W(i..k) + (k-i)*space <= max_width + 0.05*space*(k-i)``, i.e. when
    ``g[k] = Wcum[k+1] + 0.95*space*k <= max_width + Wcum[i] + 0.95*space*i``; ``g`` is
    increasing, so a whole line is one bisection. Lines that start with the tail of a
    split long word take the word-by-word path, as reportlab does.
    """

    def __init__(self, para: Paragraph, m: Measure, widths: tuple[float, float], space_w: float) -> None:
        self.para, self.m, self.space_w = para, m, space_w
        self.first_w, self.later_w = widths
        self.lines: list[RawLine] = []
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
        self.lines.append(RawLine(self.pieces, self.cur, self.max_w, n_spaces, forced, self.line_start))
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

    def run(self) -> list[RawLine]:
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
                    lines.append(RawLine(pieces, cur, max_w, len(pieces) - 1 + inner, False, line_start))
                    pieces, cur, line_start, inner = [], 0.0, src_ws[i], 0
            if seg < len(breaks_l):  # close(True, src[break] + 1)
                max_w = later_w if lines else first_w
                lines.append(RawLine(pieces, cur, max_w, max(len(pieces) - 1, 0) + inner, True, line_start))
                pieces, cur, line_start, inner = [], 0.0, after_break[seg], 0
        self.pieces, self.cur, self.line_start, self.inner = pieces, cur, line_start, inner
        if pieces:
            self.close(False, para.end)
        return lines


def _split_point(m: Measure, a: int, b: int, room: float, next_w: float, allow_empty: bool) -> int:
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
