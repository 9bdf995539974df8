"""`RenderConfig`: every typography knob of the reference renderer, validated.

The reference pipeline (thu-coai/Glyph, ``scripts/word2png_function.py``) reads JSON
files with hyphenated keys such as ``{"page-size": "595,842", "dpi": 72}``. Models
trained on its pages expect that typography, so this config loads those files
unchanged, keeps the reference's defaults for keys a file leaves out, and writes
files the reference can read back. Knobs of our own (reflow, tab size, wrap mode,
fallback fonts, colour mode) sit beside them with defaults that keep the
reference's behaviour except where the reference loses text.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from glyph.render.fonts import resolve_font

# The reference wraps each story in a SimpleDocTemplate Frame, whose default padding is 6 pt per side.
FRAME_PADDING_PT = 6.0
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class Alignment(str, Enum):
    LEFT = "LEFT"
    CENTER = "CENTER"
    RIGHT = "RIGHT"
    JUSTIFY = "JUSTIFY"


def _parse_color(value: Any, key: str) -> str:
    if isinstance(value, (tuple, list)) and len(value) == 3:
        value = "#" + "".join(f"{int(c):02x}" for c in value)
    if not isinstance(value, str) or not _HEX_COLOR.match(value):
        raise ValueError(f"{key}: expected a colour as '#RRGGBB', got {value!r}")
    return value.upper()


class RenderConfig(BaseModel):
    """Typography of the rendered pages. Lengths are in PDF points (1/72 inch)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True, use_enum_values=False)

    page_size: tuple[float, float] = Field((595.0, 842.0), alias="page-size", description="width,height in pt")
    dpi: int = Field(72, ge=10, le=1200, description="raster resolution; 72 dpi maps 1 pt to 1 px")
    margin_x: float = Field(10.0, alias="margin-x", ge=0, le=1000)
    margin_y: float = Field(10.0, alias="margin-y", ge=0, le=1000)
    font_path: str = Field("DejaVu Sans", alias="font-path", description="a .ttf/.otf/.ttc path or a family name")
    font_size: float = Field(9.0, alias="font-size", gt=0, le=500)
    line_height: float | None = Field(
        None, alias="line-height", ge=0, le=1000, description="leading in pt; empty means font-size + 1"
    )
    font_color: str = Field("#000000", alias="font-color")
    alignment: Alignment = Field(Alignment.JUSTIFY, description="the reference's default when the key is absent")
    horizontal_scale: float = Field(1.0, alias="horizontal-scale", ge=0.1, le=10)
    first_line_indent: float = Field(0.0, alias="first-line-indent", ge=-1000, le=1000)
    left_indent: float = Field(0.0, alias="left-indent", ge=0, le=1000)
    right_indent: float = Field(0.0, alias="right-indent", ge=0, le=1000)
    space_before: float = Field(0.0, alias="space-before", ge=0, le=1000)
    space_after: float = Field(0.0, alias="space-after", ge=0, le=1000)
    border_width: float = Field(0.0, alias="border-width", ge=0, le=100)
    border_padding: float = Field(0.0, alias="border-padding", ge=0, le=100)
    page_bg_color: str = Field("#FFFFFF", alias="page-bg-color")
    para_bg_color: str = Field("#FFFFFF", alias="para-bg-color")
    para_border_color: str = Field("#FFFFFF", alias="para-border-color")
    auto_crop_width: bool = Field(False, alias="auto-crop-width")
    auto_crop_last_page: bool = Field(False, alias="auto-crop-last-page")
    newline_markup: str = Field(
        "<br/>",
        alias="newline-markup",
        description="'<br/>' breaks the line; any other markup is drawn inline as a visible marker",
    )
    # --- knobs of our own (absent from reference files; defaults keep reference behaviour) ---
    reflow: bool = Field(
        False, description="join hard-wrapped lines inside a paragraph; blank lines still separate paragraphs"
    )
    tab_size: int = Field(
        4, alias="tab-size", ge=0, le=16, description="tab stop in spaces; 0 collapses tabs like the reference"
    )
    wrap_mode: Literal["auto", "word", "cjk"] = Field(
        "auto", alias="wrap-mode", description="auto: per character if the text has CJK ideographs (reference)"
    )
    fallback_fonts: tuple[str, ...] | None = Field(
        None, alias="fallback-fonts", description="fonts for characters the main font lacks; empty = DejaVu + Noto CJK"
    )
    color_mode: Literal["RGB", "L"] = Field("RGB", alias="color-mode", description="RGB (reference) or grayscale")
    syntax_colors: tuple[str, str, str, str] | None = Field(
        None,
        alias="syntax-colors",
        description="highlight code: colours of keywords, strings, comments, numbers; empty = one ink (reference)",
    )

    # ------------------------------------------------------------------ validation
    @field_validator("page_size", mode="before")
    @classmethod
    def _parse_page_size(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = value.split(",")
            if len(parts) != 2:
                raise ValueError(f"page-size: expected 'width,height' in pt, got {value!r}")
            try:
                return tuple(float(p) for p in parts)
            except ValueError:
                raise ValueError(f"page-size: expected two numbers 'width,height', got {value!r}") from None
        return value

    @field_validator("page_size")
    @classmethod
    def _check_page_size(cls, value: tuple[float, float]) -> tuple[float, float]:
        for name, v in zip(("width", "height"), value):
            if not 1 <= v <= 14400:
                raise ValueError(f"page-size: {name} must be in [1, 14400] pt, got {v}")
        return value

    @field_validator("font_color", "page_bg_color", "para_bg_color", "para_border_color", mode="before")
    @classmethod
    def _check_color(cls, value: Any, info: ValidationInfo) -> str:
        return _parse_color(value, (info.field_name or "color").replace("_", "-"))

    @field_validator("syntax_colors", mode="before")
    @classmethod
    def _check_syntax_colors(cls, value: Any) -> Any:
        if value in (None, "", [], ()):
            return None
        if not isinstance(value, (list, tuple)) or len(value) != 4:
            raise ValueError(f"syntax-colors: expected 4 colours (keyword, string, comment, number), got {value!r}")
        return tuple(_parse_color(v, "syntax-colors") for v in value)

    @field_validator("alignment", mode="before")
    @classmethod
    def _parse_alignment(cls, value: Any) -> Any:
        if isinstance(value, str):
            upper = value.upper()
            if upper not in Alignment.__members__:
                raise ValueError(f"alignment: expected one of LEFT, CENTER, RIGHT, JUSTIFY, got {value!r}")
            return Alignment(upper)
        if isinstance(value, int) and 0 <= value <= 4:  # reportlab's TA_* integers
            return [Alignment.LEFT, Alignment.CENTER, Alignment.RIGHT, Alignment.JUSTIFY, Alignment.JUSTIFY][value]
        return value

    @field_validator("line_height", mode="before")
    @classmethod
    def _empty_line_height(cls, value: Any) -> Any:
        # the reference computes `config.get('line-height') or font_size + 1`: 0 and null mean "default"
        return None if value in (0, 0.0, "", None) else value

    @field_validator("font_path")
    @classmethod
    def _check_font(cls, value: str) -> str:
        resolve_font(value)  # raises a ValueError naming the font when it cannot be found
        return value

    @field_validator("fallback_fonts")
    @classmethod
    def _check_fallbacks(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for font in value or ():
            resolve_font(font)
        return value

    @model_validator(mode="after")
    def _check_geometry(self) -> RenderConfig:
        width, height = self.page_size
        text_w = self.text_width
        if text_w <= 0:
            raise ValueError(
                f"page-size/margin-x: text width {text_w:.1f} pt must be > 0 "
                f"(page width {width} - 2 x margin-x {self.margin_x} - 2 x {FRAME_PADDING_PT} frame padding "
                f"- left-indent {self.left_indent} - right-indent {self.right_indent})"
            )
        if text_w - self.first_line_indent <= 0:
            raise ValueError(f"first-line-indent: {self.first_line_indent} leaves no room on the first line")
        if self.frame_height < self.leading:
            raise ValueError(
                f"page-size/margin-y/line-height: the frame height {self.frame_height:.1f} pt holds no line of "
                f"leading {self.leading} pt; need page height >= {self.leading + 2 * (self.margin_y + FRAME_PADDING_PT):.1f} pt"
            )
        return self

    # ------------------------------------------------------------------ derived geometry
    @property
    def leading(self) -> float:
        return self.line_height if self.line_height else self.font_size + 1

    @property
    def frame_width(self) -> float:
        return self.page_size[0] - 2 * self.margin_x - 2 * FRAME_PADDING_PT

    @property
    def frame_height(self) -> float:
        return self.page_size[1] - 2 * self.margin_y - 2 * FRAME_PADDING_PT

    @property
    def text_width(self) -> float:
        """Width available to a (non-first) line, in pt."""
        return self.frame_width - self.left_indent - self.right_indent

    @property
    def scale(self) -> float:
        """Pixels per point."""
        return self.dpi / 72.0

    @cached_property
    def font_file(self) -> Path:
        return resolve_font(self.font_path)

    def with_updates(self, **changes: Any) -> RenderConfig:
        """A validated copy with some keys changed (hyphenated or underscored names)."""
        data = self.to_reference_dict(include_extensions=True)
        for key, value in changes.items():
            data[_alias_of(key)] = value
        return RenderConfig.from_dict(data)

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: Path | None = None) -> RenderConfig:
        """Build from a reference-style dict; relative font paths resolve against ``base_dir`` first."""
        data = dict(data)
        if base_dir is not None and isinstance(data.get("font-path"), str):
            candidate = base_dir / data["font-path"]
            if candidate.is_file():
                data["font-path"] = str(candidate.resolve())
        return cls.model_validate(data)

    @classmethod
    def from_json(cls, path: str | Path) -> RenderConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"config file not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"config file {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"config file {path}: expected a JSON object, got {type(data).__name__}")
        return cls.from_dict(data, base_dir=path.parent)

    def to_reference_dict(self, include_extensions: bool = True) -> dict[str, Any]:
        """The reference's JSON shape: hyphenated keys, 'w,h' page size, '#RRGGBB' colours."""
        data = self.model_dump(by_alias=True, mode="json")
        data["page-size"] = f"{_num(self.page_size[0])},{_num(self.page_size[1])}"
        data["alignment"] = self.alignment.value
        for key in list(data):
            if isinstance(data[key], float) and data[key].is_integer():
                data[key] = int(data[key])
        if data.get("line-height") is None:
            data["line-height"] = _num(self.leading)
        if not include_extensions:
            for key in _EXTENSION_KEYS:
                data.pop(key, None)
        else:
            for key in ("fallback-fonts", "syntax-colors"):  # unset: left out, so older files hash the same
                if data.get(key) is None:
                    data.pop(key)
        return data

    def to_json(self, path: str | Path | None = None, include_extensions: bool = True) -> str:
        text = json.dumps(self.to_reference_dict(include_extensions), indent=2, ensure_ascii=False) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def content_hash(self) -> str:
        """A stable hash of everything that changes the pages (font files by path)."""
        import hashlib

        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def reference_default() -> RenderConfig:
    """The reference's config_en.json, with the bundled DejaVu Sans in place of Verdana."""
    return RenderConfig.from_dict(
        {
            "page-size": "595,842",
            "dpi": 72,
            "margin-x": 10,
            "margin-y": 10,
            "font-path": "DejaVu Sans",
            "font-size": 9,
            "line-height": 10,
            "font-color": "#000000",
            "alignment": "LEFT",
            "horizontal-scale": 1.0,
            "page-bg-color": "#FFFFFF",
            "para-bg-color": "#FFFFFF",
            "auto-crop-width": True,
            "auto-crop-last-page": True,
        }
    )


_EXTENSION_KEYS = ("reflow", "tab-size", "wrap-mode", "fallback-fonts", "color-mode", "syntax-colors")


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


def _alias_of(key: str) -> str:
    field = RenderConfig.model_fields.get(key.replace("-", "_"))
    if field is None:
        valid = ", ".join(sorted(f.alias or n for n, f in RenderConfig.model_fields.items()))
        raise ValueError(f"unknown config key {key!r}; valid keys: {valid}")
    return field.alias or key.replace("-", "_")
