"""Configs name fonts portably, so a config written here loads where fonts live elsewhere.

"Elsewhere" is simulated by moving the font to a temporary folder and pointing the lookup there
(matplotlib's font folder, an installed package's folder, fontconfig's list), as another machine
or another virtualenv would have it.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from glyph.render import fonts, render, render_key
from glyph.render.config import RenderConfig

TEXT = "A portable config, drawn the same on every machine. " * 20


@pytest.fixture(autouse=True)
def fresh_fonts() -> Iterator[None]:
    fonts.forget_fonts()
    yield
    fonts.forget_fonts()


def _mpl(name: str) -> Path:
    folder = fonts.matplotlib_font_dir()
    assert folder is not None
    return folder / name


def _pixels(cfg: RenderConfig) -> list[bytes]:
    return [page.image.tobytes() for page in render(TEXT, cfg)]


def test_a_bundled_file_path_is_written_as_its_family() -> None:
    cfg = RenderConfig(font_path=str(_mpl("DejaVuSansMono.ttf")), fallback_fonts=(str(_mpl("DejaVuSans.ttf")),))
    assert cfg.font_path == "DejaVu Sans Mono" and cfg.fallback_fonts == ("DejaVu Sans",)
    data = json.loads(cfg.to_json())
    assert data["font-path"] == "DejaVu Sans Mono" and data["fallback-fonts"] == ["DejaVu Sans"]


def test_a_package_font_is_written_relative_to_its_package() -> None:
    cfg = RenderConfig(font_path=str(_mpl("DejaVuSans-Oblique.ttf")))
    assert cfg.font_path == "matplotlib:mpl-data/fonts/ttf/DejaVuSans-Oblique.ttf"
    assert cfg.font_file == _mpl("DejaVuSans-Oblique.ttf").resolve()


def test_no_exported_config_holds_a_path_of_this_machine() -> None:
    # every font matplotlib ships: named by family or package, never by this machine's path
    for path in sorted(fonts.matplotlib_font_dir().glob("*.ttf")):  # type: ignore[union-attr]
        name = RenderConfig(font_path=str(path)).to_reference_dict()["font-path"]
        assert not name.startswith("/") and "site-packages" not in name, name
        assert fonts.resolve_font(name) == path.resolve()


def test_a_family_config_loads_where_the_font_lives_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = RenderConfig(font_path=str(_mpl("DejaVuSans.ttf")), fallback_fonts=("DejaVu Sans",))
    written = tmp_path / "config.json"
    here.to_json(written)
    pixels, key = _pixels(here), render_key(here)
    # another machine: matplotlib installed somewhere else, this machine's copy gone from view
    there = tmp_path / "other-venv" / "mpl-data" / "fonts" / "ttf"
    there.mkdir(parents=True)
    shutil.copyfile(_mpl("DejaVuSans.ttf"), there / "DejaVuSans.ttf")
    monkeypatch.setattr(fonts, "matplotlib_font_dir", lambda: there)
    fonts.forget_fonts()
    loaded = RenderConfig.from_json(written)
    assert loaded.font_file == (there / "DejaVuSans.ttf").resolve()
    assert loaded.to_reference_dict() == here.to_reference_dict() and loaded.content_hash() == here.content_hash()
    assert _pixels(loaded) == pixels and render_key(loaded) == key  # same bytes: same pixels, same cache entries


def test_a_package_font_config_loads_from_another_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = tmp_path / "config.json"
    RenderConfig(font_path=str(_mpl("DejaVuSerif-Bold.ttf"))).to_json(written)
    assert json.loads(written.read_text())["font-path"] == "matplotlib:mpl-data/fonts/ttf/DejaVuSerif-Bold.ttf"
    other = tmp_path / "site-packages" / "matplotlib"
    (other / "mpl-data" / "fonts" / "ttf").mkdir(parents=True)
    shutil.copyfile(_mpl("DejaVuSerif-Bold.ttf"), other / "mpl-data" / "fonts" / "ttf" / "DejaVuSerif-Bold.ttf")
    real = fonts.package_dir
    monkeypatch.setattr(fonts, "package_dir", lambda name: other if name == "matplotlib" else real(name))
    fonts.forget_fonts()
    loaded = RenderConfig.from_json(written)
    assert loaded.font_file == (other / "mpl-data" / "fonts" / "ttf" / "DejaVuSerif-Bold.ttf").resolve()


def test_a_fontconfig_family_config_loads_where_fontconfig_puts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        wqy = fonts.resolve_font("WenQuanYi Zen Hei")
    except ValueError:
        pytest.skip("fonts-wqy-zenhei is not installed (scripts/install_system_deps.sh)")
    written = tmp_path / "config.json"
    RenderConfig(font_path=str(wqy), fallback_fonts=("DejaVu Sans",)).to_json(written)
    assert json.loads(written.read_text())["font-path"] == "WenQuanYi Zen Hei"
    moved = tmp_path / "fonts" / "zenhei.ttc"
    moved.parent.mkdir()
    shutil.copyfile(wqy, moved)
    monkeypatch.setattr(fonts, "_fontconfig_scan", functools.cache(lambda: ({"wenquanyi zen hei": moved}, {})))
    fonts.forget_fonts()
    assert RenderConfig.from_json(written).font_file == moved.resolve()


def test_a_font_only_this_machine_has_travels_beside_its_config(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "fonts").mkdir(parents=True)
    shutil.copyfile(_mpl("DejaVuSans.ttf"), project / "fonts" / "House.ttf")
    cfg = RenderConfig(font_path=str(project / "fonts" / "House.ttf"), fallback_fonts=("DejaVu Sans",))
    assert cfg.font_path == str((project / "fonts" / "House.ttf").resolve())  # no portable name: its path
    cfg.to_json(project / "config.json")
    assert json.loads((project / "config.json").read_text())["font-path"] == "fonts/House.ttf"
    key = render_key(cfg)
    moved = shutil.move(project, tmp_path / "copied-elsewhere")
    fonts.forget_fonts()
    loaded = RenderConfig.from_json(Path(moved) / "config.json")
    assert loaded.font_file == (Path(moved) / "fonts" / "House.ttf").resolve()
    assert render_key(loaded) == key


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("matplotlib:mpl-data/fonts/ttf/NoSuchFont.ttf", "NoSuchFont.ttf"),
        ("matplotlib:../../../../etc/passwd", "etc/passwd"),  # not inside the package
        ("no_such_package_xyz:fonts/a.ttf", "no_such_package_xyz"),
    ],
)
def test_bad_package_fonts_fail_naming_them(spec: str, named: str) -> None:
    with pytest.raises(ValueError, match="font-path") as info:
        RenderConfig(font_path=spec)
    assert named in str(info.value)


def test_the_reference_harness_gets_a_file_for_a_portable_name() -> None:
    cfg = RenderConfig(font_path="matplotlib:mpl-data/fonts/ttf/DejaVuSans.ttf")
    assert cfg.font_path == "matplotlib:mpl-data/fonts/ttf/DejaVuSans.ttf"  # portable as given
    assert cfg.font_file.is_file()  # what glyph.render.reference hands to reportlab


def test_every_installed_font_keeps_its_file_through_its_portable_name() -> None:
    files = {p.resolve() for p in fonts._fontconfig_families().values()}
    files |= {p.resolve() for p in fonts.matplotlib_font_dir().glob("*.ttf")}  # type: ignore[union-attr]
    for path in sorted(files):
        name = fonts.portable_font_name(str(path))
        assert fonts.resolve_font(name).resolve() == path, (path, name)


@pytest.mark.parametrize("spec", ["C:/Fonts/arial.ttf", "C:\\Fonts\\arial.ttf", "/usr/share/fonts/x:y.ttf", "./a:b.ttf"])
def test_paths_are_not_taken_for_package_fonts(spec: str) -> None:
    with pytest.raises(ValueError, match="does not exist"):  # looked up as a file, not as a package
        fonts.resolve_font(spec)
