"""`glyph eval` with official data and prompt files, as a user runs it: provenance recorded, warnings shown."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from glyph.cli import app

from .conftest import FIXTURES

OFFICIAL = FIXTURES / "official"
CONFIG = OFFICIAL / "longbench_config"
runner = CliRunner()


def _runs(folder: Path) -> list[dict]:
    return list(json.loads((folder / "runs.json").read_text()).values())


def test_longbench_with_official_files_records_its_inputs(tmp_path: Path) -> None:
    args = ["eval", "longbench", "--data", str(FIXTURES / "longbench"), "--tasks", "hotpotqa,trec",
            "--reader", "oracle", "--prompt-file", str(CONFIG / "dataset2prompt.json"),
            "--maxlen-file", str(CONFIG / "dataset2maxlen.json"),
            "--page-prompt-file", str(CONFIG / "dataset2vlmprompt.json"), "--max-length", "100",
            "--out", str(tmp_path / "official")]  # fmt: skip
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    (run,) = _runs(tmp_path / "official")
    p = run["provenance"]
    assert p["prompts"]["name"].endswith("dataset2prompt.json")
    assert p["page_prompts"]["name"].endswith("dataset2vlmprompt.json")
    assert p["truncation"] == "middle to 100 tokens (qwen; LongBench pred.py)"
    assert p["generation"].startswith("per dataset (") and "dataset2maxlen.json" in p["generation"]
    assert "without a chat template" in p["chat_template"]
    results = [json.loads(x) for x in (tmp_path / "official" / "results.jsonl").read_text().splitlines()]
    assert {r["task"]: r["max_new_tokens"] for r in results} == {"hotpotqa": 17, "trec": 9}
    assert {r["inputs"] for r in results} == {run["inputs"]}
    report = (tmp_path / "official" / "report.md").read_text()
    assert "## Inputs" in report and "middle to 100 tokens" in report

    plain = runner.invoke(app, ["eval", "longbench", "--data", str(FIXTURES / "longbench"), "--tasks",
                                "hotpotqa,trec", "--reader", "oracle", "--max-new-tokens", "8192",
                                "--out", str(tmp_path / "plain")])  # fmt: skip
    assert plain.exit_code == 0, plain.output
    side = runner.invoke(app, ["eval", "report", str(tmp_path / "official"), str(tmp_path / "plain"),
                               "--out", str(tmp_path / "both")])  # fmt: skip
    assert side.exit_code == 0, side.output
    said = " ".join(side.output.split())  # rich wraps long lines
    assert "warning:" in said and "built from different inputs" in said
    text = (tmp_path / "both" / "report.md").read_text()
    (warning,) = [line for line in text.splitlines() if line.startswith("> **Warning:**")]
    assert "truncation: none vs middle to 100 tokens (qwen; LongBench pred.py)" in warning or (
        "truncation: middle to 100 tokens (qwen; LongBench pred.py) vs none" in warning
    )
    assert "generation length:" in warning and "fixed 8192 tokens" in warning and "prompt:" in warning


def test_ruler_from_rulers_own_data_and_the_builtin_generator_with_qa(tmp_path: Path) -> None:
    done = runner.invoke(app, ["eval", "ruler", "--data", str(OFFICIAL / "ruler_prepared"), "--templates",
                               str(OFFICIAL / "ruler_checkout"), "--tasks", "niah_single_1,vt",
                               "--reader", "oracle", "--out", str(tmp_path / "prepared")])  # fmt: skip
    assert done.exit_code == 0, done.output
    (run,) = _runs(tmp_path / "prepared")
    assert run["provenance"]["data_layout"] == "ruler-prepared"
    assert run["provenance"]["prompts"]["name"].startswith("RULER templates ")
    results = [json.loads(x) for x in (tmp_path / "prepared" / "results.jsonl").read_text().splitlines()]
    assert sorted((r["task"], r["score"], r["max_new_tokens"]) for r in results) == [
        ("niah_single_1", 1.0, 111), ("vt", 1.0, 22)
    ]  # fmt: skip
    missing = runner.invoke(app, ["eval", "ruler", "--data", str(OFFICIAL / "ruler_prepared"),
                                  "--out", str(tmp_path / "x")])  # fmt: skip
    assert missing.exit_code != 0 and "needs RULER's templates" in " ".join(missing.output.split())
    gen = runner.invoke(app, ["eval", "ruler", "--tasks", "qa_1", "--lengths", "1k", "--samples", "1",
                              "--qa-data", f"squad={OFFICIAL / 'qa/squad.json'}", "--reader", "oracle",
                              "--out", str(tmp_path / "gen")])  # fmt: skip
    assert gen.exit_code == 0, gen.output
    (run,) = _runs(tmp_path / "gen")
    assert run["provenance"]["data"] == "glyph's built-in RULER generator (seed 0)"
    no_data = runner.invoke(app, ["eval", "ruler", "--tasks", "qa_2", "--out", str(tmp_path / "y")])
    assert no_data.exit_code != 0 and "qa_2 needs hotpotqa" in " ".join(no_data.output.split())
    bad = runner.invoke(app, ["eval", "ruler", "--qa-data", "nq=x.json", "--out", str(tmp_path / "z")])
    assert bad.exit_code != 0 and "RULER's QA data are squad and hotpotqa" in " ".join(bad.output.split())


def test_glyph_mrcr_set_through_the_cli(tmp_path: Path) -> None:
    done = runner.invoke(app, ["eval", "mrcr", "--data", str(OFFICIAL / "glyph_evaluation/mrcr/data"),
                               "--reader", "oracle", "--no-record-config", "--out", str(tmp_path / "m")])  # fmt: skip
    assert done.exit_code == 0, done.output
    (run,) = _runs(tmp_path / "m")
    assert run["provenance"]["data_layout"] == "glyph-evaluation"
    assert run["provenance"]["postprocess"].startswith("glyph-mrcr")
    report = (tmp_path / "m" / "report.md").read_text()
    assert "| 8k-16k |" in report and "| 0-8k |" in report  # the paper's MRCR bins
    results = [json.loads(x) for x in (tmp_path / "m" / "results.jsonl").read_text().splitlines()]
    assert [r["score"] for r in results] == [1.0, 1.0]  # the legibility bound finds both replies
