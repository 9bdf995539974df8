"""Fonts: resolution by path or family name, reportlab-compatible metrics, and fallback chains.

Layout must measure text exactly as the reference (reportlab) does: advance widths
from the font's ``hmtx`` table scaled to 1000 units per em, no kerning, no shaping,
the width of glyph 0 for characters the font lacks, and NBSP sharing the space's
width. Rendering uses FreeType (unhinted, anti-aliased, as poppler's Splash does).
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from glyph.render.config import RenderConfig  # config imports this module: for annotations only

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
BMP = 0x10000

_NOTO_CJK_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)


def matplotlib_font_dir() -> Path | None:
    """The TTF folder inside matplotlib's package data (DejaVu ships there), without importing matplotlib."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf"
    return folder if folder.is_dir() else None


def _bundled_families() -> dict[str, Path]:
    folder = matplotlib_font_dir()
    if folder is None:
        return {}
    names = {
        "dejavu sans": "DejaVuSans.ttf",
        "dejavu sans mono": "DejaVuSansMono.ttf",
        "dejavu serif": "DejaVuSerif.ttf",
        "dejavu sans bold": "DejaVuSans-Bold.ttf",
    }
    return {k: folder / v for k, v in names.items() if (folder / v).is_file()}


@functools.cache
def _fontconfig_families() -> dict[str, Path]:
    """Family name (lower case) -> file, from fontconfig when it is installed."""
    if shutil.which("fc-list") is None:
        return {}
    try:
        out = subprocess.run(
            ["fc-list", "--format", "%{family}|%{style}|%{file}\n"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, tuple[int, Path]] = {}
    for row in out.splitlines():
        try:
            families, style, file = row.split("|", 2)
        except ValueError:
            continue
        rank = 0 if any(s in style for s in ("Regular", "Book", "Normal")) else 1
        for fam in families.split(","):
            key = fam.strip().lower()
            if key and (key not in found or rank < found[key][0]):
                found[key] = (rank, Path(file))
    return {k: v for k, (_, v) in found.items()}


@functools.cache
def resolve_font(spec: str) -> Path:
    """A font file for ``spec``: a path to a font file, or a family name ('DejaVu Sans', 'Noto Sans CJK SC')."""
    if not spec or not spec.strip():
        raise ValueError("font-path: empty; give a .ttf/.otf/.ttc path or a family name such as 'DejaVu Sans'")
    path = Path(spec).expanduser()
    if path.suffix.lower() in FONT_SUFFIXES or "/" in spec or "\\" in spec:
        if path.is_file():
            return path.resolve()
        raise ValueError(f"font-path: font file {spec!r} does not exist")
    key = spec.strip().lower()
    bundled = _bundled_families()
    if key in bundled:
        return bundled[key]
    system = _fontconfig_families()
    if key in system:
        return system[key]
    known = sorted(set(bundled) | set(system))[:12]
    raise ValueError(
        f"font-path: no font file or installed family named {spec!r}; give a path to a .ttf/.otf/.ttc file "
        f"or one of the installed families, e.g. {', '.join(known) or 'DejaVu Sans'}"
    )


def default_fallbacks() -> tuple[Path, ...]:
    """DejaVu Sans (Latin, Greek, Cyrillic, symbols) and Noto Sans CJK when installed."""
    chain: list[Path] = []
    bundled = _bundled_families()
    if "dejavu sans" in bundled:
        chain.append(bundled["dejavu sans"])
    for candidate in _NOTO_CJK_CANDIDATES:
        if Path(candidate).is_file():
            chain.append(Path(candidate))
            break
    else:
        system = _fontconfig_families()
        for name in ("noto sans cjk sc", "noto sans sc", "source han sans sc", "wenquanyi zen hei"):
            if name in system:
                chain.append(system[name])
                break
    return tuple(chain)


@dataclass
class FontFace:
    """One font file: cmap and advance widths (1000 units/em), as reportlab measures them."""

    path: Path
    index: int = 0
    units_per_em: int = 1000
    cmap: dict[int, int] = field(default_factory=dict)
    advances: np.ndarray = field(default_factory=lambda: np.zeros(1))  # per glyph id, 1000 units/em

    @property
    def default_width(self) -> float:
        """The width of glyph 0 (.notdef): reportlab's width for characters the font lacks."""
        return float(self.advances[0])

    def width1000(self, codepoint: int) -> float:
        gid = self.cmap.get(codepoint)
        return float(self.advances[gid]) if gid is not None else self.default_width

    def has(self, codepoint: int) -> bool:
        return codepoint in self.cmap


@functools.cache
def load_face(path: Path, index: int = 0) -> FontFace:
    """Parse cmap and hmtx once per file (fontTools), the way reportlab's TTFontFile reads them."""
    from fontTools.ttLib import TTFont  # noqa: PLC0415 - heavy import, only when a font is first used

    try:
        font = TTFont(str(path), fontNumber=index, lazy=True)
        upem = int(font["head"].unitsPerEm)
        cmap = dict(font.getBestCmap() or {})
        order = font.getGlyphOrder()
        hmtx = font["hmtx"].metrics
    except Exception as exc:  # fontTools raises many types for broken files
        raise ValueError(f"font-path: cannot read font file {path}: {exc}") from exc
    gid_of = {name: i for i, name in enumerate(order)}
    advances = np.zeros(len(order), dtype=np.float64)
    for name, (aw, _lsb) in hmtx.items():
        gid = gid_of.get(name)
        if gid is not None:
            advances[gid] = aw
    advances *= 1000.0 / upem
    cmap_gid = {cp: gid_of[name] for cp, name in cmap.items() if name in gid_of}
    # reportlab maps NBSP and space onto each other's glyph when only one exists
    if 0x20 in cmap_gid:
        cmap_gid[0xA0] = cmap_gid[0x20]
    elif 0xA0 in cmap_gid:
        cmap_gid[0x20] = cmap_gid[0xA0]
    font.close()
    return FontFace(path=path, index=index, units_per_em=upem, cmap=cmap_gid, advances=advances)


class FontChain:
    """The main font followed by fallbacks: which face draws each character, and at what width.

    Widths come back in 1000 units per em, as reportlab's ``stringWidth`` sums them. A
    character no face has is drawn as the main font's .notdef box at its width and is
    counted in ``missing``, so the caller can report it.
    """

    def __init__(self, main: Path, fallbacks: tuple[Path, ...] = ()) -> None:
        self.paths = (main, *[p for p in fallbacks if p != main])
        self._faces: list[FontFace | None] = [None] * len(self.paths)
        self._bmp_face = np.full(BMP, -2, dtype=np.int8)  # -2 unknown, -1 missing everywhere, else face index
        self._bmp_width = np.zeros(BMP, dtype=np.float64)
        self._astral: dict[int, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def face(self, i: int) -> FontFace:
        face = self._faces[i]
        if face is None:
            face = self._faces[i] = load_face(self.paths[i])
        return face

    @property
    def main(self) -> FontFace:
        return self.face(0)

    def _lookup(self, cp: int) -> tuple[int, float]:
        for i in range(len(self.paths)):
            face = self.face(i)
            if cp in face.cmap:
                return i, float(face.advances[face.cmap[cp]])
        return -1, self.main.default_width

    def resolve(self, codepoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face index (-1 = no face has it) and width (1000 units) for each code point."""
        cps = codepoints.astype(np.int64, copy=False)
        in_bmp = cps < BMP
        bmp = cps[in_bmp]
        unknown = np.unique(bmp[self._bmp_face[bmp] == -2])
        if unknown.size:
            with self._lock:
                for cp in unknown.tolist():
                    fi, w = self._lookup(cp)
                    self._bmp_face[cp] = fi
                    self._bmp_width[cp] = w
        faces = np.empty(cps.shape, dtype=np.int8)
        widths = np.empty(cps.shape, dtype=np.float64)
        faces[in_bmp] = self._bmp_face[bmp]
        widths[in_bmp] = self._bmp_width[bmp]
        if not in_bmp.all():
            for pos in np.nonzero(~in_bmp)[0].tolist():
                cp = int(cps[pos])
                hit = self._astral.get(cp)
                if hit is None:
                    with self._lock:
                        hit = self._astral[cp] = self._lookup(cp)
                faces[pos], widths[pos] = hit
        return faces, widths


@functools.cache
def font_chain(main: Path, fallbacks: tuple[Path, ...]) -> FontChain:
    return FontChain(main, fallbacks)


def chain_paths(cfg: RenderConfig) -> tuple[Path, ...]:
    """The font files a config draws with: its main font, then its fallbacks (empty: the default chain).

    The default chain depends on the machine (which CJK font is installed), which is why caches key
    renders by these files' contents (:func:`glyph.render.keys.render_key`), not by the config alone.
    """
    main = resolve_font(cfg.font_path)
    fallbacks = tuple(resolve_font(f) for f in cfg.fallback_fonts) if cfg.fallback_fonts else default_fallbacks()
    return (main, *[p for p in fallbacks if p != main])


def chain_for(cfg: RenderConfig) -> FontChain:
    """The (cached) font chain that lays out and draws ``cfg``'s text."""
    fallbacks = tuple(resolve_font(f) for f in cfg.fallback_fonts) if cfg.fallback_fonts else default_fallbacks()
    return font_chain(resolve_font(cfg.font_path), fallbacks)
