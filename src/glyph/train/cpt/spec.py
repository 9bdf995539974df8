"""The CPT data configuration: context budget, task mixture, rendering distribution, rules, fonts, themes.

Typed and validated (pydantic, unknown keys refused with their path); the defaults ship as
``defaults.yaml`` beside this module, and a user file is merged over them key by key. The whole
effective configuration is written into every output directory, so a shard set says how it was made.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from glyph.tokens.visual import get_vlm_rule

__all__ = ["TASKS", "CptDataConfig", "ThemeSpec", "load_data_config"]

TASKS = ("ocr", "lm", "gen")
FONT_CLASSES = ("serif", "sans", "mono", "cjk")
_HEX = r"^#[0-9A-Fa-f]{6}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_range(value: list[float], name: str = "range") -> list[float]:
    if len(value) != 2 or value[0] > value[1]:
        raise ValueError(f"{name} must be [low, high] with low <= high, got {value}")
    return value


def _check_weights(weights: dict[str, float]) -> dict[str, float]:
    if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
    return weights


class ContextSpec(_Strict):
    max_tokens: int = Field(8192, ge=256, le=4_194_304)
    vlms: list[str] = Field(default_factory=lambda: ["glm4v"], min_length=1)
    tokenizer: str = "qwen"
    template_tokens: int = Field(24, ge=0)
    chars_per_token: float = Field(4.0, gt=0)

    @field_validator("vlms")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return [get_vlm_rule(v).name for v in value]  # raises naming the unknown family


class OcrSpec(_Strict):
    weight: float = Field(0.35, ge=0)
    pages: list[int] = Field(default_factory=lambda: [1, 4])
    window: float = Field(0.75, gt=0, description="text window in context lengths")
    prompts: list[str] = Field(min_length=1)

    @field_validator("pages")
    @classmethod
    def _pages(cls, value: list[int]) -> list[int]:
        if _check_range(value, "pages")[0] < 1:
            raise ValueError(f"pages must be >= 1, got {value}")
        return value


class LmSpec(_Strict):
    weight: float = Field(0.4, ge=0)
    spans: list[int] = Field(default_factory=lambda: [2, 6])
    image_share: list[float] = Field(default_factory=lambda: [0.3, 0.7])
    window: float = Field(2.0, gt=0)

    @field_validator("spans")
    @classmethod
    def _spans(cls, value: list[int]) -> list[int]:
        _check_range(value, "spans")
        if value[0] < 2:
            raise ValueError("spans: an interleaved document needs at least 2 spans (text and pages)")
        return value

    @field_validator("image_share")
    @classmethod
    def _share(cls, value: list[float]) -> list[float]:
        _check_range(value, "image_share")
        if not 0 < value[0] <= value[1] < 1:
            raise ValueError(f"image_share must lie in (0, 1), got {value}")
        return value


class GenSpec(_Strict):
    weight: float = Field(0.25, ge=0)
    continue_share: float = Field(0.5, ge=0, le=1)
    target_tokens: list[int] = Field(default_factory=lambda: [128, 1024])
    window: float = Field(1.5, gt=0)
    prompts_continue: list[str] = Field(min_length=1)
    prompts_prefix: list[str] = Field(min_length=1)

    @field_validator("target_tokens")
    @classmethod
    def _targets(cls, value: list[int]) -> list[int]:
        if _check_range(value, "target_tokens")[0] < 1:
            raise ValueError(f"target_tokens must be >= 1, got {value}")
        return value


class TasksSpec(_Strict):
    ocr: OcrSpec
    lm: LmSpec
    gen: GenSpec

    def weights(self, only: list[str] | None = None) -> dict[str, float]:
        w = {t: getattr(self, t).weight for t in TASKS if only is None or t in only}
        return _check_weights(w)


class DpiBand(_Strict):
    weight: float = Field(ge=0)
    range: list[int] | None = None
    values: list[int] | None = None

    @model_validator(mode="after")
    def _one(self) -> DpiBand:
        if (self.range is None) == (self.values is None):
            raise ValueError("a dpi band needs exactly one of range: [lo, hi] or values: [...]")
        if self.range is not None:
            _check_range(self.range, "range")
        if self.values is not None and not self.values:
            raise ValueError("values: empty")
        for v in self.range or self.values or []:
            if not 10 <= v <= 1200:
                raise ValueError(f"dpi {v} outside [10, 1200]")
        return self


class NewlineSpec(_Strict):
    probability: float = Field(0.05, ge=0, le=1)
    markups: list[str] = Field(min_length=1)


class RenderSpec(_Strict):
    dpi: dict[str, DpiBand]
    font_size: list[float] = Field(min_length=1)
    line_height_extra: list[float] = Field(min_length=1)
    horizontal_scale: list[float]
    margin: list[float]
    newline_markup: NewlineSpec
    auto_crop_width: float = Field(0.1, ge=0, le=1)
    auto_crop_last_page: float = Field(0.1, ge=0, le=1)

    @field_validator("horizontal_scale", "margin")
    @classmethod
    def _ranges(cls, value: list[float]) -> list[float]:
        return _check_range(value)

    @field_validator("dpi")
    @classmethod
    def _bands(cls, value: dict[str, DpiBand]) -> dict[str, DpiBand]:
        _check_weights({k: b.weight for k, b in value.items()})
        return value


class RulesSpec(_Strict):
    min_line_height_ratio: float = Field(1.0, ge=0)
    min_text_px: float = Field(5.0, ge=0)
    min_chars_per_line: int = Field(25, ge=1)
    max_page_megapixels: float = Field(40.0, gt=0)
    max_attempts: int = Field(64, ge=1)


class FontsSpec(_Strict):
    exclude: list[str] = Field(default_factory=list)
    cjk_fallback: bool = True


class Palette(_Strict):
    ink: str = Field(pattern=_HEX)
    page: str = Field(pattern=_HEX)
    box: str | None = Field(None, pattern=_HEX, description="paragraph background (a card)")
    border: str | None = Field(None, pattern=_HEX)
    syntax: list[str] | None = Field(None, description="code highlighting: keyword, string, comment, number")
    weight: float = Field(1.0, ge=0)

    @field_validator("syntax")
    @classmethod
    def _syntax(cls, value: list[str] | None) -> list[str] | None:
        import re

        if value is not None and (len(value) != 4 or not all(re.match(_HEX, c) for c in value)):
            raise ValueError(
                f"syntax must be 4 colours '#RRGGBB' (keyword, string, comment, number), got {value}"
            )
        return value


class RandomPalette(_Strict):
    min_contrast: float = Field(4.5, ge=1, le=21, description="WCAG contrast ratio of ink against page")
    dark_share: float = Field(0.4, ge=0, le=1)
    box_share: float = Field(0.3, ge=0, le=1)


class PageShape(_Strict):
    size: list[float]
    weight: float = Field(1.0, ge=0)

    @field_validator("size")
    @classmethod
    def _size(cls, value: list[float]) -> list[float]:
        if len(value) != 2 or min(value) < 50:
            raise ValueError(f"size must be [width, height] in pt, each >= 50, got {value}")
        return value


class ThemeSpec(_Strict):
    """A style theme as data: a distribution over fonts, colours, alignment, spacing and page shapes."""

    weight: float = Field(ge=0)
    fonts: dict[Literal["serif", "sans", "mono", "cjk"], float]
    styles: dict[str, float] = Field(default_factory=lambda: {"Regular": 1.0})
    palettes: list[Palette] = Field(default_factory=list)
    random_palette: RandomPalette | None = None
    alignment: dict[Literal["LEFT", "CENTER", "RIGHT", "JUSTIFY"], float]
    page_sizes: dict[str, PageShape] = Field(min_length=1)
    first_line_indent: list[float] = Field(default_factory=lambda: [0.0])
    space_after: list[float] = Field(default_factory=lambda: [0.0])
    border_width: list[float] = Field(default_factory=lambda: [0.0])
    border_padding: list[float] = Field(default_factory=lambda: [0.0])
    reflow: float = Field(0.0, ge=0, le=1, description="probability of joining hard-wrapped lines")
    tab_size: list[int] = Field(default_factory=lambda: [4])
    highlight: float = Field(0.0, ge=0, le=1, description="probability of the palette's syntax colours")

    @model_validator(mode="after")
    def _check(self) -> ThemeSpec:
        _check_weights(dict(self.fonts))
        _check_weights(self.styles)
        _check_weights(dict(self.alignment))
        if not self.palettes and self.random_palette is None:
            raise ValueError("a theme needs palettes or random_palette")
        return self


class CptDataConfig(_Strict):
    context: ContextSpec
    tasks: TasksSpec
    render: RenderSpec
    rules: RulesSpec
    fonts: FontsSpec
    themes: dict[str, ThemeSpec] = Field(min_length=1)

    def theme_weights(self, only: list[str] | None = None) -> dict[str, float]:
        unknown = [t for t in only or [] if t not in self.themes]
        if unknown:
            raise ValueError(f"unknown theme(s) {unknown}; configured: {', '.join(self.themes)}")
        return _check_weights({k: t.weight for k, t in self.themes.items() if only is None or k in only})


def default_config_path() -> Path:
    return Path(str(importlib.resources.files("glyph.train.cpt") / "defaults.yaml"))


def _merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key; anything else (lists, scalars) replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return over


def load_data_config(
    path: str | Path | dict[str, Any] | None = None, overrides: dict[str, Any] | None = None
) -> CptDataConfig:
    """The defaults, with a user YAML file (or dict) merged over them; errors name the bad key."""
    from glyph.train.recipes import parse_yaml

    data = parse_yaml(default_config_path().read_text(encoding="utf-8"))
    origin = "defaults"
    if path is not None:
        if isinstance(path, dict):
            user, origin = path, "config"
        else:
            p = Path(path)
            if not p.is_file():
                raise ValueError(f"data config {p}: no such file")
            user, origin = parse_yaml(p.read_text(encoding="utf-8")) or {}, str(p)
            if not isinstance(user, dict):
                raise ValueError(f"data config {p}: expected a mapping at the top level")
        data = _merge(data, user)
    if overrides:
        data = _merge(data, overrides)
        origin = f"{origin} + options" if path is not None else "options"
    try:
        return CptDataConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        )
        raise ValueError(f"data config ({origin}): {problems}") from None
