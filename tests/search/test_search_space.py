"""The search space: every sampled, mutated, crossed or repaired candidate is a valid config inside the space;
space files restrict the default as documented; constraints between knobs are repaired, never raised."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from glyph.render.config import RenderConfig, reference_default
from glyph.search.knobs import CategoricalKnob
from glyph.search.operators import crossover, mutate
from glyph.search.space import SearchSpace, SpaceError, contrast

SPACE = SearchSpace.default()
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 2**32 - 1)


def assert_valid(space: SearchSpace, values: dict) -> RenderConfig:
    assert space.contains(values), (space.violations(values), values)
    cfg = space.config(values)  # RenderConfig validation accepts it
    assert cfg.leading >= cfg.font_size
    assert cfg.text_width > 0 and cfg.frame_height >= cfg.leading
    return cfg


def test_default_space_covers_the_typography_knobs_and_seeds_with_the_reference_config() -> None:
    for key in ("page-size", "dpi", "font-path", "font-size", "line-height", "alignment", "margin-x", "margin-y",
                "first-line-indent", "left-indent", "right-indent", "space-before", "space-after",
                "horizontal-scale", "font-color", "page-bg-color", "para-bg-color", "newline-markup", "reflow"):
        assert key in SPACE.knobs, key
    assert "DejaVu Sans" in SPACE.knobs["font-path"].choices
    assert SPACE.config(SPACE.seed_values).content_hash() == reference_default().content_hash()


@SETTINGS
@given(seeds)
def test_samples_are_valid(seed: int) -> None:
    assert_valid(SPACE, SPACE.sample(random.Random(seed)))


@SETTINGS
@given(seeds, st.floats(0.0, 1.0), st.floats(0.05, 1.0))
def test_mutants_are_valid(seed: int, rate: float, strength: float) -> None:
    rng = random.Random(seed)
    parent = SPACE.sample(rng)
    child = mutate(SPACE, parent, rng, rate, strength)
    assert_valid(SPACE, child.values)


@SETTINGS
@given(seeds, st.floats(0.0, 1.0))
def test_crossover_children_are_valid(seed: int, blend: float) -> None:
    rng = random.Random(seed)
    child = crossover(SPACE, SPACE.sample(rng), SPACE.sample(rng), rng, blend)
    assert_valid(SPACE, child.values)


junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10_000, 10_000), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(0, 300), max_size=3),
    st.sampled_from(["9pt", "justify", "#ff0000", "600x800", "true", "Comic Sans", "1e3", "-5", "[1,2]"]),
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(sorted(SPACE.knobs) + ["bogus", "wrap-mode"]), junk, max_size=12))
@example({"border-width": 8.98846567431158e307})  # (value - low) / step overflowed to inf before clipping
def test_repair_turns_any_dict_into_a_valid_candidate(raw: dict) -> None:
    repaired = SPACE.repair(raw)
    assert_valid(SPACE, repaired.values)


def test_a_huge_finite_number_snaps_to_the_top_of_the_range() -> None:  # hypothesis found it: round(inf)
    knob = SPACE.knobs["border-width"]
    assert knob.coerce(8.98846567431158e307)[0] == knob.grid_high
    assert knob.coerce(-8.98846567431158e307)[0] == knob.low


@SETTINGS
@given(st.sampled_from(["page-size"]), st.integers(0, 60), st.integers(0, 60), st.floats(4, 16), st.floats(4, 24))
def test_geometry_repair_keeps_a_page_that_fits_lines(_: str, mx: int, my: int, fs: float, lh: float) -> None:
    small = SearchSpace.from_dict({"knobs": {"page-size": {"choices": ["200,150", "420,595"]},
                                             "margin-x": {"high": 60}, "margin-y": {"high": 60}}})
    raw = {**small.seed_values, "page-size": "200,150", "margin-x": mx, "margin-y": my, "font-size": fs,
           "line-height": lh, "left-indent": 24, "right-indent": 24, "first-line-indent": 24}
    assert_valid(small, small.repair(raw).values)


def test_line_height_below_font_size_is_raised_not_rejected() -> None:
    r = SPACE.repair({**SPACE.seed_values, "font-size": 12, "line-height": 8})
    assert r.values["font-size"] == 12 and r.values["line-height"] == 12
    assert any("line-height" in n for n in r.notes)


def test_unreadable_colours_are_repaired_to_a_contrasting_choice() -> None:
    r = SPACE.repair({**SPACE.seed_values, "font-color": "#FFFFFF", "para-bg-color": "#FFFFFF"})
    assert contrast(r.values["font-color"], r.values["para-bg-color"]) >= SPACE.constraints.min_contrast
    assert any("contrast" in n for n in r.notes)


def test_values_are_clamped_snapped_and_matched() -> None:
    r = SPACE.repair({**SPACE.seed_values, "font-size": 8.26, "dpi": 1000, "alignment": "justify",
                      "page-size": [600, 800], "font-color": "#010101"})
    v = r.values
    assert (v["font-size"], v["dpi"], v["alignment"], v["page-size"], v["font-color"]) == (
        8.5, 144, "JUSTIFY", "612,792", "#000000")
    assert len(r.notes) == 4  # font-size snapped, dpi clamped, page size and colour to the nearest choice


def test_space_file_restricts_fixes_and_drops(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(
        "knobs:\n"
        "  font-size: {low: 7, high: 10}\n"  # restrict bounds, keep type and step
        "  alignment: {choices: [LEFT, JUSTIFY]}\n"
        "  dpi: 96\n"  # fix (bare value)
        "  margin-x: {fixed: 4}\n"  # fix (explicit)
        "  reflow: drop\n"  # not searched: the base config's value
        "  font-path: {choices: [DejaVu Sans Mono, Not A Real Font]}\n"
        "constraints: {min-lines: 10}\n"
    )
    space = SearchSpace.load(path)
    fs = space.knobs["font-size"]
    assert (fs.low, fs.grid_high, fs.step) == (7, 10, 0.5)
    assert space.knobs["alignment"].choices == ("LEFT", "JUSTIFY")
    assert space.fixed["dpi"] == 96 and space.fixed["margin-x"] == 4
    assert "reflow" not in space.knobs and "dpi" not in space.knobs
    assert "font-path" in space.fixed and space.fixed["font-path"] == "DejaVu Sans Mono"  # one installed choice left
    assert any("Not A Real Font" in n for n in space.notes)
    rng = random.Random(0)
    for _ in range(50):
        v = space.sample(rng)
        cfg = assert_valid(space, v)
        assert 7 <= cfg.font_size <= 10 and cfg.dpi == 96 and cfg.margin_x == 4 and cfg.reflow is False
        assert cfg.alignment.value in ("LEFT", "JUSTIFY") and cfg.frame_height >= 10 * cfg.leading
    # what the LLM might send for a fixed or dropped knob is ignored, with a note
    r = space.repair({**v, "dpi": 300, "reflow": True})
    assert r.values == v and any("fixed" in n for n in r.notes)
    # the stored form rebuilds the same space
    again = SearchSpace.from_dict(space.to_dict())
    assert again.describe() == space.describe() and again.seed_values == space.seed_values


def test_json_space_and_extends_none(tmp_path: Path) -> None:
    path = tmp_path / "space.json"
    path.write_text('{"extends": "none", "knobs": {"font-size": {"type": "float", "low": 6, "high": 9, "step": 1}}}')
    space = SearchSpace.load(path)
    assert list(space.knobs) == ["font-size"]
    assert isinstance(SPACE.knobs["alignment"], CategoricalKnob)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("knobs:\n  font-sise: {low: 1}\n", "font-sise"),
        ("knobs:\n  font-size: {low: 9, high: 5}\n", "font-size"),
        ("knobs:\n  tab-size: {low: 1}\n", "tab-size"),  # restricting a knob the default pins needs a type
        ("knobs:\n  dpi: {fixed: 72, low: 3}\n", "dpi"),
        ("knobs: [1, 2]\n", "knobs"),
        ("knobs:\n  page-size: {fixed: '10,10'}\n", "page-size"),  # no line fits: the space is unusable
    ],
)
def test_bad_space_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError, match=message):
        SearchSpace.load(path)
