"""reportlab's numbers and character classes that the layout reproduces, in one place.

Each value is reportlab's own (named in its comment) or the reference pipeline's
(``word2png_function.py``): change one and line breaks stop matching the reference.
"""

from __future__ import annotations

import re

# the reference joins this many source lines into one reportlab Paragraph (``paragraph-lines``' default)
from glyph.render.config import LINES_PER_PARAGRAPH  # noqa: F401  (re-exported with the other rules)

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
CJK_IDEOGRAPH = re.compile(r"[\u4E00-\u9FFF]")  # the reference switches reportlab to wordWrap="CJK" on these
IGNORED = frozenset("\xad\u200b")  # removed by the reference before layout

# JIS X 4051 characters that may not start a line (the set reportlab's CJK wrap uses)
CANNOT_START_LINE = frozenset(
    "!',.:;?\")]\u3001\u3002\u300d\u300f\u3011\u3015\uff3d\uff09"
    "\u3005\u2015\u3041\u3043\u3045\u3047\u3049\u3063\u3083\u3085\u3087\u308e\u30a1\u30a3"
    "\u30a5\u30a7\u30a9\u30c3\u30e3\u30e5\u30e7\u30ee\u30fc\u30f5\u30f6"
    "\u309b\u309c\u30fb\u30fd\u30fe\u309d\u309e\u2010\xb0\u2032\u2033\u2103\uffe0\uff05\u2030"
)
