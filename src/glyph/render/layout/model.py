"""What layout produces: pages of positioned lines, each line knowing the source span it covers."""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from glyph.render.layout.rules import NBSP


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
