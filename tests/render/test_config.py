"""RenderConfig: loading the reference's own JSON, round trips, validation messages, defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from glyph.render.config import Alignment, RenderConfig

FIXTURE = Path(__file__).parent / "fixtures" / "config_en.json"
REFERENCE_KEYS = {
    "page-size", "dpi", "margin-x", "margin-y", "font-path", "font-size", "line-height", "font-color",
    "alignment", "horizontal-scale", "first-line-indent", "left-indent", "right-indent", "space-after",
    "space-before", "border-width", "border-padding", "page-bg-color", "para-bg-color", "auto-crop-width",
    "auto-crop-last-page",
}  # fmt: skip
# keys the reference also reads (with defaults) although config_en.json leaves them out
ALSO_READ = {"newline-markup", "para-border-color"}


@pytest.fixture
def reference_data() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture
def dejavu_file(tmp_path: Path, reference_data: dict) -> Path:
    data = dict(reference_data, **{"font-path": "DejaVu Sans"})
    path = tmp_path / "config_en.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def test_fixture_has_exactly_the_reference_keys(reference_data: dict) -> None:
    assert set(reference_data) == REFERENCE_KEYS


def test_missing_font_fails_naming_font_path() -> None:
    with pytest.raises(ValueError) as info:  # pydantic's ValidationError is a ValueError
        RenderConfig.from_json(FIXTURE)
    msg = str(info.value)
    assert "font-path" in msg
    assert "Verdana" in msg


def test_reference_file_with_installed_font_loads(dejavu_file: Path) -> None:
    cfg = RenderConfig.from_json(dejavu_file)
    assert cfg.page_size == (595.0, 842.0)
    assert cfg.dpi == 72
    assert cfg.margin_x == cfg.margin_y == 10
    assert cfg.font_size == 9 and cfg.leading == 10
    assert cfg.alignment is Alignment.LEFT
    assert cfg.auto_crop_width and cfg.auto_crop_last_page
    assert cfg.font_file.is_file() and cfg.font_file.name == "DejaVuSans.ttf"
    assert cfg.frame_width == 595 - 2 * 10 - 2 * 6


def test_round_trip_preserves_every_reference_key(dejavu_file: Path, tmp_path: Path) -> None:
    original = json.loads(dejavu_file.read_text(encoding="utf-8"))
    cfg = RenderConfig.from_json(dejavu_file)
    out = tmp_path / "again.json"
    text = cfg.to_json(out)
    written = json.loads(text)
    assert json.loads(out.read_text(encoding="utf-8")) == written
    for key, value in original.items():
        assert key in written, key
        assert written[key] == value, (key, written[key], value)
    again = RenderConfig.from_json(out)
    assert again == cfg
    assert again.to_reference_dict() == cfg.to_reference_dict()
    assert again.content_hash() == cfg.content_hash()
    # also through the reference-only shape
    ref_only = tmp_path / "ref_only.json"
    cfg.to_json(ref_only, include_extensions=False)
    assert RenderConfig.from_json(ref_only) == cfg


def test_reference_dict_has_exactly_the_reference_keys(dejavu_file: Path) -> None:
    cfg = RenderConfig.from_json(dejavu_file)
    ref = cfg.to_reference_dict(include_extensions=False)
    assert set(ref) == REFERENCE_KEYS | ALSO_READ
    assert ref["page-size"] == "595,842"
    assert ref["alignment"] == "LEFT"
    assert ref["newline-markup"] == "<br/>"
    full = cfg.to_reference_dict(include_extensions=True)
    assert set(full) - set(ref) == {"reflow", "tab-size", "wrap-mode", "color-mode"}


BAD = [
    ({"font-size": -3}, "font-size"),
    ({"font-size": 0}, "font-size"),
    ({"dpi": 0}, "dpi"),
    ({"margin-x": 300}, "margin-x"),  # 595 - 600 - 12 < 0
    ({"margin-x": 291.5}, "margin-x"),  # exactly 0 pt of text width
    ({"page-size": "595,40"}, "page-size"),  # 40 - 2*10 - 12 = 8 pt < one 10 pt line
    ({"page-size": "595,40"}, "margin-y"),
    ({"alignment": "DIAGONAL"}, "alignment"),
    ({"font-color": "red"}, "font-color"),
    ({"page-bg-color": "#FFF"}, "page-bg-color"),
    ({"para-bg-color": "white"}, "para-bg-color"),
    ({"page-size": "595x842"}, "page-size"),
    ({"colour-of-text": "#000000"}, "colour-of-text"),
    ({"horizontal-scale": 0}, "horizontal-scale"),
]


@pytest.mark.parametrize(("changes", "key"), BAD, ids=[f"{k}-{i}" for i, (_, k) in enumerate(BAD)])
def test_bad_values_raise_naming_the_key(dejavu_file: Path, changes: dict, key: str) -> None:
    data = json.loads(dejavu_file.read_text(encoding="utf-8"))
    data.update(changes)
    with pytest.raises((ValidationError, ValueError)) as info:
        RenderConfig.from_dict(data)
    assert key in str(info.value)


def test_unknown_key_via_with_updates() -> None:
    with pytest.raises(ValueError, match="no-such-key"):
        RenderConfig().with_updates(**{"no-such-key": 1})


def test_with_updates_accepts_both_spellings() -> None:
    cfg = RenderConfig().with_updates(font_size=12, **{"margin-x": 20})
    assert cfg.font_size == 12 and cfg.margin_x == 20
    with pytest.raises(ValidationError, match="font-size"):
        RenderConfig().with_updates(font_size=-1)


def test_missing_keys_take_reference_defaults() -> None:
    cfg = RenderConfig.from_dict({})
    assert cfg.alignment is Alignment.JUSTIFY
    assert cfg.page_size == (595.0, 842.0)
    assert cfg.dpi == 72
    assert cfg.margin_x == cfg.margin_y == 10
    assert cfg.font_size == 9 and cfg.leading == 10  # font-size + 1
    assert cfg.horizontal_scale == 1.0
    assert cfg.first_line_indent == cfg.left_indent == cfg.right_indent == 0
    assert cfg.space_before == cfg.space_after == 0
    assert cfg.border_width == cfg.border_padding == 0
    assert cfg.font_color == "#000000"
    assert cfg.page_bg_color == cfg.para_bg_color == cfg.para_border_color == "#FFFFFF"
    assert not cfg.auto_crop_width and not cfg.auto_crop_last_page
    assert cfg.newline_markup == "<br/>"
    # our own knobs keep the reference's behaviour
    assert cfg.reflow is False and cfg.wrap_mode == "auto" and cfg.color_mode == "RGB"


@pytest.mark.parametrize("empty", [0, None, ""])
def test_empty_line_height_means_font_size_plus_one(empty: object) -> None:
    cfg = RenderConfig.from_dict({"font-size": 12, "line-height": empty})
    assert cfg.leading == 13


def test_lenient_spellings() -> None:
    cfg = RenderConfig.from_dict({"alignment": "center", "font-color": "#ff0000", "page-size": [300, 400]})
    assert cfg.alignment is Alignment.CENTER
    assert cfg.font_color == "#FF0000"
    assert cfg.page_size == (300.0, 400.0)
    assert RenderConfig.from_dict({"alignment": 4}).alignment is Alignment.JUSTIFY  # reportlab TA_JUSTIFY


def test_from_json_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        RenderConfig.from_json(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        RenderConfig.from_json(bad)
    arr = tmp_path / "arr.json"
    arr.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="JSON object"):
        RenderConfig.from_json(arr)


def test_relative_font_path_resolves_against_config_dir(tmp_path: Path) -> None:
    font = RenderConfig().font_file
    (tmp_path / "fonts").mkdir()
    local = tmp_path / "fonts" / "Local.ttf"
    local.write_bytes(font.read_bytes())
    sub = tmp_path / "configs"
    sub.mkdir()
    path = sub / "c.json"
    path.write_text(json.dumps({"font-path": "../fonts/Local.ttf"}), encoding="utf-8")
    cfg = RenderConfig.from_json(path)
    assert Path(cfg.font_path) == local.resolve()


def test_config_is_frozen() -> None:
    cfg = RenderConfig()
    with pytest.raises(ValidationError):
        cfg.font_size = 10  # type: ignore[misc]
