"""`page_floor`: lower bounds on pages and page sizes, checked against the real renderer.

The property: whatever the text and config, the renderer makes at least ``floor.pages`` pages,
and its pages, widest first, are at least as wide and as tall as the floor's sizes. The
expected side is the renderer itself (``render_pages``), never the estimator.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glyph.data import demo_text
from glyph.render import render_pages
from glyph.render.config import reference_default
from glyph.render.estimate import CHUNK_CHARS, page_floor

WORDS = ["a", "the", "glyph", "rendering", "x" * 40, "supercalifragilistic" * 4, "中文字符", "日本語",
         "Ω", "—", "1234", "\u00a0", "\u200b", "\u00ad", "e\u0301", "\U0001f600", "\t", "  ", "٣"]  # fmt: skip
SEPARATORS = [" ", " ", " ", "\n", "\n\n", "  ", "\t", " \n "]


@st.composite
def texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=400))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(words), max_size=len(words)))
    return "".join(w + s for w, s in zip(words, seps))


@st.composite
def configs(draw: st.DrawFn):  # noqa: ANN201
    size = draw(st.sampled_from([6.0, 9.0, 13.5]))
    return reference_default().with_updates(**{
        "page-size": draw(st.sampled_from(["200,160", "300,200", "595,842"])),
        "dpi": draw(st.sampled_from([30, 48, 72])),
        "font-size": size,
        "line-height": draw(st.sampled_from([0, size + 1, size * 1.6])),
        "margin-x": draw(st.sampled_from([0, 10, 25])),
        "alignment": draw(st.sampled_from(["LEFT", "JUSTIFY", "CENTER", "RIGHT"])),
        "first-line-indent": draw(st.sampled_from([0, 12, -4])),
        "left-indent": draw(st.sampled_from([0, 6])),
        "reflow": draw(st.booleans()),
        "newline-markup": draw(st.sampled_from(["<br/>", "<br/>", '<font color="#FF0000">\\n</font>'])),
        "auto-crop-width": draw(st.booleans()),
        "auto-crop-last-page": draw(st.booleans()),
        "horizontal-scale": draw(st.sampled_from([1.0, 1.0, 0.8])),
        "wrap-mode": draw(st.sampled_from(["auto", "word", "cjk"])),
        "space-before": draw(st.sampled_from([0, 3])),
    })  # fmt: skip


def check(text: str, cfg) -> None:  # noqa: ANN001
    floor = page_floor(text, cfg)
    sizes = [p.image.size for p in render_pages(text, cfg)]
    assert floor.pages <= len(sizes), (floor.pages, len(sizes))
    assert len(floor.sizes) == floor.pages and not floor.partial
    widths = sorted((w for w, _ in sizes), reverse=True)
    heights = sorted((h for _, h in sizes), reverse=True)
    floor_w = [w for w, _ in floor.sizes]  # widest first
    floor_h = sorted((h for _, h in floor.sizes), reverse=True)
    assert all(a >= b for a, b in zip(widths, floor_w)), (widths[:5], floor_w[:5])
    assert all(a >= b for a, b in zip(heights, floor_h)), (heights[:5], floor_h[:5])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts(), configs())
def test_the_floor_never_exceeds_what_the_renderer_makes(text: str, cfg) -> None:  # noqa: ANN001
    check(text, cfg)


def test_the_floor_is_close_on_prose() -> None:
    """Not only a bound, a useful one: the essays' page count within 10% at the reference config."""
    text = demo_text()[:300_000]
    cfg = reference_default()
    actual = sum(1 for _ in render_pages(text, cfg))
    floor = page_floor(text, cfg)
    check(text, cfg)
    assert floor.pages >= math.floor(0.9 * actual)


def test_a_source_line_across_chunks_is_measured_whole() -> None:
    """A line longer than one chunk is one line's worth of advance, not two rounded-up halves."""
    line = ("word " * (CHUNK_CHARS // 5 + 7)).strip()
    cfg = reference_default().with_updates(**{"page-size": "595,400"})
    check(line + "\n" + line, cfg)


def test_it_stops_reading_past_the_limit() -> None:
    text = demo_text() * 8
    floor = page_floor(text, reference_default(), stop_above=10)
    full = page_floor(text, reference_default())
    assert floor.partial and not full.partial
    assert 10 < floor.pages < full.pages / 4  # one chunk read, not the whole text
