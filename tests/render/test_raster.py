"""Rasteriser: pixel sizes, colours, colour mode, horizontal scale, crops, laziness, determinism."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import glyph.render.layout.engine as layout_engine
from glyph.render import render, render_pages
from glyph.render.config import RenderConfig
from glyph.render.layout import layout_text
from glyph.render.raster import PageRasterizer, page_pixel_size, postprocess

TEXT = "The quick brown fox jumps over the lazy dog. " * 40


def _page(text: str, cfg: RenderConfig, index: int = 0):  # noqa: ANN202
    return layout_text(text, cfg).pages[index]


def _gray(img) -> np.ndarray:  # noqa: ANN001
    return np.asarray(img.convert("L"), dtype=np.int32)


@pytest.mark.parametrize(
    ("size", "dpi", "pixels"),
    [
        ("595,842", 72, (595, 842)),
        ("595,842", 96, (794, 1123)),  # 793.33 -> 794, 1122.67 -> 1123
        ("595,842", 144, (1190, 1684)),
        ("612,792", 100, (850, 1100)),  # exact: no rounding up
        ("100.5,200.2", 72, (101, 201)),
    ],
)
def test_page_pixel_size(size: str, dpi: int, pixels: tuple[int, int]) -> None:
    cfg = RenderConfig.from_dict({"page-size": size, "dpi": dpi})
    assert page_pixel_size(cfg) == pixels
    img = PageRasterizer(cfg).render(_page("Hello", cfg))
    assert img.size == pixels
    assert img.mode == "RGB"


def test_black_on_white_has_ink_where_the_text_is() -> None:
    cfg = RenderConfig.from_dict({"alignment": "LEFT", "page-size": "300,200"})
    page = _page("Hello world", cfg)
    g = _gray(PageRasterizer(cfg).render(page))
    ink_rows = np.flatnonzero((g < 128).any(axis=1))
    ink_cols = np.flatnonzero((g < 128).any(axis=0))
    line = page.lines[0]
    assert ink_rows.min() >= line.baseline - cfg.font_size - 1 and ink_rows.max() <= line.baseline + 3
    assert ink_cols.min() >= line.x - 1 and ink_cols.max() <= line.x + line.width + 1
    assert g[0, 0] == 255 and g.min() < 50


def test_colours() -> None:
    cfg = RenderConfig.from_dict(
        {"font-color": "#FF0000", "page-bg-color": "#000080", "para-bg-color": "#000080", "page-size": "300,200"}
    )
    arr = np.asarray(PageRasterizer(cfg).render(_page(TEXT, cfg)).convert("RGB"), dtype=np.int32)
    assert tuple(arr[0, 0]) == (0, 0, 128)
    assert tuple(arr[-1, -1]) == (0, 0, 128)
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    ink = r > 200
    assert ink.sum() > 500
    assert (g[ink] < 30).all() and (b[ink] < 60).all()  # red-ish, over navy
    # every pixel is a blend of the two colours
    assert (g == 0).all()
    assert ((r / 255 + b / 128) > 0.98).all() and ((r / 255 + b / 128) < 1.02).all()


def test_paragraph_background_is_painted_like_the_reference() -> None:
    # the reference gives each paragraph backColor=para-bg-color (default white), also over a coloured page
    cfg = RenderConfig.from_dict({"page-bg-color": "#000080", "page-size": "300,200", "alignment": "LEFT"})
    page = _page("one line", cfg)
    arr = np.asarray(PageRasterizer(cfg).render(page).convert("RGB"), dtype=np.int32)
    assert tuple(arr[0, 0]) == (0, 0, 128)
    (box,) = page.boxes
    mid_y = int((box.top + box.bottom) / 2)
    assert tuple(arr[mid_y, 250]) == (255, 255, 255)  # inside the paragraph box, right of the text
    assert tuple(arr[int(box.bottom) + 5, 150]) == (0, 0, 128)  # below it


def test_color_mode_l() -> None:
    for extra in ({}, {"font-color": "#FF0000", "page-bg-color": "#000080"}):
        cfg = RenderConfig.from_dict({"color-mode": "L", "page-size": "300,200", **extra})
        img = PageRasterizer(cfg).render(_page(TEXT, cfg))
        assert img.mode == "L"
        assert img.size == (300, 200)
        rgb = RenderConfig.from_dict({"page-size": "300,200", **extra})
        ref = PageRasterizer(rgb).render(_page(TEXT, rgb)).convert("L")
        assert np.abs(_gray(img) - _gray(ref)).max() <= 1


def test_horizontal_scale_halves_width() -> None:
    cfg = RenderConfig.from_dict({"horizontal-scale": 0.5, "page-size": "595,300"})
    img = PageRasterizer(cfg).render(_page(TEXT, cfg))
    assert img.size == (297, 300)  # int(595 * 0.5)
    full = RenderConfig.from_dict({"page-size": "595,300"})
    g_half, g_full = _gray(img), _gray(PageRasterizer(full).render(_page(TEXT, full)))
    # the same text, squeezed: about half the ink
    ink_half, ink_full = (255 - g_half).sum(), (255 - g_full).sum()
    assert 0.4 < ink_half / ink_full < 0.6


def test_horizontal_scale_then_crop() -> None:
    cfg = RenderConfig.from_dict({"horizontal-scale": 0.5, "auto-crop-width": True, "alignment": "LEFT"})
    img = PageRasterizer(cfg).render(_page("short line", cfg))
    assert img.width < 297
    cols = np.flatnonzero((_gray(img) < 250).any(axis=0))
    assert img.width == cols[-1] + 1 + cfg.margin_x


def test_auto_crop_last_page_only() -> None:
    cfg = RenderConfig.from_dict({"page-size": "300,200", "auto-crop-last-page": True})
    text = TEXT * 3
    assert [page.is_last for page in layout_text(text, cfg).pages][-2:] == [False, True]
    pages = render(text, cfg)
    assert len(pages) >= 2
    for page in pages[:-1]:
        assert page.image.size == (300, 200)
    last = pages[-1].image
    assert last.width == 300 and last.height < 200
    rows = np.flatnonzero((_gray(last) < 250).any(axis=1))
    assert last.height == rows[-1] + cfg.margin_y  # the reference keeps margin-y pixels below the ink


def test_auto_crop_width() -> None:
    cfg = RenderConfig.from_dict({"auto-crop-width": True, "alignment": "LEFT"})
    img = PageRasterizer(cfg).render(_page("tiny", cfg))
    assert img.height == 842
    assert img.width < 100


def test_postprocess_blank_page_is_not_cropped() -> None:
    cfg = RenderConfig.from_dict({"auto-crop-width": True, "auto-crop-last-page": True})
    from PIL import Image

    blank = Image.new("RGB", (595, 842), "white")
    assert postprocess(blank, cfg, True).size == (595, 842)


def test_render_pages_is_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = RenderConfig.from_dict({"alignment": "LEFT"})
    # ~81 lines a page: 300 pages of short lines, 30 lines per reportlab paragraph
    text = "\n".join(f"line {i} of a long document" for i in range(300 * 81))
    measured: list[int] = []
    real = layout_engine.Measure

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            measured.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(layout_engine, "Measure", Counting)
    gen = render_pages(text, cfg)
    assert inspect.isgenerator(gen)
    assert not measured  # nothing laid out before the first request
    layout = next(gen)
    assert layout.index == 0 and layout.image.size == (595, 842)
    total_paragraphs = -(-300 * 81 // 30)
    assert 0 < len(measured) < total_paragraphs // 20  # a few pages' worth, not 810 paragraphs
    layout2 = next(gen)
    assert layout2.index == 1 and layout2.start == layout.end > 0
    gen.close()


def test_render_is_deterministic_and_rasterizer_independent() -> None:
    cfg = RenderConfig.from_dict({"page-size": "300,300", "dpi": 96})
    text = TEXT + "\n\u4e2d\u6587 \U0001f600 \ue000 \u05e9\u05dc\u05d5\u05dd"
    first = [page.image.tobytes() for page in render_pages(text, cfg)]
    assert [page.image.tobytes() for page in render(text, cfg)] == first
    raster = PageRasterizer(cfg)
    assert [raster.render(p).tobytes() for p in layout_text(text, cfg).pages] == first


def test_rasterizers_of_different_sizes_do_not_interfere() -> None:
    small = RenderConfig.from_dict({"page-size": "200,100", "font-size": 9, "alignment": "LEFT"})
    big = small.with_updates(font_size=20)
    r_small = PageRasterizer(small)
    r_small.render(_page("a", small))  # sizes the shared face to 9 px
    PageRasterizer(big).render(_page("b", big))  # re-sizes it to 20 px
    after = r_small.render(_page("c", small))  # 'c' is new to r_small's atlas
    fresh = PageRasterizer(small).render(_page("c", small))
    assert after.tobytes() == fresh.tobytes()


def test_glyphs_left_of_the_page_are_clipped() -> None:
    cfg = RenderConfig.from_dict(
        {"page-size": "200,100", "font-size": 9, "alignment": "LEFT", "first-line-indent": -100}
    )
    page = _page("Wabc def", cfg)
    assert page.lines[0].x < 0  # the reference draws it off the page, i.e. not at all
    g = _gray(PageRasterizer(cfg).render(page))
    assert not (g[:, 100:] < 200).any()  # no ink in the right half


def test_only_markers_in_marker_colour() -> None:
    cfg = RenderConfig.from_dict(
        {"page-size": "200,60", "alignment": "LEFT", "newline-markup": '<font color="#FF0000"> \\n </font>'}
    )
    page = _page("a\nWWW\nc", cfg)
    arr = np.asarray(PageRasterizer(cfg).render(page).convert("RGB"), dtype=np.int32)
    red = (arr[..., 0] > 150) & (arr[..., 1] < 100)
    black = (arr[..., 0] < 100) & (arr[..., 1] < 100)
    assert black.sum() > 3 * red.sum() / 4  # 'a', 'WWW' and 'c' in black; only two '\n' markers in red
