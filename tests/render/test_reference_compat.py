"""Line-for-line and pixel compatibility with the reference pipeline (reportlab + poppler).

The corpus: six of the bundled Paul Graham essays (``glyph.data``), and three Python stdlib
sources rendered with ``tab-size`` 0 (the reference collapses tabs). Two configs: the
reference's ``config_en.json`` typography with DejaVu Sans (LEFT) and a JUSTIFY config with
indents, paragraph spacing and reflow.
"""

from __future__ import annotations

import inspect
import json
import json.decoder
import textwrap
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from glyph.data.essays import essays_dir
from glyph.render.config import RenderConfig
from glyph.render.layout import layout_text
from glyph.render.raster import PageRasterizer, page_pixel_size
from glyph.render.reference import reference_available, reference_render

pytestmark = pytest.mark.reference

_why = reference_available()
if _why is not None:
    pytest.skip(f"reference pipeline unavailable: {_why}", allow_module_level=True)

ESSAYS = ("addiction.txt", "apple.txt", "gba.txt", "hubs.txt", "submarine.txt", "vb.txt")
SOURCES = (textwrap, json.decoder, zipfile)
FIXTURE = Path(__file__).parent / "fixtures" / "config_en.json"


@cache
def corpus() -> dict[str, str]:
    folder = essays_dir()
    docs = {name: (folder / name).read_text(encoding="utf-8") for name in ESSAYS}
    for module in SOURCES:
        path = inspect.getsourcefile(module)
        assert path is not None
        docs["py:" + module.__name__] = Path(path).read_text(encoding="utf-8")
    return docs


def left_config() -> RenderConfig:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    data.update({"font-path": "DejaVu Sans", "tab-size": 0})
    return RenderConfig.from_dict(data)


def justify_config() -> RenderConfig:
    return left_config().with_updates(
        **{
            "alignment": "JUSTIFY",
            "first-line-indent": 14,
            "left-indent": 8,
            "right-indent": 12,
            "space-before": 4,
            "space-after": 6,
            "reflow": True,
            "page-size": "420,595",
        }
    )


CONFIGS = {"left": left_config, "justify": justify_config}


@cache
def compare(cfg_name: str) -> dict[str, tuple[int, int, int, int, list]]:
    """Per document: (our pages, reference pages, matching lines, lines compared, first mismatches)."""
    cfg = CONFIGS[cfg_name]()
    out = {}
    for name, text in corpus().items():
        ours = [[line.plain for line in page.lines] for page in layout_text(text, cfg).pages]
        ref = reference_render(text, cfg, rasterize=False).lines
        match = total = 0
        bad = []
        for p, (a, b) in enumerate(zip(ours, ref)):
            total += max(len(a), len(b))
            for k, (x, y) in enumerate(zip(a, b)):
                if x.rstrip() == y.rstrip():
                    match += 1
                elif len(bad) < 5:
                    bad.append((p, k, x, y))
        out[name] = (len(ours), len(ref), match, total, bad)
    return out


@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_page_counts_equal(cfg_name: str) -> None:
    result = compare(cfg_name)
    wrong = {name: (ours, ref) for name, (ours, ref, *_rest) in result.items() if ours != ref}
    assert not wrong, wrong


@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_lines_match_reference(cfg_name: str) -> None:
    result = compare(cfg_name)
    match = sum(r[2] for r in result.values())
    total = sum(r[3] for r in result.values())
    assert total > 1000
    bad = {name: r[4] for name, r in result.items() if r[4]}
    assert match == total, (match, total, bad)  # as the README's table (benchmarks/compat.py) claims: 0 differ


def _gray(img) -> np.ndarray:  # noqa: ANN001
    return np.asarray(img.convert("L"), dtype=np.float64)


