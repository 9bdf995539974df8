"""A real short search on the CPU through the command line: ocr-fidelity with the oracle reader renders
and reads every candidate; the run leaves a reference-compatible best config, the front as CSV and plot,
and the proposal log; show and resume work on the stored study."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glyph.cli import app
from glyph.render.config import RenderConfig

runner = CliRunner()


def _run(*args: str, stdout_only: bool = False) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout if stdout_only else result.output


def test_search_run_show_resume(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    out = tmp_path / "out"
    space = tmp_path / "space.yaml"
    space.write_text("knobs:\n  font-path: {choices: [DejaVu Sans, DejaVu Serif]}\n  page-size: {fixed: '595,842'}\n")
    text = _run("search", "run", "--space", str(space), "--evaluator", "ocr-fidelity", "--reader", "oracle",
                "--eval-opt", "chars=1500", "--generations", "2", "--population", "4", "--storage", storage,
                "--study", "cpu", "--out", str(out), "--seed", "5")
    assert "classical operators only" in text and "Pareto front" in text

    best = RenderConfig.from_json(out / "best_config.json")  # loads back; the font is named portably
    data = json.loads((out / "best_config.json").read_text())
    assert data["font-path"] in ("DejaVu Sans", "DejaVu Serif") and data["page-size"] == "595,842"
    assert best.font_file.is_file() and best.font_file.name == data["font-path"].replace(" ", "") + ".ttf"
    assert isinstance(data["dpi"], int) and best.font_size > 0

    rows = list(csv.DictReader((out / "pareto.csv").open()))
    assert rows and all(r["pareto"] == "True" for r in rows) and {"accuracy", "compression", "font-size"} <= set(rows[0])
    trials = list(csv.DictReader((out / "trials.csv").open()))
    assert len(trials) == 12 and {r["generation"] for r in trials} == {"0", "1", "2"}
    assert (out / "pareto.png").stat().st_size > 10_000

    log = [json.loads(line) for line in (out / "proposals.jsonl").read_text().splitlines()]
    proposals = [r for r in log if r.get("event") == "proposal"]
    assert len(proposals) == 12 and all(r["rationale"] for r in proposals)
    assert any(r.get("event") == "llm-disabled" for r in log)
    assert {r["origin"] for r in proposals} >= {"seed", "mutation"}

    shown = _run("search", "show", "cpu", "--storage", storage)
    assert "Pareto front" in shown and "12 configs evaluated" in shown

    more = _run("search", "resume", "cpu", "--storage", storage, "--out", str(out), "--generations", "3")
    assert "4 evaluations here" in more
    assert len(list(csv.DictReader((out / "trials.csv").open()))) == 16


def test_best_config_renders_with_the_reference_pipeline(tmp_path: Path) -> None:
    from glyph.render.reference import reference_available, reference_render

    if reference_available() is not None:
        pytest.skip(reference_available())
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    _run("search", "run", "--evaluator", "ocr-fidelity", "--reader", "oracle", "--eval-opt", "chars=600",
         "--generations", "0", "--population", "2", "--storage", storage, "--study", "ref", "--out",
         str(tmp_path / "out"))
    cfg = RenderConfig.from_json(tmp_path / "out" / "best_config.json")
    result = reference_render("Rendered by the reference pipeline from a searched config.", cfg)
    assert result.pages and result.pages[0].size[0] > 0


def test_space_command_prints_a_loadable_space(tmp_path: Path) -> None:
    text = _run("search", "space", stdout_only=True)
    path = tmp_path / "resolved.yaml"
    path.write_text(text)
    from glyph.search.space import SearchSpace

    assert SearchSpace.load(path).describe() == SearchSpace.default().describe()


def test_run_refuses_to_mix_settings_into_an_existing_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = ["search", "run", "--evaluator", "synthetic", "--generations", "0", "--population", "2",
            "--storage", storage, "--study", "s", "--out", str(tmp_path / "out")]
    _run(*args)
    result = runner.invoke(app, [*args[:-6], "--population", "3", *args[-6:]])
    assert result.exit_code == 2 and "different settings" in result.output
