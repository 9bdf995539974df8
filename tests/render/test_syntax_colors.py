"""`syntax-colors`: code drawn with keywords, strings, comments and numbers in their own colours."""

from __future__ import annotations

import numpy as np
import pytest

from glyph.render.config import RenderConfig, reference_default
from glyph.render.raster import render_pages, syntax_classes

CODE = 'def area(r):\n    return 3.14 * r * r  # circle\nname = "disk"\n'
COLORS = ("#FF0000", "#00AA00", "#0000FF", "#FF8800")  # keyword, string, comment, number


def test_classes_follow_the_line_text() -> None:
    texts = ["def area(r):", "return 3.14  # x", 'n = "a#b"']
    starts = np.array([0, 12, 28])
    cls = syntax_classes(texts, starts, 37)
    line = lambda k: "".join(str(c) for c in cls[starts[k] : starts[k] + len(texts[k])])  # noqa: E731
    assert line(0) == "111" + "0" * 9
    assert line(1) == "111111" + "0" + "4444" + "00" + "333"
    assert line(2) == "0000" + "22222"  # a '#' inside a string is not a comment


def _colors(img) -> set[tuple[int, int, int]]:
    px = np.asarray(img.convert("RGB")).reshape(-1, 3)
    return {tuple(int(v) for v in p) for p in px}


def test_highlighted_pages_draw_each_class_in_its_colour() -> None:
    cfg = RenderConfig.from_dict({"page-size": "300,120", "font-path": "DejaVu Sans Mono", "font-size": 12,
                                  "syntax-colors": list(COLORS)})  # fmt: skip
    img = next(iter(render_pages(CODE, cfg))).image
    seen = _colors(img)
    for color in COLORS:  # a fully covered pixel of each class takes exactly its colour
        rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in seen, color
    assert (0, 0, 0) in seen  # plain code stays in the ink colour
    plain = next(iter(render_pages(CODE, cfg.with_updates(**{"syntax-colors": None})))).image
    assert all(r == g == b for r, g, b in _colors(plain))  # without it: one ink, gray levels only
    assert plain.size == img.size


def test_the_knob_round_trips_and_stays_out_of_reference_files(tmp_path) -> None:
    cfg = reference_default().with_updates(**{"syntax-colors": ["#ff0000", "#00aa00", "#0000ff", "#ff8800"]})
    assert cfg.syntax_colors == COLORS
    path = tmp_path / "c.json"
    cfg.to_json(path)
    assert RenderConfig.from_json(path) == cfg
    assert "syntax-colors" not in reference_default().to_reference_dict()
    assert "syntax-colors" not in cfg.to_reference_dict(include_extensions=False)
    with pytest.raises(ValueError, match="syntax-colors: expected 4 colours"):
        reference_default().with_updates(**{"syntax-colors": ["#FF0000"]})
    with pytest.raises(ValueError, match="syntax-colors: expected a colour"):
        reference_default().with_updates(**{"syntax-colors": ["red", "#000000", "#000000", "#000000"]})