@cache
def page_pair(dpi: int) -> tuple[np.ndarray, np.ndarray, tuple, tuple]:
    """Our rendering and the reference's of one page (the last, so both auto-crops apply)."""
    cfg = left_config().with_updates(dpi=dpi)
    text = corpus()["addiction.txt"][:2500]
    layout = layout_text(text, cfg)
    assert len(layout.pages) == 1
    ours = PageRasterizer(cfg).render(layout.pages[0])
    (ref,) = reference_render(text, cfg).pages
    assert ours.mode == ref.mode == "RGB"
    return _gray(ours), _gray(ref), ours.size, ref.size


@pytest.mark.parametrize("dpi", [72, 96])
def test_pixel_size_and_ink_match_reference(dpi: int) -> None:
    ours, ref, our_size, ref_size = page_pair(dpi)
    assert our_size == ref_size
    assert our_size[0] < page_pixel_size(left_config().with_updates(dpi=dpi))[0]  # auto-crop-width applied
    ink_ours, ink_ref = (255 - ours).sum(), (255 - ref).sum()
    assert abs(ink_ours - ink_ref) <= 0.01 * ink_ref, (ink_ours, ink_ref)


@pytest.mark.parametrize(
    "dpi",
    [
        72,
        96,
    ],
)
def test_pixels_match_reference(dpi: int) -> None:
    ours, ref, our_size, ref_size = page_pair(dpi)
    assert our_size == ref_size
    diff = np.abs(ours - ref).mean()
    assert diff < 8, diff


def _lines(text: str, cfg: RenderConfig) -> tuple[list[list[str]], list[list[str]]]:
    ours = [[line.plain.rstrip() for line in page.lines] for page in layout_text(text, cfg).pages]
    ref = [[line.rstrip() for line in page] for page in reference_render(text, cfg, rasterize=False).lines]
    return ours, ref


def test_trailing_break_only_paragraph_adds_no_page() -> None:
    cfg = RenderConfig.from_dict({"page-size": "150,243", "font-size": 6, "alignment": "LEFT"})
    text = "x\n" * 30 + "\n"
    ours, ref = _lines(text, cfg)
    assert len(ref) == 1
    assert ours == ref


LONE_BREAK_TEXTS = {
    "blank line after 30": "x\n" * 30 + "\n",  # the last group is '<br/>': reportlab draws no line for it
    "spaces around the break": "x\n" * 30 + " \n ",
    "after 60 lines": "x\n" * 60 + "\n",
    "CJK": "\u4e2d\n" * 30 + "\n",
    "two blank lines": "x\n" * 30 + "\n\n",  # '<br/><br/>': two lines, as any other paragraph
}


@pytest.mark.parametrize("space", [{}, {"space-before": 4}, {"space-after": 5}], ids=["no space", "before", "after"])
@pytest.mark.parametrize("name", list(LONE_BREAK_TEXTS))
def test_lone_break_paragraph_matches_reference(name: str, space: dict) -> None:
    # with space before or after, reportlab moves the line-less paragraph to a new, empty page
    cfg = RenderConfig.from_dict({"page-size": "150,243", "font-size": 6, "alignment": "LEFT", **space})
    ours, ref = _lines(LONE_BREAK_TEXTS[name], cfg)
    assert ours == ref


@pytest.mark.parametrize(
    "text", ["\n \u4e2d\u6587END", "a\n \u4e2d\u6587END", " a \n\n  \u4e2d \n", "\u4e2d\n\n\n x", "  \u4e2d  \n  "]
)
def test_cjk_marker_whitespace_matches_reference(text: str) -> None:
    cfg = RenderConfig.from_dict(
        {"page-size": "150,100", "font-size": 6, "alignment": "LEFT",
         "newline-markup": '<font color="#FF0000"> \\n </font>', "fallback-fonts": ["DejaVu Sans"]}
    )  # fmt: skip
    ours, ref = _lines(text, cfg)
    assert ours == ref


