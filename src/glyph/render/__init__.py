"""Text -> page images: config, layout, rasteriser, batch rendering."""

#: Bumped whenever line breaks or pixels change for some config, so caches keyed by
#: (text, config) never serve renders or reads of an older renderer (2: JUSTIFY fixed).
RENDER_REVISION = 2

from glyph.render.config import Alignment, RenderConfig, reference_default
from glyph.render.layout import Layout, Line, PageLayout, iter_pages_with_spans, layout_text
from glyph.render.pages import LineBox, RenderedPage, UnreadableImageError, load_image
from glyph.render.raster import iter_page_images, render_pages

__all__ = [
    "RENDER_REVISION",
    "Alignment",
    "Layout",
    "Line",
    "LineBox",
    "PageLayout",
    "RenderConfig",
    "RenderedPage",
    "UnreadableImageError",
    "iter_page_images",
    "iter_pages_with_spans",
    "layout_text",
    "load_image",
    "reference_default",
    "render_pages",
]
