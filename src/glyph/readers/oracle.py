"""The oracle reader: returns each page's ground truth. An upper bound, and a test double.

It reads nothing from the pixels, so its scores say what a perfect reader would get; the
evaluation runner uses it to check task generators and metrics end to end.
"""

from __future__ import annotations

from collections.abc import Sequence

from glyph.readers.base import Reader
from glyph.render.pages import RenderedPage


class OracleReader(Reader):
    name = "oracle"

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        missing = [p.index for p in pages if not p.lines and p.image.width and p.image.height and p.end > p.start]
        if missing:
            raise ValueError(f"oracle reader needs pages from glyph's renderer (no ground truth on pages {missing})")
        return [page.text for page in pages]
