"""Sweep: grid parsing, Pareto front on hand-made sets, an end-to-end run with the oracle reader."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glyph.measure.sweep import (
    grid_points,
    pareto_front,
    parse_grid,
    plot_sweep,
    run_sweep,
    spread,
    write_sweep,
)
from glyph.readers import get_reader
from glyph.render.config import reference_default


def test_parse_grid_lists_and_ranges() -> None:
    grid = parse_grid(["dpi=72,96", "font-size=7:11:2", "reflow=true,false", "font-path=DejaVu Sans"])
    assert grid == {"dpi": [72, 96], "font-size": [7, 9, 11], "reflow": [True, False], "font-path": ["DejaVu Sans"]}
    assert parse_grid(["line-height=9.5:10.5:0.5"])["line-height"] == [9.5, 10, 10.5]
    assert len(grid_points(grid)) == 2 * 3 * 2


@pytest.mark.parametrize("bad", ["dpi", "=72", "dpi=", "dpi=1:2", "dpi=5:1:1", "dpi=1:5:0"])
def test_parse_grid_rejects_bad_entries(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_grid([bad])


def test_pareto_front_hand_made() -> None:
    pts = [(1.0, 0.99), (2.0, 0.95), (2.0, 0.90), (1.5, 0.80), (3.0, 0.50), (0.5, 0.99)]
    # (2.0, 0.90) is beaten by (2.0, 0.95); (1.5, 0.80) by (2.0, 0.95); (0.5, 0.99) by (1.0, 0.99)
    assert pareto_front(pts) == [0, 1, 4]


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 1)), min_size=1, max_size=30))
def test_pareto_front_property(pts: list[tuple[float, float]]) -> None:
    front = pareto_front(pts)
    assert front  # a non-empty set always has a non-dominated point
    for i in front:
        assert not any(x >= pts[i][0] and y >= pts[i][1] and (x, y) != pts[i] for x, y in pts)
    for j in set(range(len(pts))) - set(front):
        assert any(x >= pts[j][0] and y >= pts[j][1] and (x, y) != pts[j] for x, y in pts)


def test_spread_skips_the_short_last_page() -> None:
    assert spread(10, 3) == [0, 4, 8]
    assert spread(2, 3) == [0, 1]
    assert spread(1, 2) == [0]
    assert spread(0, 2) == []


def test_run_sweep_with_oracle(tmp_path: Path) -> None:
    text = "The grass is green. The sky is blue. " * 300
    grid = {"dpi": [48, 72], "font-size": [9, 900]}  # 900 pt cannot fit the page: recorded, not fatal
    points = run_sweep(text, reference_default(), grid, get_reader("oracle"), "glm4v", "qwen", fidelity_pages=2)
    assert len(points) == 4
    bad = [p for p in points if p.error]
    assert {p.params["font-size"] for p in bad} == {900}
    good = [p for p in points if not p.error]
    assert all(p.char_accuracy == 1.0 and p.pages_read >= 1 for p in good)
    low, high = sorted(good, key=lambda p: p.params["dpi"])
    assert low.ratio > high.ratio  # fewer pixels per page, fewer visual tokens
    csv_path, json_path = write_sweep(points, tmp_path)
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 4 and {"dpi", "font-size", "ratio", "char_accuracy", "pareto"} <= set(rows[0])
    flagged = [r for r in rows if r["pareto"] == "True"]
    assert [r["dpi"] for r in flagged] == ["48"]  # same accuracy, higher compression dominates
    assert len(json.loads(json_path.read_text())) == 4
    png = plot_sweep(points, tmp_path / "sweep.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_scores_is_a_clear_error(tmp_path: Path) -> None:
    points = run_sweep("abc " * 50, reference_default(), {"dpi": [72]}, None, tokenizer=None)
    with pytest.raises(ValueError, match="no sweep point"):
        plot_sweep(points, tmp_path / "x.png")
