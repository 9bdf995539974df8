"""Drawing render configs: the paper's parameter table crossed with a theme, rule-filtered, seeded.

:meth:`ConfigSampler.draw` takes a numpy ``Generator`` (one per sample, derived from the run's
seed and the sample's index), so a sample's config depends on nothing else: the same seed gives
the same configs in any process, in any order. A draw breaking a rule (line height below the font
size, text too small in pixels, too few characters per line, a page too large, a geometry the
renderer refuses) is redrawn, and the reasons are counted.
"""

from __future__ import annotations

import colorsys
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glyph.render.config import RenderConfig
from glyph.train.cpt.fonts import FontFace, font_catalog
from glyph.train.cpt.spec import CptDataConfig, Palette, RandomPalette, ThemeSpec

__all__ = ["ConfigSampler", "Draw", "SamplingError", "contrast_ratio"]

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


class SamplingError(RuntimeError):
    """No config passing the rules within ``rules.max_attempts`` draws."""


@dataclass(frozen=True)
class Draw:
    """One drawn config and what it was drawn from (for records' meta and the mixture statistics)."""

    config: RenderConfig
    theme: str
    dpi_band: str
    font: FontFace
    redraws: Counter = field(default_factory=Counter)  # rule -> draws rejected before this one

    def describe(self) -> dict[str, Any]:
        return {
            "theme": self.theme,
            "dpi_band": self.dpi_band,
            "dpi": self.config.dpi,
            "font": f"{self.font.family} {self.font.style}",
            "font_kind": self.font.kind,
            "redraws": dict(self.redraws),
        }


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _one(rng: np.random.Generator, values: list[Any]) -> Any:
    return values[int(rng.integers(len(values)))]


