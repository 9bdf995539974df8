"""The gateway's page cache keys by what the pages look like (render key), not by the config's name.

The same config on a machine whose font files differ must render again, not serve another
machine's or another font version's pages; the same bytes under another font name may share.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glyph.render import fonts
from glyph.render.config import reference_default
from glyph.serve.documents import PageCache, Planner, PlanOptions
from glyph.tokens import get_tokenizer, get_vlm_rule

DOC = "A document long enough to be rendered by the gateway, and rendered once. " * 80


@pytest.fixture(autouse=True)
def fresh_fonts() -> Iterator[None]:
    fonts.forget_fonts()
    yield
    fonts.forget_fonts()


def _planner(cache: PageCache) -> Planner:
    return Planner(get_tokenizer("qwen"), get_vlm_rule("glm4v"), cache, payload=lambda image: image,
                   part=lambda image: {"type": "image"}, kind="image", max_pages=16, max_page_pixels=10**8)


def _cached(planner: Planner, cfg: Any) -> bool:
    messages = [{"role": "user", "content": [{"type": "text", "text": DOC, "glyph": {"render": True}}]}]
    return planner.plan(messages, cfg, PlanOptions(threshold=100)).rendered_pages == 0  # nothing laid out


def test_same_config_with_other_font_bytes_renders_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PageCache(max_bytes=10**9)
    planner = _planner(cache)
    cfg = reference_default()
    assert not _cached(planner, cfg) and _cached(planner, cfg)
    # the machine's "DejaVu Sans" becomes another file (DejaVu Serif's bytes under its name)
    folder = fonts.matplotlib_font_dir()
    assert folder is not None
    other = tmp_path / "fonts"
    shutil.copytree(folder, other)
    shutil.copyfile(folder / "DejaVuSerif.ttf", other / "DejaVuSans.ttf")
    monkeypatch.setattr(fonts, "matplotlib_font_dir", lambda: other)
    fonts.forget_fonts()
    moved = reference_default()
    assert moved.content_hash() == cfg.content_hash()  # the same config by name ...
    assert not _cached(planner, moved)  # ... is not served the old pages
    assert _cached(planner, moved)
