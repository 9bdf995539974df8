"""``paragraph-lines`` (source lines per reportlab Paragraph) and ``crop-margin`` (what auto-crop keeps).

The reference's ``word2png_function.py`` joins 30 source lines per Paragraph; Glyph's evaluation
renderers (``evaluation/*/scripts/word2png_*.py``) put the whole text into one, and the RULER one
crops at ``last ink + 1 + int(margin / 2)``. Expected lines come from the reference harness
(reportlab itself, with the same grouping); expected crops from that script's formula, applied
here to the uncropped page.
"""

from __future__ import annotations

import inspect
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from glyph.data import text_of_tokens
from glyph.render import render_pages
from glyph.render.config import RenderConfig, reference_default
from glyph.render.layout import layout_text
from glyph.render.reference import reference_available, reference_render

FIXTURE = Path(__file__).parent / "fixtures" / "config_en.json"
MARKER = '<font color="#FF0000"> \\n </font>'


def base(**extra: object) -> RenderConfig:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    data.update({"font-path": "DejaVu Sans", "tab-size": 0, **extra})
    return RenderConfig.from_dict(data)


def test_the_knobs_are_validated_and_left_out_of_files_at_their_defaults() -> None:
    cfg = reference_default()
    assert (cfg.paragraph_lines, cfg.crop_margin) == (30, "full")
    data = cfg.to_reference_dict()
    assert "paragraph-lines" not in data and "crop-margin" not in data  # older configs hash the same
    assert cfg.content_hash() == "59bd94b8ce1c3620"  # reference_default's hash before the knobs existed
    eval_cfg = cfg.with_updates(**{"paragraph-lines": 0, "crop-margin": "half"})
    again = RenderConfig.from_dict(json.loads(eval_cfg.to_json()))
    assert (again.paragraph_lines, again.crop_margin) == (0, "half") and again.content_hash() != cfg.content_hash()
    assert "paragraph-lines" not in eval_cfg.to_reference_dict(include_extensions=False)
    with pytest.raises(ValueError, match="paragraph-lines"):
        cfg.with_updates(**{"paragraph-lines": -1})
    with pytest.raises(ValueError, match="crop-margin"):
        cfg.with_updates(**{"crop-margin": "quarter"})


def test_one_paragraph_flows_an_inline_marker_through_every_newline() -> None:
    text = "\n".join(f"line {i}" for i in range(45))
    grouped = layout_text(text, base(**{"newline-markup": MARKER})).lines
    one = layout_text(text, base(**{"newline-markup": MARKER, "paragraph-lines": 0})).lines
    # 30 lines per paragraph: the 30th newline ends a paragraph (a new line starts there); one: none does
    assert any(line.text.startswith("line 30") for line in grouped)
    assert not any(line.text.startswith("line 30") for line in one)
    assert sum(line.text.count("\\n") for line in one) == 44  # every newline drawn as the marker


@pytest.mark.reference
@pytest.mark.parametrize("group", [0, 1, 7])
@pytest.mark.parametrize("extra", [{}, {"newline-markup": MARKER},
                                   {"alignment": "JUSTIFY", "space-before": 4, "space-after": 6,
                                    "first-line-indent": 14, "page-size": "420,595"}],
                         ids=["left", "marker", "justify"])  # fmt: skip
def test_lines_and_pages_match_the_reference_harness(group: int, extra: dict) -> None:
    why = reference_available()
    if why:
        pytest.skip(why)
    texts = {
        "essay": text_of_tokens(4000),
        "short-lines": "\n".join(f"line {i} " + "w " * (i % 17) for i in range(400)),
        "blank-lines": "para one two three\n\n\n" * 80,
        "code": Path(inspect.getsourcefile(textwrap) or "").read_text(encoding="utf-8"),
    }
    cfg = base(**extra, **{"paragraph-lines": group})
    for name, text in texts.items():
        ours = [[line.plain for line in page.lines] for page in layout_text(text, cfg).pages]
        ref = reference_render(text, cfg, rasterize=False).lines
        assert ours == ref, (name, group)  # 0 differing lines, the same lines on every page


