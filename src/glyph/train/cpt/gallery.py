"""A gallery image: one drawn page per style theme, side by side, with what was drawn under each.

The code theme is shown on Python source (the standard library's ``textwrap``), the others on the
text source, so each page shows what its theme is for.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from glyph.render.fonts import resolve_font
from glyph.render.raster import render_pages
from glyph.train.cpt.sampler import ConfigSampler
from glyph.train.cpt.sources import Document, document_factory
from glyph.train.cpt.spec import CptDataConfig

__all__ = ["theme_gallery"]

MAX_GALLERY_DPI = 120  # pages are shown scaled down; denser draws would only look blurred


def _code_text() -> str:
    import textwrap

    return inspect.getsource(textwrap)


def theme_gallery(
    cfg: CptDataConfig, out: str | Path, *, seed: int = 0, source: str = "essays", per_theme: int = 1,
    height: int = 520,
) -> Path:  # fmt: skip
    """Write the gallery PNG: ``per_theme`` rows, one column per theme."""
    sampler = ConfigSampler(cfg)
    docs = [d for d in document_factory(source)() if isinstance(d, Document)]
    if not docs:
        raise ValueError(f"text source {source!r} has no documents")
    font = ImageFont.truetype(str(resolve_font("DejaVu Sans")), 13)
    cells: list[list[Image.Image]] = []
    for row in range(per_theme):
        cells.append([])
        for k, theme in enumerate(cfg.themes):
            rng = np.random.default_rng([seed, row, k, 3])
            text = _code_text() if theme == "code" else docs[(row * len(cfg.themes) + k) % len(docs)].text
            for _ in range(100):
                draw = sampler.draw(rng, theme, text)
                if draw.config.dpi <= MAX_GALLERY_DPI:
                    break
            page = next(iter(render_pages(text, draw.config))).image.convert("RGB")
            scale = height / page.height
            page = page.resize((max(1, round(page.width * scale)), height), Image.LANCZOS)
            c = draw.config
            caption = [
                theme,
                f"{draw.font.family} {draw.font.style} {c.font_size:g}/{c.leading:g} pt",
                f"{c.dpi} dpi, scale {c.horizontal_scale:g}, {c.alignment.value.lower()}",
            ]
            cell = Image.new("RGB", (max(page.width, 250) + 16, height + 76), "white")
            cell.paste(page, (8, 8))
            ImageDraw.Draw(cell).rectangle((7, 7, 8 + page.width, 8 + height), outline="#888888")
            pen = ImageDraw.Draw(cell)
            for i, line in enumerate(caption):
                pen.text((8, height + 14 + 19 * i), line, fill="#000000" if i == 0 else "#444444", font=font)
            cells[-1].append(cell)
    width = max(sum(c.width for c in row) for row in cells)
    sheet = Image.new("RGB", (width, sum(max(c.height for c in row) for row in cells)), "white")
    y = 0
    for row in cells:
        x = 0
        for cell in row:
            sheet.paste(cell, (x, y))
            x += cell.width
        y += max(c.height for c in row)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
        out, optimize=True
    )  # a third of the bytes
    return out
