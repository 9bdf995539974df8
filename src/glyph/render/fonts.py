"""Fonts: resolution by path or family name, reportlab-compatible metrics, and fallback chains.

Layout must measure text exactly as the reference (reportlab) does: advance widths
from the font's ``hmtx`` table scaled to 1000 units per em, no kerning, no shaping,
the width of glyph 0 for characters the font lacks, and NBSP sharing the space's
width. Rendering uses FreeType (unhinted, anti-aliased, as poppler's Splash does).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


_BUNDLED = {  # matplotlib's DejaVu files, by the family name configs use for them
    "DejaVu Sans": "DejaVuSans.ttf",
    "DejaVu Sans Mono": "DejaVuSansMono.ttf",
    "DejaVu Serif": "DejaVuSerif.ttf",
    "DejaVu Sans Bold": "DejaVuSans-Bold.ttf",
}
# "<package>:<path inside it>", e.g. "matplotlib:mpl-data/fonts/ttf/DejaVuSans-Oblique.ttf": a font that a
# Python package ships, named relative to the package wherever it is installed (two characters or more
# before the colon, so that a Windows drive letter is not taken for a package)
_PACKAGE_FONT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]+(?:\.[A-Za-z_][A-Za-z0-9_]*)*):([^/\\].*)$")


def _bundled_families() -> dict[str, Path]:
    """Lower-case family name -> file, for the DejaVu fonts matplotlib ships."""
    folder = matplotlib_font_dir()
    if folder is None:
        return {}
    return {k.lower(): folder / v for k, v in _BUNDLED.items() if (folder / v).is_file()}


@functools.cache
def _fontconfig_scan() -> tuple[dict[str, Path], dict[str, str]]:
    """Family name (lower case) -> file, and -> its spelling, from fontconfig when it is installed."""
    if shutil.which("fc-list") is None:
        return {}, {}
    try:
        out = subprocess.run(
            ["fc-list", "--format", "%{family}|%{style}|%{file}\n"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}, {}
    found: dict[str, tuple[int, Path]] = {}
    spelled: dict[str, str] = {}
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
                spelled[key] = fam.strip()
    return {k: v for k, (_, v) in found.items()}, spelled


def _fontconfig_families() -> dict[str, Path]:
    """Family name (lower case) -> file, from fontconfig when it is installed."""
    return _fontconfig_scan()[0]


def package_dir(package: str) -> Path | None:
    """Where an installed Python package lives, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _package_font(spec: str, package: str, relative: str) -> Path:
    root = package_dir(package)
    if root is None:
        raise ValueError(f"font-path: {spec!r} names a font inside package {package!r}, which is not installed")
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise ValueError(f"font-path: {spec!r}: no font file {relative!r} inside package {package!r} ({root})")
    return path


def _is_path(spec: str) -> bool:
    return Path(spec).suffix.lower() in FONT_SUFFIXES or "/" in spec or "\\" in spec


@functools.cache
def resolve_font(spec: str) -> Path:
    """A font file for ``spec``: a family name ('DejaVu Sans', 'Noto Sans CJK SC'), a font inside an
    installed package ('matplotlib:mpl-data/fonts/ttf/DejaVuSans-Oblique.ttf'), or a path to a font file."""
    if not spec or not spec.strip():
        raise ValueError("font-path: empty; give a .ttf/.otf/.ttc path or a family name such as 'DejaVu Sans'")
    packaged = _PACKAGE_FONT.match(spec)
    if packaged:
        return _package_font(spec, packaged.group(1), packaged.group(2))
    path = Path(spec).expanduser()
    if _is_path(spec):
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


@functools.cache
def portable_font_name(spec: str) -> str:
    """A name for ``spec``'s font that finds the same file on another machine: what exported configs hold.

    A family name or a package font is portable as it is. A path becomes, in this order, the family
    name of a bundled DejaVu file; ``<package>:<path>`` for a file inside an installed Python package
    (matplotlib's fonts, or a package that ships its own); a fontconfig family that resolves back to
    this very file (the family of the file's first face first). A file known by none of these (a font
    only this machine has) keeps its absolute path: ``RenderConfig.to_json`` writes it relative to
    the config file when it lies beside it, so a folder with both travels.
    """
    path = resolve_font(spec)  # raises a ValueError naming a font that cannot be found
    if _PACKAGE_FONT.match(spec) or not _is_path(spec):
        return spec
    for family, file in _bundled_families().items():
        if file.resolve() == path:
            return next(name for name in _BUNDLED if name.lower() == family)
    for entry in sys.path:
        root = Path(entry or ".").resolve()
        if root.is_dir() and path.is_relative_to(root) and len(path.relative_to(root).parts) > 1:
            package, *rest = path.relative_to(root).parts
            home = package_dir(package)
            if home is not None and home.resolve() == (root / package).resolve():
                return f"{package}:{'/'.join(rest)}"
    families, spelled = _fontconfig_scan()
    candidates = [_face_family(path)] + sorted(k for k, f in families.items() if Path(f).resolve() == path)
    for name in candidates:
        key = (name or "").lower()
        if key in families and key.isascii() and _resolves_to(spelled.get(key, key), path):
            return spelled.get(key, key)
    return str(path)


def _resolves_to(name: str, path: Path) -> bool:
    """Whether the family ``name`` finds ``path`` (another font of that family may come first)."""
    try:
        return resolve_font(name).resolve() == path
    except ValueError:
        return False


def _face_family(path: Path) -> str | None:
    """The family name of the file's first face (the one glyph draws with), from its name table."""
    from fontTools.ttLib import TTFont  # noqa: PLC0415 - heavy import, only when a font is first used

    try:
        font = TTFont(str(path), fontNumber=0, lazy=True)
        names = font["name"]
        family = names.getDebugName(16) or names.getDebugName(1)
        font.close()
    except Exception:  # noqa: BLE001 - a font without a readable name table just has no family here
        return None
    return family


#: Caches of modules above this one whose answers depend on font files (render keys, rasterisers);
#: they register with :func:`depends_on_fonts`, so this module never imports them.
_DEPENDENT_CACHES: list[Any] = []


def depends_on_fonts(cached: Any) -> Any:
    """Mark a ``functools`` cache whose values depend on which font files exist where (a decorator)."""
    _DEPENDENT_CACHES.append(cached)
    return cached


def forget_fonts() -> None:
    """Drop every cached answer that depends on which font files exist where (after installing or moving
    fonts, or in tests): name resolution, fontconfig's list, portable names, file digests, and the render
    keys and rasterisers built on them."""
    for cached in (resolve_font, _fontconfig_scan, portable_font_name, font_digest, font_chain, *_DEPENDENT_CACHES):
        cached.cache_clear()


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


@functools.cache
def font_digest(path: Path) -> str:
    """SHA-256 of a font file's bytes, read once per path and process (a CJK collection is ~20 MB)."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise ValueError(f"font-path: cannot read font file {path}: {exc}") from exc


def chain_for(cfg: RenderConfig) -> FontChain:
    """The (cached) font chain that lays out and draws ``cfg``'s text."""
    fallbacks = tuple(resolve_font(f) for f in cfg.fallback_fonts) if cfg.fallback_fonts else default_fallbacks()
    return font_chain(resolve_font(cfg.font_path), fallbacks)
