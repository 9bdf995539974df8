"""Render keys: one digest of everything that decides a page's pixels, for every render/read cache.

Why not ``RenderConfig.content_hash()``: a config names its fonts (a family, a path), and what a
name resolves to depends on the machine: the default fallback chain is whatever CJK font is
installed, a family name is whatever file fontconfig maps it to, a path may hold another
version of the font. One config hash can therefore mean different pixels on two machines, or on
one machine after a font upgrade. ``content_hash`` stays the config's identity (reports, search
trials, manifests); caches of renders and of what readers read from them key by :func:`render_key`.

Why not a revision number bumped by hand (the former ``RENDER_REVISION``): it gets forgotten, and
then a cache serves reads of pixels the renderer no longer draws. The key digests the renderer's
own source instead (every module of ``glyph.render`` that draws: all but ``batch/`` and
``reference.py``), so any change to layout or raster code, even one that changes no pixel,
starts new entries: a spurious cache miss costs time, a stale hit costs correctness. glyph's
version is digested as well, for installs without readable sources. The key covers:

* the config's keys, fonts aside (two names for the same file give the same pixels);
* the SHA-256 of each font file of the resolved chain, main font first, then the fallbacks in
  order (each file hashed once per process: :func:`glyph.render.fonts.font_digest`);
* the renderer's source and glyph's version;
* the versions of FreeType (draws the glyphs) and Pillow (resizes for ``horizontal-scale``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from importlib.resources.abc import Traversable

from glyph.render.config import RenderConfig
from glyph.render.fonts import chain_paths, depends_on_fonts, font_digest

_NOT_DRAWING = ("batch/", "reference.py")  # modules of glyph.render whose changes leave pixels alone


@functools.cache
def renderer_digest() -> str:
    """SHA-256 over glyph's version, FreeType's and Pillow's, and the source of the drawing modules."""
    import freetype
    import PIL

    import glyph

    versions = f"glyph {glyph.__version__}; freetype {freetype.version()}; pillow {PIL.__version__}"
    return hashlib.sha256(f"{versions}\0{source_digest(resources.files('glyph.render'))}".encode()).hexdigest()


def source_digest(root: Traversable) -> str:
    """SHA-256 of every ``.py`` file under ``root`` (names and bytes) but those that do not draw.

    A module added later is covered without anyone listing it: that is the point.
    """
    h = hashlib.sha256()
    for rel, item in sorted(_sources(root, ""), key=lambda pair: pair[0]):
        if not rel.startswith(_NOT_DRAWING):
            h.update(f"\0{rel}\0".encode())
            h.update(item.read_bytes())
    return h.hexdigest()


def _sources(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    out: list[tuple[str, Traversable]] = []
    for item in folder.iterdir():
        if item.is_dir() and item.name != "__pycache__":
            out += _sources(item, f"{prefix}{item.name}/")
        elif item.name.endswith(".py"):
            out.append((prefix + item.name, item))
    return out


@depends_on_fonts
@functools.lru_cache(maxsize=1024)
def render_key(cfg: RenderConfig) -> str:
    """A short digest of everything that decides ``cfg``'s pixels here: config, font bytes, renderer."""
    data = cfg.to_reference_dict(include_extensions=True)
    data.pop("font-path", None)
    data.pop("fallback-fonts", None)
    fonts: list[str] = []
    for path in chain_paths(cfg):
        digest = font_digest(path)
        if digest not in fonts:  # a copy of a font earlier in the chain never draws a character
            fonts.append(digest)
    payload = json.dumps({"config": data, "fonts": fonts, "renderer": renderer_digest()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
