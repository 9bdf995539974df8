"""`glyph measure` and `glyph sweep` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from glyph.cli import app

runner = CliRunner()


def test_measure_json(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("Hello world. " * 400)
    result = runner.invoke(app, ["measure", str(doc), "--vlm", "glm4v", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["text_tokens"] == 1201  # 3 Qwen tokens per repeat plus the final space
    assert data["pages"] == 1 and set(data["costs"]) == {"glm4v"}
    assert data["costs"]["glm4v"]["ratio"] == 1201 / data["costs"]["glm4v"]["visual_tokens"]


def test_measure_with_reader_prints_fidelity(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("The quick brown fox jumps over the lazy dog. " * 40)
    result = runner.invoke(app, ["measure", str(doc), "--reader", "oracle", "--set", "dpi=96"])
    assert result.exit_code == 0, result.output
    assert "characters 100.00%" in result.stdout and "glm4v" in result.stdout


def test_measure_errors_name_the_problem(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["measure", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    doc = tmp_path / "doc.txt"
    doc.write_text("x")
    bad_reader = runner.invoke(app, ["measure", str(doc), "--reader", "nope"])
    assert bad_reader.exit_code == 2 and "unknown reader 'nope'" in bad_reader.output
    bad_vlm = runner.invoke(app, ["measure", str(doc), "--vlm", "llava"])
    assert bad_vlm.exit_code == 2 and "llava" in bad_vlm.output


def test_sweep_writes_csv_json_and_plot(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("Numbers 12345 and ids a1b2c3d4 in a sentence. " * 150)
    out = tmp_path / "sweep"
    result = runner.invoke(
        app,
        ["sweep", str(doc), "-g", "dpi=60,72", "-g", "font-size=8,9", "--reader", "oracle", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"sweep.csv", "sweep.json", "sweep.png"}
    assert len(json.loads((out / "sweep.json").read_text())) == 4


def test_sweep_rejects_a_bad_grid(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", "-g", "dpi", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "key=v1,v2" in result.output
