"""Validation inside the search: the held-out split a study stores, `glyph search validate` on a small study
(winner checked against the evaluator's own figures on that split), the automatic validation at the end of
a run, and an exported best config that loads where fonts live elsewhere."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from glyph.cli import app
from glyph.render.config import RenderConfig
from glyph.render.fonts import matplotlib_font_dir
from glyph.search.evaluators.synthetic import synthetic_objectives
from glyph.search.selection import Scoring
from glyph.search.validation import REFERENCE, default_split

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_default_split_moves_seeds_tasks_and_text() -> None:
    ruler = {"name": "ocr-ruler", "options": {"seed": 0, "tasks": ["niah_single_2", "vt"], "lengths": [2048, 4096],
                                              "samples": 4, "samples_file": None}}
    split = default_split(ruler)
    assert split["options"]["seed"] == 1000 and split["options"]["lengths"] == [2048, 4096]
    assert split["options"]["tasks"] == ["niah_single_1", "niah_multikey_2", "niah_multivalue", "niah_multiquery"]
    assert ruler["options"]["seed"] == 0  # the study's own options are left alone
    assert default_split(ruler, {"samples": 10})["options"]["samples"] == 10
    fidelity = default_split({"name": "ocr-fidelity", "options": {"seed": 3, "text_file": None, "offset": 0}})
    assert fidelity["options"]["seed"] == 1003 and fidelity["options"]["offset"] == 40_000
    assert default_split({"name": "synthetic", "options": {"legible_px": 6.0}})["options"] == {"legible_px": 6.0}


def _small_study(tmp_path: Path, *extra: str) -> tuple[str, Path, str]:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    out = tmp_path / "out"
    text = _run("search", "run", "--evaluator", "synthetic", "--generations", "2", "--population", "6",
                "--accuracy-floor", "0.5", "--storage", storage, "--study", "small", "--out", str(out), *extra)
    return storage, out, text


def test_validate_a_small_study(tmp_path: Path) -> None:
    storage, out, _ = _small_study(tmp_path, "--no-validate")
    assert not (out / "validation.json").exists()
    # a stricter held-out split: glyphs need 9 px where the search asked for 6
    shown = _run("search", "validate", "small", "--storage", storage, "--out", str(out), "--val-opt", "legible_px=9")
    assert "reference default" in shown and "validation split" in shown
    report = json.loads((out / "validation.json").read_text())
    assert report["split"] == {"name": "synthetic", "options": {"legible_px": 9}}
    rows = {r["number"]: r for r in report["rows"]}
    assert REFERENCE in rows
    scoring = Scoring(0.5, 0.8)
    expected = {}  # the split's figures straight from the analytic model, and the winner by its score
    for n, r in rows.items():
        acc, comp, _ = synthetic_objectives(RenderConfig.from_dict(r["config"]), legible_px=9)
        assert (r["accuracy"], r["compression"]) == (acc, comp)
        if n != REFERENCE:
            expected[n] = scoring.score(acc, comp)
    assert report["winner"] == max(expected, key=lambda n: (expected[n], -n))
    best = json.loads((out / "best_config.json").read_text())
    winner_cfg = RenderConfig.from_dict(rows[report["winner"]]["config"])
    assert RenderConfig.from_dict(best).content_hash() == winner_cfg.content_hash()
    csv_rows = (out / "validation.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + len(rows) and (out / "validation.png").stat().st_size > 10_000
    again = _run("search", "show", "small", "--storage", storage)  # the report is stored in the study
    assert f"trial {report['winner']} on the validation split" in again


def test_a_completed_run_validates_itself(tmp_path: Path) -> None:
    _, out, text = _small_study(tmp_path)
    assert "validating the Pareto front" in text
    report = json.loads((out / "validation.json").read_text())
    assert report["split"]["name"] == "synthetic" and report["winner"] is not None


def test_exported_config_loads_where_fonts_live_elsewhere(tmp_path: Path) -> None:
    mpl = matplotlib_font_dir()
    assert mpl is not None
    own = tmp_path / "myfonts" / "HouseSerif.ttf"  # a font file only this machine has
    own.parent.mkdir()
    shutil.copyfile(mpl / "DejaVuSerif.ttf", own)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    for name, font in (("bundled", str(mpl / "DejaVuSans.ttf")), ("own", str(own))):
        space = tmp_path / f"{name}.yaml"
        space.write_text(json.dumps({"knobs": {"font-path": {"choices": [font]}}}))
        out = tmp_path / name
        _run("search", "run", "--space", str(space), "--evaluator", "synthetic", "--generations", "0",
             "--population", "2", "--storage", storage, "--study", name, "--out", str(out))
        data = json.loads((out / "best_config.json").read_text())
        assert str(tmp_path) not in json.dumps(data) and not Path(data["font-path"]).is_absolute()
    assert json.loads((tmp_path / "bundled" / "best_config.json").read_text())["font-path"] == "DejaVu Sans"
    assert json.loads((tmp_path / "own" / "best_config.json").read_text())["font-path"] == "fonts/HouseSerif.ttf"

    # another machine: the folder moved, the font file gone from where it was, matplotlib installed elsewhere
    moved = tmp_path / "elsewhere" / "own"
    shutil.move(tmp_path / "own", moved)
    shutil.rmtree(own.parent)
    site = tmp_path / "site"
    fake_mpl = site / "matplotlib" / "mpl-data" / "fonts" / "ttf"
    fake_mpl.mkdir(parents=True)
    (site / "matplotlib" / "__init__.py").write_text("")
    shutil.copyfile(mpl / "DejaVuSans.ttf", fake_mpl / "DejaVuSans.ttf")
    src = Path(__file__).resolve().parents[2] / "src"
    probe = ("import sys; from glyph.render.config import RenderConfig; from glyph.render import render_pages\n"
             "for p in sys.argv[1:]:\n"
             "    cfg = RenderConfig.from_json(p); pages = list(render_pages('portable', cfg))\n"
             "    print(cfg.font_file, len(pages))\n")
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "bundled" / "best_config.json"),
                           str(moved / "best_config.json")], capture_output=True, text=True, timeout=120, check=False,
                          env={"PYTHONPATH": f"{site}:{src}", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[0].startswith(str(fake_mpl / "DejaVuSans.ttf")) and lines[0].endswith(" 1")
    assert lines[1].startswith(str(moved / "fonts" / "HouseSerif.ttf")) and lines[1].endswith(" 1")


def test_validate_names_a_missing_study_and_a_bad_split(tmp_path: Path) -> None:
    storage, out, _ = _small_study(tmp_path, "--no-validate", "--generations", "0")
    missing = runner.invoke(app, ["search", "validate", "nope", "--storage", storage])
    assert missing.exit_code != 0 and "no study 'nope'" in missing.output and "small" in missing.output
    bad = runner.invoke(app, ["search", "validate", "small", "--storage", storage, "--out", str(out),
                              "--val-opt", "legible_pix=9"])
    assert bad.exit_code != 0 and "legible_pix" in bad.output and "Traceback" not in bad.output


def test_task_fitness_run_shows_intervals_and_validates_on_other_tasks(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    out = tmp_path / "out"
    text = _run("search", "run", "--evaluator", "ocr-ruler", "--reader", "oracle", "--eval-opt", "lengths=[1024]",
                "--eval-opt", "samples=2", "--eval-opt", 'tasks=["niah_single_2", "vt"]', "--generations", "0",
                "--population", "2", "--storage", storage, "--study", "tasks", "--out", str(out))
    # the oracle reads everything: 4 of 4, Wilson 95% low = 4 / (4 + 1.96^2) = 0.510, not a zero-width interval
    assert "1.000 [0.510, 1.000]" in text
    report = json.loads((out / "validation.json").read_text())
    assert report["split"]["options"]["seed"] == 1000 and report["split"]["options"]["lengths"] == [1024]
    assert report["split"]["options"]["tasks"] == ["niah_single_1", "niah_multikey_2", "niah_multivalue",
                                                   "niah_multiquery"]
    ref = next(r for r in report["rows"] if r["number"] == REFERENCE)
    assert ref["ci"]["n"] == 4 * 2 and ref["metrics"]["by_task"].keys() == {
        "niah_single_1", "niah_multikey_2", "niah_multivalue", "niah_multiquery"}
    assert ref["search_accuracy"] == 1.0  # the reference is the search's first seed: its in-search figure is shown
