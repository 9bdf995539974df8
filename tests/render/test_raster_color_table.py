"""Coloured pages (one ink on one background) go through a 256-entry colour table: the same pixels as
composing every pixel in float32 (what the renderer did before, and still does for boxed paragraphs)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glyph.render.config import RenderConfig
from glyph.render.layout import iter_pages_with_spans
from glyph.render.raster import PageRasterizer, _hex_rgb, _over, postprocess

TEXT = "Colour pages: light ink on dark pages, editor themes, pastel posters. " * 60


@pytest.mark.parametrize(
    "changes",
    [
        {"font-color": "#E6E6E6", "page-bg-color": "#121212", "para-bg-color": "#121212"},
        {"font-color": "#ABB2BF", "page-bg-color": "#282C34", "para-bg-color": "#282C34", "horizontal-scale": 0.8},
        {"font-color": "#1F2937", "page-bg-color": "#F3F4F6", "para-bg-color": "#F3F4F6", "dpi": 96,
         "auto-crop-width": True, "auto-crop-last-page": True},
        {"font-color": "#FF0000", "page-bg-color": "#FFFFFF", "para-bg-color": "#FFFFFF", "color-mode": "L"},
    ],
)  # fmt: skip
def test_colour_table_pages_equal_per_pixel_composition(changes: dict) -> None:
    cfg = RenderConfig.from_dict({"page-size": "300,260", "font-size": 9, **changes})
    raster = PageRasterizer(cfg)
    pages = list(iter_pages_with_spans(TEXT, cfg))
    assert len(pages) >= 2
    for page in pages:
        cov, markers = raster.coverage(page)
        assert markers is None
        base = np.broadcast_to(_hex_rgb(cfg.page_bg_color), cov.shape + (3,)).copy()
        expected = Image.fromarray(
            np.rint(_over(base, _hex_rgb(cfg.font_color), cov)).astype(np.uint8), "RGB"
        )
        if cfg.color_mode == "L":
            expected = expected.convert("L")
        expected = postprocess(expected, cfg, page.is_last)
        got = raster.render(page)
        assert got.mode == expected.mode and got.size == expected.size
        assert got.tobytes() == expected.tobytes()
