"""Text -> page images: config, layout, rasteriser, batch rendering."""

from glyph.render.config import Alignment, RenderConfig
from glyph.render.layout import Layout, Line, PageLayout, iter_pages_with_spans, layout_text

__all__ = ["Alignment", "Layout", "Line", "PageLayout", "RenderConfig", "iter_pages_with_spans", "layout_text"]