def test_cjk_lines_match_reference_with_the_reference_fonts() -> None:
    # with no fallback fonts, missing ideographs take .notdef's width, as in reportlab
    cfg = RenderConfig.from_dict(
        {"page-size": "300,200", "font-size": 8, "alignment": "LEFT", "fallback-fonts": ["DejaVu Sans"]}
    )
    text = ("\u4e2d\u6587\u6587\u672c mixed with English words, \u6807\u70b9\u3002" * 30 + "\n") * 4
    ours, ref = _lines(text, cfg)
    assert ours == ref


ZH = Path(__file__).parent / "fixtures" / "pixels" / "zh.txt"


def _needs_wqy() -> None:
    """The CJK checks need a TrueType CJK font reportlab can read (Noto CJK is CFF)."""
    try:
        RenderConfig(font_path="WenQuanYi Zen Hei")
    except ValueError:
        pytest.skip("fonts-wqy-zenhei is not installed (scripts/install_system_deps.sh)")


@pytest.mark.parametrize("align", ["LEFT", "JUSTIFY"])
@pytest.mark.parametrize("height", [98, 125, 152, 179, 206])
def test_cjk_page_splits_match_reference(height: int, align: str) -> None:
    # a page break through a CJK paragraph: reportlab wraps the rest again, a space joining its lines
    _needs_wqy()
    cfg = RenderConfig.from_dict(
        {"page-size": f"300,{height}", "font-size": 9, "line-height": 10, "alignment": align,
         "font-path": "WenQuanYi Zen Hei", "fallback-fonts": ["WenQuanYi Zen Hei"]}
    )  # fmt: skip
    ours, ref = _lines(ZH.read_text(encoding="utf-8"), cfg)
    assert len(ref) >= 2
    assert ours == ref


@pytest.mark.parametrize("newlines", [False, True])
def test_long_cjk_paragraph_over_pages_matches_reference(newlines: bool) -> None:
    # one fragment (no <br/>): reportlab splits it as plain text and the rest continues unchanged;
    # with a <br/> in it, the rest is wrapped again with a space joining its lines, page after page
    _needs_wqy()
    cfg = RenderConfig.from_dict(
        {"page-size": "300,200", "font-size": 9, "alignment": "LEFT", "font-path": "WenQuanYi Zen Hei",
         "fallback-fonts": ["WenQuanYi Zen Hei"]}
    )  # fmt: skip
    line = ZH.read_text(encoding="utf-8").replace("\n", "")
    text = (line * 2 + "\n" + line) if newlines else line * 3
    ours, ref = _lines(text, cfg)
    assert len(ref) >= 4
    assert ours == ref


@pytest.mark.parametrize(
    "text",
    [
        "\u4e2d" * 13 + " " + "\u4e2d" * 40,  # one fragment: a line ended for width is drawn stripped
        "\u4e2d" * 13 + "\u3000" + "\u4e2d" * 40,
        "\u4e2d" * 13 + "\xa0\xa0" + "\u4e2d" * 40,  # typed no-break spaces: plain text, stripped too
        "\u4e2d" * 13 + "  " + "\u4e2d" * 40,  # glued spaces are &nbsp; entities: several fragments, kept
        "\u4e2d" * 13 + " & " + "\u4e2d" * 40,  # so is the reference's &amp;
        "x\n" + "\u4e2d" * 13 + " " + "\u4e2d" * 40,  # and a <br/>
    ],
)
def test_cjk_fragments_decide_stripping_like_reportlab(text: str) -> None:
    _needs_wqy()
    cfg = RenderConfig.from_dict(
        {"page-size": "150,400", "font-size": 9, "alignment": "LEFT", "font-path": "WenQuanYi Zen Hei",
         "fallback-fonts": ["WenQuanYi Zen Hei"]}
    )  # fmt: skip
    ours = [[line.text.replace("\xa0", " ") for line in page.lines] for page in layout_text(text, cfg).pages]
    assert ours == reference_render(text, cfg, rasterize=False).lines  # leading spaces count here
