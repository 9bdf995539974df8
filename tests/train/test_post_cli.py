"""`glyph data sft ruler`, then `glyph train sft` and `glyph train grpo` on its shards, as a user runs them
(tiny model, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glyph.cli import app
from glyph.train.callbacks import read_training_log
from glyph.train.shards import iter_shard, list_shards
from glyph.train.synthetic import SEED_BASE

runner = CliRunner()
SMALL = ["--set", "page-size=300,300", "--set", "dpi=48"]


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "sft"
    result = runner.invoke(app, ["data", "sft", "ruler", "--out", str(out), "--tasks", "niah_single_1,vt",
                                 "--lengths", "1k", "--samples", "2", "--ocr-share", "0.2", *SMALL])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 SFT + 1 OCR records" in _flat(result.output)
    return out


def test_data_sft_ruler_records_and_their_seed_metadata(synth: Path) -> None:
    records = [r for p in list_shards(synth) for r in iter_shard(p)]
    sft = [r for r in records if r.task == "sft"]
    assert len(sft) == 4 and all(r.meta["ruler_seed"] == SEED_BASE for r in sft)
    needle = next(r for r in sft if r.meta["ruler_task"] == "niah_single_1")
    target = needle.targets[0]
    assert target.startswith("<think>\nThe pages say: The special magic number for ")
    assert target.endswith("\n</think>\n\n" + needle.meta["answers"][0])
    info = json.loads((synth / "sft_data.json").read_text())
    assert info["ruler_seed"] == SEED_BASE and "no training sample is an evaluation sample" in info[
        "seeds_disjoint_from_evaluation"]  # fmt: skip
    assert info["config"]["dpi"] == 48


def test_train_sft_then_grpo_through_the_cli(synth: Path, tiny_glm: Path, tmp_path: Path) -> None:
    sft_run = tmp_path / "sft"
    result = runner.invoke(app, ["train", "sft", "--recipe", "sft-tiny-cpu", "--model", str(tiny_glm), "--data",
                                 str(synth), "--out", str(sft_run), "--max-steps", "2", "--set",
                                 "training.report_to=none"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 steps" in _flat(result.output) and (sft_run / "final" / "model.safetensors").is_file()
    grpo_run = tmp_path / "grpo"
    result = runner.invoke(app, ["train", "grpo", "--recipe", "grpo-tiny-cpu", "--model", str(sft_run / "final"),
                                 "--data", str(synth), "--out", str(grpo_run), "--max-steps", "1", "--set",
                                 "training.report_to=none", "--set", "training.max_completion_length=4"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (grpo_run / "reward_curve.png").is_file()
    rows = [r for r in read_training_log(grpo_run / "train_log.jsonl") if "reward" in r]
    assert len(rows) == 1 and {"rewards/accuracy/mean", "rewards/format/mean", "rewards/ocr/mean"} <= set(
        rows[0]
    )
    plotted = runner.invoke(app, ["train", "plot", str(grpo_run)])
    assert plotted.exit_code == 0 and "reward_curve" in plotted.output
    wrong = runner.invoke(app, ["train", "grpo", "--recipe", "sft-tiny-cpu"])
    assert wrong.exit_code == 2 and "is a sft recipe; run it with `glyph train sft`" in _flat(wrong.output)
    no_judge = runner.invoke(
        app, ["train", "grpo", "--recipe", "grpo-tiny-cpu", "--set", "rewards=[{kind: judge}]"]
    )
    assert no_judge.exit_code == 2 and "kind 'judge' needs a judge" in _flat(no_judge.output)


def test_data_sft_names_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "a", "context": "some text", "question": "q", "answer": "x"}\n{"id": "b", "context": "t"}\n'
    )
    result = runner.invoke(app, ["data", "sft", str(bad), "--out", str(tmp_path / "o"), *SMALL])
    assert result.exit_code == 0, result.output
    assert "row 1 (id 'b'): missing field 'question'" in _flat(result.output)
    assert "1 SFT + 0 OCR records" in _flat(result.output)
    result = runner.invoke(app, ["data", "sft", "ruler", "--out", str(tmp_path / "p"), "--tasks", "nope"])
    assert result.exit_code == 2 and "unknown RULER task(s) nope" in _flat(result.output)
    result = runner.invoke(
        app, ["data", "sft", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "q")]
    )
    assert result.exit_code == 2 and "no such data file" in _flat(result.output)
