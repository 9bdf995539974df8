"""Text -> page images: config, layout, rasteriser, batch rendering.

The one way through is ``render(text, cfg)`` (every page, as a list) or ``render_pages(text, cfg)``
(the same pages, lazily, one in memory at a time); ``iter_layout``/``layout_text`` stop at the layout.
"""

from glyph.render.config import Alignment, RenderConfig, reference_default
from glyph.render.keys import render_key
from glyph.render.layout import Layout, Line, MissingGlyphs, PageLayout, iter_layout, layout_text
from glyph.render.pages import LineBox, RenderedPage, UnreadableImageError, load_image
from glyph.render.raster import render, render_pages

__all__ = [
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
    "render_key",
    "render_pages",
]
