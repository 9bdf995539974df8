"""Text -> page images: config, layout, rasteriser, batch rendering.

The one way through is ``render(text, cfg)`` (every page, as a list) or ``render_pages(text, cfg)``
(the same pages, lazily, one in memory at a time); ``iter_layout``/``layout_text`` stop at the layout.
"""

#: Bumped whenever line breaks or pixels change for some config, so caches keyed by
#: (text, config) never serve renders or reads of an older renderer (2: JUSTIFY fixed).
RENDER_REVISION = 2

from glyph.render.config import Alignment, RenderConfig, reference_default
from glyph.render.layout import Layout, Line, MissingGlyphs, PageLayout, iter_layout, layout_text
from glyph.render.pages import LineBox, RenderedPage, UnreadableImageError, load_image
from glyph.render.raster import render, render_pages

__all__ = [
    "RENDER_REVISION",
    "Alignment",
    "Layout",
    "Line",
    "LineBox",
    "MissingGlyphs",
    "PageLayout",
    "RenderConfig",
    "RenderedPage",
    "UnreadableImageError",
    "iter_layout",
    "layout_text",
    "load_image",
    "reference_default",
    "render",
    "render_pages",
]