def _luminance(hex_color: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two '#RRGGBB' colours (1 .. 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _hex(h: float, s: float, v: float) -> str:
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return "#" + "".join(f"{round(c * 255):02X}" for c in (r, g, b))


def _random_palette(rng: np.random.Generator, spec: RandomPalette) -> Palette:
    """A page colour and an ink of any hue that reads against it (WCAG ratio >= ``min_contrast``)."""
    dark = rng.random() < spec.dark_share
    for _ in range(64):
        page_v = rng.uniform(0.05, 0.25) if dark else rng.uniform(0.85, 1.0)
        page = _hex(rng.random(), rng.uniform(0, 0.6 if dark else 0.35), page_v)
        ink_v = rng.uniform(0.8, 1.0) if dark else rng.uniform(0.0, 0.45)
        ink = _hex(rng.random(), rng.uniform(0, 0.9), ink_v)
        if contrast_ratio(ink, page) >= spec.min_contrast:
            box = None
            if rng.random() < spec.box_share:
                shift = rng.uniform(0.04, 0.1) * (1 if dark else -1)
                candidate = _hex(rng.random(), rng.uniform(0, 0.3), min(1.0, max(0.0, page_v + shift)))
                box = candidate if contrast_ratio(ink, candidate) >= spec.min_contrast else None
            return Palette(ink=ink, page=page, box=box)
    return Palette(ink="#FFFFFF", page="#000000") if dark else Palette(ink="#000000", page="#FFFFFF")


class ConfigSampler:
    """Render configs per theme from the data configuration (see module doc)."""

    def __init__(self, spec: CptDataConfig) -> None:
        self.spec = spec
        self.fonts = font_catalog(tuple(spec.fonts.exclude))
        self.by_kind: dict[str, list[FontFace]] = {}
        for face in self.fonts:
            self.by_kind.setdefault(face.kind, []).append(face)
        if not self.fonts:
            raise SamplingError("no usable fonts installed (not even matplotlib's DejaVu)")

    # ------------------------------------------------------------------ pieces
    def _dpi(self, rng: np.random.Generator) -> tuple[str, int]:
        bands = self.spec.render.dpi
        name = _pick(rng, {k: b.weight for k, b in bands.items()})
        band = bands[name]
        if band.values is not None:
            return name, int(_one(rng, band.values))
        lo, hi = band.range or (72, 72)
        return name, int(rng.integers(lo, hi + 1))

    def _font(self, rng: np.random.Generator, theme: ThemeSpec, cjk: bool) -> FontFace:
        kinds = {k: w for k, w in theme.fonts.items() if self.by_kind.get(k) and w > 0}
        if cjk and self.spec.fonts.cjk_fallback and self.by_kind.get("cjk"):
            kinds = {"cjk": 1.0}
        if not kinds:
            kinds = {k: 1.0 for k in self.by_kind if k != "cjk"} or {k: 1.0 for k in self.by_kind}
        kind = _pick(rng, kinds)
        faces = self.by_kind[kind]
        styles = {s: w for s, w in theme.styles.items() if any(f.style == s for f in faces) and w > 0}
        style = _pick(rng, styles) if styles else "Regular"
        chosen = [f for f in faces if f.style == style] or [f for f in faces if f.style == "Regular"] or faces
        return _one(rng, chosen)

    def _palette(self, rng: np.random.Generator, theme: ThemeSpec) -> Palette:
        if theme.random_palette is not None and (not theme.palettes or rng.random() < 0.5):
            return _random_palette(rng, theme.random_palette)
        return theme.palettes[
            int(rng.choice(len(theme.palettes), p=_norm([p.weight for p in theme.palettes])))
        ]

    # ------------------------------------------------------------------ one draw
    def candidate(
        self, rng: np.random.Generator, theme_name: str, text: str = ""
    ) -> tuple[dict[str, Any], str, FontFace]:
        """One unfiltered draw: the reference-style config dict, its dpi band and its font."""
        r = self.spec.render
        theme = self.spec.themes[theme_name]
        band, dpi = self._dpi(rng)
        size = float(_one(rng, r.font_size))
        face = self._font(rng, theme, bool(_CJK.search(text)))
        palette = self._palette(rng, theme)
        shape = theme.page_sizes[_pick(rng, {k: s.weight for k, s in theme.page_sizes.items()})]
        border = float(_one(rng, theme.border_width))
        markup = "<br/>"
        if rng.random() < r.newline_markup.probability:
            markup = str(_one(rng, r.newline_markup.markups))
        config = {
            "page-size": f"{shape.size[0]:g},{shape.size[1]:g}",
            "dpi": dpi,
            "margin-x": round(float(rng.uniform(*r.margin)) * 2) / 2,
            "margin-y": round(float(rng.uniform(*r.margin)) * 2) / 2,
            "font-path": face.file,
            "font-size": size,
            "line-height": size + float(_one(rng, r.line_height_extra)),
            "font-color": palette.ink,
            "alignment": _pick(rng, dict(theme.alignment)),
            "horizontal-scale": round(float(rng.uniform(*r.horizontal_scale)), 2),
            "first-line-indent": float(_one(rng, theme.first_line_indent)),
            "space-after": float(_one(rng, theme.space_after)),
            "border-width": border,
            "border-padding": float(_one(rng, theme.border_padding)),
            "page-bg-color": palette.page,
            "para-bg-color": palette.box or palette.page,
            "para-border-color": (palette.border or palette.ink) if border > 0 else palette.page,
            "auto-crop-width": bool(rng.random() < r.auto_crop_width),
            "auto-crop-last-page": bool(rng.random() < r.auto_crop_last_page),
            "newline-markup": markup,
            "reflow": bool(rng.random() < theme.reflow),
            "tab-size": int(_one(rng, theme.tab_size)),
        }
        if theme.highlight > 0 and palette.syntax and rng.random() < theme.highlight:
            config["syntax-colors"] = list(palette.syntax)
        return config, band, face

    def violation(self, config: RenderConfig) -> str | None:
        """The first rule the config breaks (its name), or None."""
        rules = self.spec.rules
        if config.leading < rules.min_line_height_ratio * config.font_size:
            return "line_height_below_font_size"
        if config.font_size * config.dpi / 72 * config.horizontal_scale < rules.min_text_px:
            return "text_too_small"
        if config.text_width / (0.55 * config.font_size) < rules.min_chars_per_line:
            return "line_too_short"
        w, h = config.page_size
        if (w * config.dpi / 72) * (h * config.dpi / 72) / 1e6 > rules.max_page_megapixels:
            return "page_too_large"
        return None

    def draw(
        self, rng: np.random.Generator, theme: str, text: str = "", exclude: set[str] = frozenset()
    ) -> Draw:
        """A config for ``theme`` that passes every rule (and whose dpi band is not in ``exclude``)."""
        if theme not in self.spec.themes:
            raise ValueError(f"unknown theme {theme!r}; configured: {', '.join(self.spec.themes)}")
        redraws: Counter = Counter()
        for _ in range(self.spec.rules.max_attempts):
            data, band, face = self.candidate(rng, theme, text)
            if band in exclude:
                redraws["dpi_band_excluded"] += 1
                continue
            try:
                config = RenderConfig.from_dict(data)
            except ValueError:
                redraws["geometry"] += 1  # e.g. margins wider than a phone-sized page
                continue
            broken = self.violation(config)
            if broken:
                redraws[broken] += 1
                continue
            return Draw(config, theme, band, face, redraws)
        raise SamplingError(
            f"theme {theme!r}: no config passed the rules in {self.spec.rules.max_attempts} draws "
            f"(rejections: {dict(redraws)}); loosen rules or widen the theme"
        )


def _norm(weights: list[float]) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return p / p.sum()