@pytest.mark.reference
def test_one_paragraph_pixels_match_the_reference_harness() -> None:
    why = reference_available()
    if why:
        pytest.skip(why)
    cfg = base(**{"paragraph-lines": 0, "auto-crop-width": True, "auto-crop-last-page": True})
    text = text_of_tokens(1500)
    ours = [np.asarray(p.image.convert("L"), dtype=np.int16) for p in render_pages(text, cfg)]
    ref = [np.asarray(im.convert("L"), dtype=np.int16) for im in reference_render(text, cfg).pages]
    assert [a.shape for a in ours] == [b.shape for b in ref]
    for a, b in zip(ours, ref):
        assert np.mean(np.abs(a - b) > 64) < 0.01  # the same ink in the same places (anti-aliasing aside)


def _script_crop(gray: np.ndarray, margin_x: float, margin_y: float, last: bool) -> tuple[int, int]:
    """word2png_ruler.py's crop of an uncropped page (its own formula, with its tolerance of 5)."""
    bg = np.median(gray[:2, :2])
    mask = np.abs(gray.astype(np.float64) - bg) > 5
    cols = np.where(mask.any(axis=0))[0]
    width = min(gray.shape[1], cols[-1] + 1 + int(margin_x / 2))
    rows = np.where(mask.any(axis=1))[0]
    height = min(gray.shape[0], rows[-1] + 1 + int(margin_y / 2)) if last else gray.shape[0]
    return int(width), int(height)


@pytest.mark.parametrize("margins", [(10, 10), (20, 20), (15, 7)])
def test_half_crop_is_word2png_rulers(margins: tuple[int, int]) -> None:
    mx, my = margins
    text = text_of_tokens(1500)
    plain = base(**{"margin-x": mx, "margin-y": my, "auto-crop-width": False, "auto-crop-last-page": False})
    uncropped = [np.asarray(p.image.convert("L")) for p in render_pages(text, plain)]
    half = plain.with_updates(**{"auto-crop-width": True, "auto-crop-last-page": True, "crop-margin": "half"})
    full = half.with_updates(**{"crop-margin": "full"})
    pages = list(render_pages(text, half))
    assert len(pages) == len(uncropped) >= 2
    for i, (page, gray) in enumerate(zip(pages, uncropped)):
        last = i == len(pages) - 1
        assert page.image.size == _script_crop(gray, mx, my, last)
        assert np.array_equal(np.asarray(page.image.convert("L")), gray[: page.image.height, : page.image.width])
    # the reference's crop keeps the whole margin: wider pages, and a taller last page
    full_pages = list(render_pages(text, full))
    assert all(f.image.width - h.image.width == mx - int(mx / 2) for f, h in zip(full_pages, pages))
    assert full_pages[-1].image.height - pages[-1].image.height == my - 1 - int(my / 2)


@pytest.mark.parametrize("text", ["\n0", "\n\n\nfirst drawn line\nsecond", "  \n\t\nx"])
def test_leading_paragraphs_that_draw_nothing_stay_in_the_first_lines_span(text: str) -> None:
    """With one source line per Paragraph, leading blank lines are Paragraphs reportlab draws no line for."""
    cfg = base(**{"paragraph-lines": 1})
    layout = layout_text(text, cfg)
    lines = layout.lines
    assert lines[0].start == 0 and "".join(text[line.start : line.end] for line in lines) == text  # a partition
    assert [line.plain for line in lines if line.plain.strip()] == [s for s in text.split("\n") if s.strip()]
    if not reference_available():
        assert [[line.plain for line in page.lines] for page in layout.pages] == reference_render(
            text, cfg, rasterize=False
        ).lines
