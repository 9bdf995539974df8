"""`glyph data cpt` then `glyph train cpt`, as a user runs them (tiny model, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from glyph.cli import app
from glyph.train.callbacks import read_training_log
from glyph.train.shards import iter_shard, list_shards

runner = CliRunner()


def _flat(text: str) -> str:
    """Rich wraps long lines: compare with whitespace collapsed."""
    return " ".join(text.split())


FAST = {"render": {"dpi": {"low": {"weight": 1, "range": [48, 72]}}}}


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    config = root / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST))
    out = root / "cpt"
    result = runner.invoke(app, [
        "data", "cpt", "essays", "--out", str(out), "--samples", "6", "--shard-size", "3", "--max-context", "1536",
        "--workers", "1", "--config", str(config), "--tasks", "ocr,lm", "--vlm", "glm4v,qwen2.5vl",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "records" in _flat(result.output) and "mixture of" in _flat(result.output)
    return out


def test_data_cpt_writes_shards_manifest_config_and_statistics(shards: Path) -> None:
    assert sorted(p.name for p in shards.glob("cpt-*.parquet")) == ["cpt-00000.parquet", "cpt-00001.parquet"]
    records = [r for p in list_shards(shards) for r in iter_shard(p)]
    assert {r.task for r in records} <= {"ocr", "lm"} and len(records) >= 5
    assert all(set(r.meta["visual_tokens"]) == {"glm4v", "qwen2.5vl"} for r in records)
    run = yaml.safe_load((shards / "data_config.yaml").read_text())
    assert (
        run["seed"] == 0 and run["tasks"] == ["ocr", "lm"] and run["config"]["context"]["max_tokens"] == 1536
    )
    stats = json.loads((shards / "stats.json").read_text())
    assert stats["records"] == len(records) and (shards / "mixture.png").is_file()
    again = runner.invoke(app, ["data", "stats", str(shards)])
    assert again.exit_code == 0 and "by_task" not in again.output and "task" in again.output


def test_data_cpt_errors_name_the_bad_option(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "cpt", "essays", "--out", str(tmp_path / "x"), "--themes", "neon"])
    assert result.exit_code == 2 and "unknown theme(s) ['neon']" in _flat(result.output)
    result = runner.invoke(app, ["data", "cpt", "nowhere/at/all.txt", "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "text source" in _flat(result.output)
    result = runner.invoke(app, ["data", "cpt", "essays", "--out", str(tmp_path / "z"), "--vlm", "llava"])
    assert result.exit_code == 2 and "unknown VLM family 'llava'" in _flat(result.output)


def test_train_cpt_on_the_shards_with_the_tiny_model(shards: Path, tiny_glm: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["train", "cpt", "--recipe", "cpt-tiny-cpu", "--model", str(tiny_glm), "--data", str(shards),
            "--out", str(run), "--max-steps", "2", "--set", "training.save_steps=1", "--set", "data.max_length=1536",
            "--set", "training.report_to=none"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 steps" in _flat(result.output) and (run / "final" / "model.safetensors").is_file()
    assert [r["step"] for r in read_training_log(run / "train_log.jsonl") if "loss" in r] == [1, 2]
    assert (run / "loss_curve.png").is_file() and (run / "checkpoint-2").is_dir()
    again = runner.invoke(app, [*args[:-6], "--max-steps", "3", "--set", "data.max_length=1536",
                                "--set", "training.report_to=none"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "resumed from" in again.output and "3 steps" in again.output
    bad = runner.invoke(app, ["train", "cpt", "--recipe", "cpt-tiny-cpu", "--set", "training.lr=1"])
    assert bad.exit_code == 2 and "training.lr: unknown TrainingArguments field" in _flat(bad.output)


def test_train_helpers(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["train", "recipes"])
    assert listed.exit_code == 0 and "cpt-glm4v-9b" in listed.output
    shown = runner.invoke(app, ["train", "recipes", "--show", "cpt-glm4v-9b"])
    assert "global_batch_size: 170" in shown.output
    path = runner.invoke(app, ["train", "accelerate-config", "zero3-8gpu"])
    assert path.exit_code == 0 and Path(path.output.strip()).is_file()
    gallery = runner.invoke(app, ["data", "gallery", "--out", str(tmp_path / "g.png")])
    assert gallery.exit_code == 0, gallery.output
    from PIL import Image

    with Image.open(tmp_path / "g.png") as img:
        assert img.width > 5 * 250 and img.height > 500


@pytest.mark.slow
def test_accelerate_launch_with_two_processes_sums_counts_and_gathers_the_data_order(
    shards: Path, tiny_glm: Path, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "glyph.cli", "train", "cpt", "--recipe",
           "cpt-tiny-cpu", "--model", str(tiny_glm), "--data", str(shards), "--out", str(run), "--max-steps", "2",
           "--set", "data.max_length=1536", "--set", "training.report_to=none"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    order = [json.loads(line) for line in (run / "data_order.jsonl").read_text().splitlines()]
    assert [o["step"] for o in order] == [1, 2]
    assert all(len(o["ids"]) == 2 for o in order)  # one record from each process (global batch 2)
    ids = [i for o in order for i in o["ids"]]
    assert len(set(ids)) == 4  # the two processes saw different records
    by_id = {r.id: r for p in list_shards(shards) for r in iter_shard(p)}
    from glyph.tokens import get_vlm_rule

    rule = get_vlm_rule("glm4v")
    for row in (r for r in read_training_log(run / "train_log.jsonl") if "loss" in r):
        step_ids = order[row["step"] - 1]["ids"]
        assert row["visual_tokens_per_step"] == sum(rule.tokens_for_image(*s) for i in step_ids
                                                    for s in by_id[i].image_sizes())  # fmt: skip
