"""`glyph config`: portable font names by default, this machine's file paths on request (for reportlab)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from glyph.cli import app
from glyph.render import fonts


def _config(*args: str) -> dict:
    result = CliRunner().invoke(app, ["config", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_config_names_fonts_portably_unless_asked_for_files(tmp_path: Path) -> None:
    folder = fonts.matplotlib_font_dir()
    assert folder is not None
    oblique = folder / "DejaVuSans-Oblique.ttf"
    data = _config("--set", f"font-path={oblique}")
    assert data["font-path"] == "matplotlib:mpl-data/fonts/ttf/DejaVuSans-Oblique.ttf"
    files = _config("--set", f"font-path={oblique}", "--font-file", "--reference-only")
    assert Path(files["font-path"]) == oblique.resolve() and "reflow" not in files
    # a config written by the command loads back to the same font
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    assert _config("-c", str(path))["font-path"] == data["font-path"]
