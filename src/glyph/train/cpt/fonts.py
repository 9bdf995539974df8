"""The fonts themes draw from: what is installed, sorted into serif, sans, mono and CJK.

fontconfig lists the system's faces (family, style, spacing, languages); matplotlib's DejaVu
files are always there as a floor. A face is kept only if it draws all of printable ASCII (so
no symbol or math font sneaks into a document theme) and its family matches no ``exclude``
pattern. The catalogue is sorted, so the same machine gives the same draws for the same seed;
records store the font file they used.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from glyph.render.fonts import load_face, matplotlib_font_dir

__all__ = ["FontFace", "font_catalog"]

_SERIF_NAMES = re.compile(
    r"serif|times|georgia|garamond|palatino|baskerville|caslon|charter|cambria|bodoni|didot|"
    r"merriweather|lora|crimson|libre baskerville|book antiqua|century|minion|mincho|song|ming",
    re.IGNORECASE,
)
_SANS_SERIF = re.compile(r"sans[ -]?serif", re.IGNORECASE)
_CJK_LANGS = {"zh", "zh-cn", "zh-tw", "zh-hk", "ja", "ko"}
_MATPLOTLIB = {
    "DejaVuSans.ttf": ("DejaVu Sans", "Regular"),
    "DejaVuSans-Bold.ttf": ("DejaVu Sans", "Bold"),
    "DejaVuSans-Oblique.ttf": ("DejaVu Sans", "Oblique"),
    "DejaVuSerif.ttf": ("DejaVu Serif", "Regular"),
    "DejaVuSerif-Bold.ttf": ("DejaVu Serif", "Bold"),
    "DejaVuSerif-Italic.ttf": ("DejaVu Serif", "Italic"),
    "DejaVuSansMono.ttf": ("DejaVu Sans Mono", "Regular"),
    "DejaVuSansMono-Bold.ttf": ("DejaVu Sans Mono", "Bold"),
    "DejaVuSansMono-Oblique.ttf": ("DejaVu Sans Mono", "Oblique"),
}


@dataclass(frozen=True, order=True)
class FontFace:
    family: str
    style: str  # Regular, Bold, Italic, Oblique, Bold Italic, ...
    file: str
    index: int  # face index inside a .ttc collection
    kind: str  # serif, sans, mono or cjk


def _style_of(style: str) -> str:
    words = style.replace(",", " ").split()
    bold = any(w.lower() == "bold" for w in words)
    slant = next((w for w in words if w.lower() in ("italic", "oblique")), None)
    if bold and slant:
        return f"Bold {slant.title()}"
    if bold:
        return "Bold"
    if slant:
        return slant.title()
    if any(w.lower() in ("regular", "book", "normal", "roman", "medium") for w in words):
        return "Regular"
    return style.split(",")[0].strip() or "Regular"


def _classify(family: str, mono: bool, langs: set[str]) -> str:
    if langs & _CJK_LANGS or "cjk" in family.lower() or "hei" in family.lower():
        return "cjk"
    if mono or "mono" in family.lower() or "code" in family.lower():
        return "mono"
    if _SERIF_NAMES.search(family) and not _SANS_SERIF.search(family) and "sans" not in family.lower():
        return "serif"
    return "sans"


def _fontconfig_faces() -> list[tuple[str, str, str, int, bool, set[str]]]:
    if shutil.which("fc-list") is None:
        return []
    fmt = "%{family[0]}\t%{style[0]}\t%{file}\t%{index}\t%{spacing}\t%{lang}\n"
    try:
        out = subprocess.run(
            ["fc-list", "--format", fmt], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    faces = []
    for row in out.splitlines():
        parts = row.split("\t")
        if len(parts) != 6 or not parts[0] or not parts[2]:
            continue
        family, style, file, index, spacing, langs = parts
        faces.append((family, style, file, int(index or 0), spacing == "100", set(langs.lower().split("|"))))
    return faces


def _draws_ascii(file: str, index: int) -> bool:
    try:
        face = load_face(Path(file), index)
    except ValueError:
        return False
    return all(cp in face.cmap for cp in range(0x21, 0x7F))


@functools.cache
def font_catalog(exclude: tuple[str, ...] = ()) -> tuple[FontFace, ...]:
    """Every usable installed face, sorted (family, style, file); CJK faces listed once per file."""
    pattern = re.compile("|".join(exclude), re.IGNORECASE) if exclude else None
    found: dict[tuple[str, str], FontFace] = {}
    candidates = [(f, s, p, i, m, set(langs)) for f, s, p, i, m, langs in _fontconfig_faces()]
    folder = matplotlib_font_dir()
    for name, (family, style) in _MATPLOTLIB.items():
        if folder is not None and (folder / name).is_file():
            candidates.append((family, style, str(folder / name), 0, "Mono" in family, set()))
    # a stable order, plain faces before condensed/light variants that report the same style
    candidates.sort(key=lambda c: (c[0], _style_of(c[1]), c[1] != _style_of(c[1]), c[2]))
    for family, style, file, index, mono, langs in candidates:
        if pattern is not None and pattern.search(family):
            continue
        if not file.lower().endswith((".ttf", ".otf", ".ttc", ".otc")) or index != 0:
            continue  # the renderer draws a collection's first face
        key = (family, _style_of(style))
        if key in found or not _draws_ascii(file, index):
            continue
        found[key] = FontFace(family, key[1], file, index, _classify(family, mono, langs))
    return tuple(sorted(found.values()))
