"""Layout invariants over arbitrary Unicode, plus the awkward inputs named explicitly.

Invariants (the glyph.render.layout package docstring gives the rules):
* layout never raises;
* line spans partition the source, in order;
* each line draws exactly the visible characters of its span (separators, NBSP, newlines and the
  removed U+00AD/U+200B aside), so the drawn multiset equals the source's plus the newline markers;
* no line is wider than the frame, beyond reportlab's 5 % space shrinkage (and, in CJK mode,
  one kinsoku character that may not start a line);
* the images are a pure function of text and config.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glyph.render.config import FRAME_PADDING_PT, Alignment, RenderConfig
from glyph.render import render_pages
from glyph.render.fonts import chain_for
from glyph.render.layout import CANNOT_START_LINE, CJK_IDEOGRAPH, NBSP, iter_layout, layout_text
from glyph.render.raster import PageRasterizer

from render_helpers import check_layout, check_marker_ranges

MARKUPS = ("<br/>", '<font color="#FF0000"> \\n </font>')

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def configs(draw: st.DrawFn) -> RenderConfig:
    width = draw(st.integers(150, 600))
    height = draw(st.sampled_from([120, 300, 842]))
    return RenderConfig.from_dict(
        {
            "page-size": f"{width},{height}",
            "font-size": draw(st.integers(6, 14)),
            "line-height": draw(st.sampled_from([0, 16])),
            "alignment": draw(st.sampled_from([a.value for a in Alignment])),
            "reflow": draw(st.booleans()),
            "newline-markup": draw(st.sampled_from(MARKUPS)),
            "tab-size": draw(st.sampled_from([0, 4])),
            "first-line-indent": draw(st.sampled_from([0, 12])),
            "space-before": draw(st.sampled_from([0, 5])),
            "space-after": draw(st.sampled_from([0, 3])),
            "paragraph-lines": draw(st.sampled_from([30, 0, 1, 2, 7])),
        }
    )


_any_char = st.characters(exclude_categories=("Cs",))
_interesting = st.sampled_from(
    [" ", "  ", "\n", "\n\n", "\t", NBSP, "\u00ad", "\u200b", "\u200d", "\u3000", "\r\n", "\x0b",
     "word", "Wide", "x" * 40, "\u4e2d\u6587", "\u3002", "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627",
     "\U0001f600", "\ue000", "\U0010fffd", "e\u0301", "&amp;", "<b>", "-", ",", ")"]
)  # fmt: skip
texts = st.lists(st.one_of(_any_char, _interesting), max_size=120).map("".join)
# no ideographs: the word-wrapping path
latin_texts = st.lists(
    st.one_of(st.characters(exclude_categories=("Cs",), max_codepoint=0x2FFF), _interesting.filter(
        lambda s: not CJK_IDEOGRAPH.search(s))), max_size=200
).map("".join)  # fmt: skip


def check_widths(text: str, cfg: RenderConfig, layout) -> None:  # noqa: ANN001
    chain = chain_for(cfg)
    space_w = chain.main.width1000(0x20) * cfg.font_size / 1000
    cjk = CJK_IDEOGRAPH.search(text) is not None
    frame_left = cfg.margin_x + FRAME_PADDING_PT
    for line in layout.lines:
        slack = 0.05 * space_w * line.text.count(" ") + 1e-6
        if line.text.endswith(" "):
            # a word too long for any line that starts where nothing of it fits: reportlab closes the
            # line with an empty first piece after the gap, so the gap counts in the width (no ink)
            slack += space_w
        if cjk and line.text and line.text[-1] in CANNOT_START_LINE:
            # kinsoku: a character that may not start a line stays on the line that it overflows
            cps = np.frombuffer(line.text[-1].encode("utf-32-le"), dtype=np.uint32)
            slack += float(chain.resolve(cps)[1][0]) * cfg.font_size / 1000
        assert line.width <= cfg.frame_width + slack, (line, cfg.frame_width)
        assert line.x >= frame_left + min(cfg.first_line_indent, 0) - slack, line  # right/centre: x + extra
        assert line.x + line.width <= frame_left + cfg.frame_width + slack, line


@SETTINGS
@given(text=texts, cfg=configs())
def test_layout_invariants_arbitrary_unicode(text: str, cfg: RenderConfig) -> None:
    layout = layout_text(text, cfg)
    check_layout(text, cfg, layout)
    check_widths(text, cfg, layout)


@SETTINGS
@given(text=latin_texts, cfg=configs())
def test_layout_invariants_word_wrap(text: str, cfg: RenderConfig) -> None:
    layout = layout_text(text, cfg)
    check_layout(text, cfg, layout)
    check_widths(text, cfg, layout)


def _cases() -> dict[str, str]:
    return {
        "empty": "",
        "long-no-spaces": "abcdefghij" * 5000,
        "only-newlines": "\n" * 500,
        "only-spaces": " " * 3000,
        "single-space": " ",
        "tabs": "\tif x:\n\t\treturn 1\n\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\tdeep\n\t",
        "zero-width": "a\u200bb\u00adc\u200dd \u200b \u00ad\u200b\u00ad\n\u200b\u200b",
        "rtl": "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd " * 50 + "\n" + "\u0645\u0631\u062d\u0628\u0627 " * 80,
        "emoji": "\U0001f600\U0001f44d\U0001f3fd \U0001f1fa\U0001f1f8 \u2764\ufe0f " * 60,
        "cjk-latin": ("\u4e2d\u6587\u6587\u672c mixed with English words, \u6807\u70b9\u3002" * 40 + "\n") * 3,
        "cjk-long-latin": "\u4e2d" + "supercalifragilistic" * 30,
        "crlf": "line one\r\nline two\r\n\r\nthree",
        "controls": "".join(chr(c) for c in range(32)) * 5,
        "nbsp-runs": ("a" + NBSP * 7 + "b  c   d    e" + " " * 40) * 20,
        "many-paragraphs": "\n".join(f"line {i} " + "w " * (i % 17) for i in range(400)),
        "long-words-and-spaces": ("x" * 300 + " ") * 10 + "  " + "y" * 1000,
        "markup-chars": "<br/> &amp; &lt; <font color='red'>x</font> \\n" * 30,
        "private-use": "\ue000\U0010fffd" * 30,
    }


CASES = _cases()
CASE_CONFIGS = {
    "default": {},
    "narrow-left": {"page-size": "150,160", "font-size": 14, "alignment": "LEFT"},
    "justify-indents-reflow": {
        "alignment": "JUSTIFY", "first-line-indent": 20, "left-indent": 5, "right-indent": 7,
        "space-before": 4, "space-after": 6, "reflow": True, "page-size": "300,200",
    },
    "marker-right": {"newline-markup": '<font color="#FF0000"> \\n </font>', "alignment": "RIGHT",
                     "page-size": "200,300", "tab-size": 0},
    "one-paragraph": {"paragraph-lines": 0, "space-before": 3, "page-size": "300,200"},
    "marker-one-paragraph": {"newline-markup": '<font color="#FF0000"> \\n </font>', "paragraph-lines": 0},
}  # fmt: skip


@pytest.mark.parametrize("cfg_name", list(CASE_CONFIGS))
@pytest.mark.parametrize("case", list(CASES))
def test_explicit_cases(case: str, cfg_name: str) -> None:
    text = CASES[case]
    cfg = RenderConfig.from_dict(CASE_CONFIGS[cfg_name])
    layout = layout_text(text, cfg)
    check_layout(text, cfg, layout)
    check_widths(text, cfg, layout)
    assert len(layout.pages) >= 1


def test_long_line_without_spaces_fills_lines() -> None:
    text = "abcdefghij" * 5000
    cfg = RenderConfig.from_dict({"alignment": "LEFT"})
    layout = layout_text(text, cfg)
    lines = layout.lines
    assert len(lines) > 100
    assert all(line.end - line.start == len(line.text) for line in lines)
    # all lines but the last are full: one more character would not fit
    assert all(line.width > cfg.frame_width - 10 for line in lines[:-1])


def test_only_spaces_and_newlines_draw_nothing() -> None:
    cfg = RenderConfig()
    for text in (" " * 100, "\n" * 100, "\t \n \t"):
        layout = layout_text(text, cfg)
        assert all(not line.text.strip(" " + NBSP) for line in layout.lines)


def test_tabs_become_glued_spaces() -> None:
    cfg = RenderConfig.from_dict({"tab-size": 4, "alignment": "LEFT"})
    line = layout_text("a\tb", cfg).lines[0]
    assert line.text == "a" + NBSP * 4 + "b"
    cfg0 = cfg.with_updates(**{"tab-size": 0})
    assert layout_text("a\tb", cfg0).lines[0].text == "a b"
    assert layout_text("a\t\tb", cfg0).lines[0].text == "a b"


def test_soft_hyphen_and_zwsp_are_not_drawn() -> None:
    layout = layout_text("co\u00adop\u200beration", RenderConfig())
    assert layout.lines[0].text == "cooperation"
    assert layout.lines[0].end == len("co\u00adop\u200beration")


def test_missing_glyphs_are_reported_and_drawn() -> None:
    text = "private \ue000 use \U0010fffd and \ue000 again"
    layout = layout_text(text, RenderConfig())
    assert layout.missing.counts["\ue000"] == 2
    assert layout.missing.counts["\U0010fffd"] == 1
    assert layout.missing.total == 3
    assert "U+E000" in str(layout.missing) and "U+10FFFD" in str(layout.missing)
    for pos, ch in ((text.index("\ue000"), "\ue000"), (text.index("\U0010fffd"), "\U0010fffd")):
        (line,) = [line for line in layout.lines if line.start <= pos < line.end]
        assert ch in line.text
    assert layout_text("plain ascii", RenderConfig()).missing.total == 0
    assert str(layout_text("plain", RenderConfig()).missing) == "no missing glyphs"


def test_missing_glyph_gets_ink() -> None:
    cfg = RenderConfig.from_dict({"page-size": "120,60"})
    page = layout_text("\ue000", cfg).pages[0]
    img = np.asarray(PageRasterizer(cfg).render(page).convert("L"))
    assert (img < 128).any()  # the .notdef box is drawn


def test_iter_layout_matches_layout_text() -> None:
    text = CASES["many-paragraphs"]
    cfg = RenderConfig.from_dict({"page-size": "300,200"})
    lazy = list(iter_layout(text, cfg))
    assert lazy == layout_text(text, cfg).pages
    assert len(lazy) > 3


# ------------------------------------------------------------------------------- determinism


def _page_bytes(text: str, cfg: RenderConfig) -> list[bytes]:
    return [page.image.tobytes() for page in render_pages(text, cfg)]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, cfg=configs())
def test_images_are_deterministic(text: str, cfg: RenderConfig) -> None:
    text = text[:400]
    first = _page_bytes(text, cfg)
    assert _page_bytes(text, cfg) == first
    layout = layout_text(text, cfg)
    again = [PageRasterizer(cfg).render(page).tobytes() for page in layout.pages]
    assert again == first


@pytest.mark.parametrize("text", [" ", "\r", "\u3000\x0b "])
def test_whitespace_only_text_has_a_span(text: str) -> None:
    layout = layout_text(text, RenderConfig())
    assert "".join(text[line.start : line.end] for line in layout.lines) == text


MARKER = '<font color="#FF0000"> \\n </font>'


def test_newline_marker_is_drawn_inline() -> None:
    cfg = RenderConfig.from_dict({"newline-markup": MARKER, "alignment": "LEFT"})
    layout = layout_text("a\nb", cfg)
    assert [line.plain for line in layout.lines] == ["a \\n b"]
    assert layout.lines[0].marker  # drawn in the marker colour


def test_marker_ranges_cover_only_one_marker_on_a_line() -> None:
    cfg = RenderConfig.from_dict({"newline-markup": MARKER, "alignment": "LEFT"})
    text = "a\nb"
    check_marker_ranges(text, cfg, layout_text(text, cfg))


@pytest.mark.parametrize("text", ["a\nb\nc", "\n0\n", "one\ntwo\nthree\nfour"])
def test_marker_ranges_with_two_markers_on_a_line(text: str) -> None:
    cfg = RenderConfig.from_dict({"newline-markup": MARKER, "alignment": "LEFT"})
    check_marker_ranges(text, cfg, layout_text(text, cfg))
