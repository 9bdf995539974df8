"""Render keys name pixels, not configs: the same key means the same pixels, other fonts or code a new key.

Expected values come from the pixels themselves (two keys are equal exactly where the rendered
bytes are) and from the font files and source trees the tests build, not from the key code.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from glyph.render import fonts, render, render_key
from glyph.render.config import RenderConfig
from glyph.render.keys import renderer_digest, source_digest

TEXT = "Keys name pixels.\n\u4e2d\u6587 and a \u00e9 " * 30
ONLY_DEJAVU = ("DejaVu Sans",)  # a fallback chain that does not depend on the machine


@pytest.fixture(autouse=True)
def fresh_fonts() -> Iterator[None]:
    fonts.forget_fonts()  # a monkeypatched font location must not leak into other tests, nor theirs in
    yield
    fonts.forget_fonts()


def _pixels(cfg: RenderConfig) -> list[bytes]:
    return [page.image.tobytes() for page in render(TEXT, cfg)]


def _dejavu(name: str = "DejaVuSans.ttf") -> Path:
    folder = fonts.matplotlib_font_dir()
    assert folder is not None
    return folder / name


def test_key_is_short_hex_and_stable() -> None:
    cfg = RenderConfig()
    key = render_key(cfg)
    assert len(key) == 16 and int(key, 16) >= 0
    assert render_key(RenderConfig.from_dict(cfg.to_reference_dict())) == key


def test_every_config_key_that_draws_is_in_the_key() -> None:
    base = RenderConfig(fallback_fonts=ONLY_DEJAVU)
    changed = [base.with_updates(**{k: v}) for k, v in
               {"dpi": 96, "font-size": 10, "alignment": "LEFT", "reflow": True, "font-color": "#101010",
                "horizontal-scale": 0.9, "color-mode": "L", "tab-size": 2, "wrap-mode": "word"}.items()]
    keys = {render_key(c) for c in changed}
    assert len(keys) == len(changed) and render_key(base) not in keys


def test_same_font_bytes_under_another_name_give_the_same_key_and_pixels(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "AnyName.ttf"
    copy.parent.mkdir()
    shutil.copyfile(_dejavu(), copy)
    by_family = RenderConfig(fallback_fonts=ONLY_DEJAVU)
    by_path = RenderConfig(font_path=str(copy), fallback_fonts=ONLY_DEJAVU)
    assert by_path.font_path == str(copy.resolve())  # a file no family names: kept as a path
    assert by_path.content_hash() != by_family.content_hash()  # different configs ...
    assert render_key(by_path) == render_key(by_family)  # ... that draw the same pixels
    assert _pixels(by_path) == _pixels(by_family)


def test_other_font_bytes_under_the_same_name_change_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = RenderConfig(fallback_fonts=ONLY_DEJAVU)
    key, pixels, identity = render_key(cfg), _pixels(cfg), cfg.content_hash()
    # another machine whose "DejaVu Sans" is another file: DejaVu Serif's bytes under DejaVu Sans's name
    other = tmp_path / "mpl-fonts"
    shutil.copytree(_dejavu().parent, other)
    shutil.copyfile(_dejavu("DejaVuSerif.ttf"), other / "DejaVuSans.ttf")
    monkeypatch.setattr(fonts, "matplotlib_font_dir", lambda: other)
    fonts.forget_fonts()
    there = RenderConfig(fallback_fonts=ONLY_DEJAVU)
    assert there.font_file == (other / "DejaVuSans.ttf").resolve()
    assert there.content_hash() == identity  # the same config ...
    assert _pixels(there) != pixels  # ... draws other pixels ...
    assert render_key(there) != key  # ... so caches must not share entries


def test_the_machines_default_fallback_chain_is_in_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    default_chain, pinned = RenderConfig(), RenderConfig(fallback_fonts=ONLY_DEJAVU)
    before = render_key(default_chain), render_key(pinned)
    if len(fonts.default_fallbacks()) < 2:
        pytest.skip("no CJK fallback installed here (scripts/install_system_deps.sh installs Noto CJK)")
    pixels = _pixels(default_chain)
    # a machine without Noto CJK: the same config, ideographs drawn as .notdef boxes
    monkeypatch.setattr(fonts, "default_fallbacks", lambda: (fonts.resolve_font("DejaVu Sans"),))
    fonts.forget_fonts()
    assert _pixels(RenderConfig()) != pixels
    assert render_key(RenderConfig()) != before[0]
    assert render_key(RenderConfig(fallback_fonts=ONLY_DEJAVU)) == before[1]  # an explicit chain is not affected


def test_renderer_source_is_in_the_key_and_new_modules_are_covered(tmp_path: Path) -> None:
    real = resources.files("glyph.render")
    tree = tmp_path / "render"
    shutil.copytree(Path(str(real)), tree, ignore=shutil.ignore_patterns("__pycache__"))
    digest = source_digest(tree)
    assert digest == source_digest(real)  # names and bytes, not where the package lives
    engine = tree / "layout" / "engine.py"
    engine.write_text(engine.read_text() + "\n# a comment changes no pixel, but nobody has to remember a bump\n")
    assert source_digest(tree) != digest
    shutil.copyfile(Path(str(real)) / "layout" / "engine.py", engine)
    assert source_digest(tree) == digest
    (tree / "layout" / "hyphenate.py").write_text("RULES = 1\n")  # a stage added later
    assert source_digest(tree) != digest
    (tree / "layout" / "hyphenate.py").unlink()
    for not_drawing in ("batch/driver.py", "reference.py"):  # what does not draw does not invalidate caches
        (tree / not_drawing).write_text((tree / not_drawing).read_text() + "\n# edited\n")
    assert source_digest(tree) == digest
    assert len(renderer_digest()) == 64
