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

One module per stage, in the order text flows through them: ``paragraphs`` (30-line groups,
reflow, newline markers, NBSP glue), ``widths`` (advance widths per paragraph), ``breaking``
(word mode: greedy breaker, long-word split) and ``cjk`` (per-character mode, kinsoku),
``pagination`` (the frame flow), wired together in ``engine``; ``rules`` holds reportlab's
constants and character classes, ``model`` the types layout returns.

Entry points: :func:`iter_layout` (lazy, one page at a time) and :func:`layout_text` (the whole
layout as data, missing glyphs included). For page images use :func:`glyph.render.render` or
:func:`glyph.render.render_pages`.
"""

from glyph.render.layout.engine import iter_layout, layout_text
from glyph.render.layout.model import Layout, Line, MissingGlyphs, PageLayout, ParagraphBox
from glyph.render.layout.paragraphs import NewlineMarker, reflow_text
from glyph.render.layout.rules import (
    CANNOT_START_LINE,
    CJK_IDEOGRAPH,
    IGNORED,
    LINES_PER_PARAGRAPH,
    NBSP,
    WHITESPACE,
)

__all__ = [
    "CANNOT_START_LINE",
    "CJK_IDEOGRAPH",
    "IGNORED",
    "LINES_PER_PARAGRAPH",
    "NBSP",
    "WHITESPACE",
    "Layout",
    "Line",
    "MissingGlyphs",
    "NewlineMarker",
    "PageLayout",
    "ParagraphBox",
    "iter_layout",
    "layout_text",
    "reflow_text",
]
