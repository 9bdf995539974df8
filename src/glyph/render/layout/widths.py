"""Widths: advance widths in pt of a paragraph's drawn characters, as reportlab measures them.

One width table per (font chain, size) caches every BMP code point seen (the 16 most recently used
are kept), so a paragraph is measured with a couple of gathers and one cumulative sum (line
breaking then reads spans of it).
"""

from __future__ import annotations

import threading

import numpy as np
from cachetools import LRUCache

from glyph.render.fonts import FontChain
from glyph.render.layout.model import MissingGlyphs
from glyph.render.layout.rules import BREAK


class Measure:
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


#: Width tables kept (640 KiB each: one per font chain and size a process lays out), least recently
#: used first out; a server whose clients choose font sizes holds at most this many.
WIDTH_TABLES = 16
_WIDTH_TABLES: LRUCache[tuple[int, float], tuple[FontChain, _WidthTable]] = LRUCache(maxsize=WIDTH_TABLES)
_LOCK = threading.Lock()


def _width_table(chain: FontChain, size: float) -> _WidthTable:
    with _LOCK:
        hit = _WIDTH_TABLES.get((id(chain), size))
    if hit is None or hit[0] is not chain:
        table = _WidthTable(chain, size)
        with _LOCK:
            _WIDTH_TABLES[(id(chain), size)] = hit = (chain, table)
    return hit[1]
