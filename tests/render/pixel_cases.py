"""A fixed set of rendered pages and their pixel hashes: what a refactor of the renderer must not change.

Each case is a fixture text (``fixtures/pixels/``: English prose with tabs, symbols, a soft hyphen,
a zero-width space, a private-use character and an overlong URL; a Python file with tabs; Chinese
prose with Latin runs and kinsoku punctuation) and a config; its hashes are the SHA-256 of every
page's mode, size and raw pixel bytes (``Image.tobytes``), so any pixel, size or mode change shows.

The committed hashes (``fixtures/pixel_hashes.json``) were taken from the code as it was on main
before the layout split of issue 10 (commit b5d9bc2), by running::

    python tests/render/pixel_cases.py --write

A case whose pixels a later fix changes on purpose is retaken alone, with the reason kept next
to its hashes (``--only CASE --note WHY --write``); every other case keeps the hashes from before.

Pixels also depend on the font files and on FreeType (and, for ``horizontal-scale``, on Pillow's
resize), so the file records the SHA-256 of each case's font files and those versions:
``tests/render/test_pixel_hashes.py`` compares a case only where they are the same here, and says
what differs otherwise. Fonts are ones CI installs: matplotlib's DejaVu and the Debian packages of
``scripts/install_system_deps.sh`` (fonts-noto-cjk, fonts-wqy-zenhei).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures" / "pixels"
HASHES = HERE / "fixtures" / "pixel_hashes.json"

# the reference default config (config_en.json with DejaVu Sans) on a small page, so every text makes
# several pages: non-last pages show auto-crop-width, the last one auto-crop-last-page too
BASE: dict[str, Any] = {
    "page-size": "300,260",
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
MARKER = '<font color="#FF0000"> \\n </font>'
NO_CROP = {"auto-crop-width": False, "auto-crop-last-page": False}

#: name -> (fixture text, config keys over BASE)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "en-dpi72": ("en.txt", {}),
    "en-dpi96": ("en.txt", {"dpi": 96}),
    "en-dpi120": ("en.txt", {"dpi": 120}),
    "en-justify-indents": (
        "en.txt",
        {"alignment": "JUSTIFY", "first-line-indent": 12, "left-indent": 6, "right-indent": 8,
         "space-before": 4, "space-after": 6, "dpi": 96, **NO_CROP},
    ),
    "en-center": ("en.txt", {"alignment": "CENTER", **NO_CROP}),
    "en-right-11pt": ("en.txt", {"alignment": "RIGHT", "font-size": 11, "line-height": 13, **NO_CROP}),
    "en-reflow-justify": ("en.txt", {"reflow": True, "alignment": "JUSTIFY"}),
    "en-reflow-left-96": ("en.txt", {"reflow": True, "dpi": 96}),
    "en-newline-marker": ("en.txt", {"newline-markup": MARKER}),
    "en-dark": (
        "en.txt",
        {"page-bg-color": "#1E1E2E", "font-color": "#CDD6F4", "para-bg-color": "#313244",
         "para-border-color": "#F38BA8", "border-width": 1, "border-padding": 2, "dpi": 96},
    ),
    "en-scale-gray": ("en.txt", {"horizontal-scale": 0.8, "color-mode": "L"}),
    "en-no-crop": ("en.txt", NO_CROP),
    "code-mono": ("code.txt", {"font-path": "DejaVu Sans Mono", "page-size": "420,300", "tab-size": 4}),
    "code-tabs0": ("code.txt", {"tab-size": 0, "page-size": "420,300", "dpi": 96}),
    "zh-noto-fallback": ("zh.txt", {}),  # DejaVu Sans, ideographs from the default chain's Noto Sans CJK
    "zh-noto-120": ("zh.txt", {"dpi": 120, "alignment": "JUSTIFY"}),
    "zh-wqy": ("zh.txt", {"font-path": "WenQuanYi Zen Hei", "fallback-fonts": ["DejaVu Sans"], "dpi": 96}),
    "zh-wqy-reflow": (
        "zh.txt", {"font-path": "WenQuanYi Zen Hei", "fallback-fonts": ["DejaVu Sans"], "reflow": True}
    ),
}


@cache
def text_of(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def config_of(case: str) -> Any:
    from glyph.render.config import RenderConfig

    return RenderConfig.from_dict({**BASE, **CASES[case][1]})


def page_hash(image: Image.Image) -> str:
    """SHA-256 of the mode, the size and the raw pixel bytes."""
    h = hashlib.sha256(f"{image.mode} {image.width}x{image.height}\n".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def render_hashes(case: str) -> list[str]:
    from glyph.render import render_pages

    return [page_hash(page.image) for page in render_pages(text_of(CASES[case][0]), config_of(case))]


@cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def environment(case: str) -> dict[str, Any]:
    """What the pixels depend on besides the code: the case's font files (by content) and library versions."""
    import freetype
    import PIL

    from glyph.render.fonts import default_fallbacks, resolve_font

    cfg = config_of(case)
    chain = [resolve_font(cfg.font_path)]
    chain += [resolve_font(f) for f in cfg.fallback_fonts] if cfg.fallback_fonts else default_fallbacks()
    env = {"fonts": {p.name: _file_digest(p) for p in chain}, "freetype": ".".join(map(str, freetype.version()))}
    if cfg.horizontal_scale != 1.0:
        env["pillow"] = PIL.__version__  # its resize draws the squeezed pages; nothing else of Pillow's does
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write {HASHES.relative_to(HERE.parent.parent)}")
    parser.add_argument("--taken", default="main before the layout split of issue 10 (commit b5d9bc2)")
    parser.add_argument("--only", nargs="+", metavar="CASE", help="retake these cases only (a deliberate change)")
    parser.add_argument("--note", help="with --only: why these pages changed (kept in the file)")
    args = parser.parse_args()
    if args.only:
        data = json.loads(HASHES.read_text(encoding="utf-8"))
        if not args.note:
            parser.error("--only needs --note: say why the pixels changed")
        for case in args.only:
            data["cases"][case] = {"pages": render_hashes(case), "environment": environment(case), "note": args.note}
    else:
        data = {
            "taken": args.taken,
            "cases": {case: {"pages": render_hashes(case), "environment": environment(case)} for case in CASES},
        }
    for case, entry in data["cases"].items():
        print(f"{case:22} {len(entry['pages'])} pages {entry.get('note', '')}")
    if args.write:
        HASHES.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {HASHES}")


if __name__ == "__main__":
    main()
