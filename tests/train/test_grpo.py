"""GRPO on tiny random GLM-4.1V and Qwen2.5-VL: the zero-variance group filter, a short run that changes the
weights and logs every reward (the LLM judge on a loopback server included), kill and resume, bad records,
and the paper's recipe."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from conftest import known_text, small_config

from glyph.render import render_pages
from glyph.train.callbacks import read_training_log
from glyph.train.grpo.trainer import DISCARDED, GlyphGRPOTrainer, zero_variance_groups
from glyph.train.recipes import load_recipe, training_arguments
from glyph.train.records import Record
from glyph.train.run import run_training
from glyph.train.shards import write_shard

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "serve"))  # loopback server helpers
from serve_helpers import FakeUpstream, completion, json_response

NAN = math.nan
#: prompts of different lengths in one batch: left padding must line up with M-RoPE's token types
QUESTIONS = [
    "What is written on the page ?",
    "What is written on the page ? Answer the question about the document .",
]


# ------------------------------------------------------------------------------------------ filter
def test_zero_variance_groups_by_hand() -> None:
    # 3 groups of 2 rows; 2 reward functions weighted 1 and 0.5; NaN: the function does not apply
    rewards = torch.tensor([
        [1.0, 0.0], [1.0, 0.0],   # sums 1, 1: all equal -> discard
        [0.0, 1.0], [1.0, NAN],   # sums 0.5, 1: keep
        [NAN, NAN], [0.3, NAN],   # one row unscorable: a single reward cannot vary -> discard
    ])  # fmt: skip
    drop = zero_variance_groups(rewards, torch.tensor([1.0, 0.5]), group_size=2)
    assert drop.tolist() == [True, False, True]
    all_zero = torch.zeros(8, 1)
    assert zero_variance_groups(all_zero, torch.ones(1), 4).tolist() == [True, True]
    assert zero_variance_groups(torch.tensor([[0.0], [1e-9], [1.0], [0.999]]), torch.ones(1), 2).tolist() == [
        True,
        False,
    ]
    with pytest.raises(ValueError, match="do not split into groups of 4"):
        zero_variance_groups(torch.zeros(6, 1), torch.ones(1), 4)


def test_discarded_groups_leave_the_loss_mask_and_the_token_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from trl import GRPOTrainer

    trainer = object.__new__(GlyphGRPOTrainer)  # the filter alone, around a stubbed generation step
    gathered = torch.tensor(
        [[1.0], [1.0], [0.0], [1.0], [0.0], [0.0], [0.5], [0.0]]
    )  # 2 processes x 2 groups of 2
    mask = torch.ones(4, 3, dtype=torch.long)
    mask[3, 2] = 0  # a shorter completion

    def fake_super(self: Any, inputs: list) -> dict:
        self._gathered_rewards = gathered
        return {"completion_mask": mask.clone(), "num_items_in_batch": torch.tensor(11)}

    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", fake_super)
    trainer.__dict__.update(
        num_generations=2, reward_weights=torch.ones(1), discard_zero_variance=True, _pending_ids=[],
        _metrics={"train": {DISCARDED: []}}, model=SimpleNamespace(training=True), _gathered_rewards=None,
        accelerator=SimpleNamespace(process_index=1, gather=lambda t: t.reshape(1) * 2),  # 2 processes alike
    )  # fmt: skip
    inputs = [{"id": "p2"}, {"id": "p2"}, {"id": "p3"}, {"id": "p3"}]
    out = trainer._generate_and_score_completions(inputs)
    # process 1 holds global groups 2 (rewards 0, 0: discarded) and 3 (0.5, 0: kept)
    assert out["completion_mask"].tolist() == [[0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 1, 0]]
    assert int(out["num_items_in_batch"]) == 5 * 2  # the kept tokens, summed over processes
    assert trainer._metrics["train"][DISCARDED] == [0.5]  # groups 0 and 2 of 4
    assert trainer._pending_ids == ["p2", "p3"]
    trainer.discard_zero_variance = False
    assert trainer._generate_and_score_completions(inputs)["completion_mask"].tolist() == mask.tolist()
    assert trainer._metrics["train"][DISCARDED] == [0.5, 0.5]  # still logged


# ------------------------------------------------------------------------------------------ runs
def _records() -> list[Record]:
    out = []
    for i in range(4):
        text = known_text(6, 2 * i)
        page = next(iter(render_pages(text, small_config())))
        if i % 2:
            out.append(Record(id=f"ocr{i}", task="ocr", images=[page.image], messages=[
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Transcribe all text"}]},
                {"role": "assistant", "content": text}]))  # fmt: skip
        else:
            word = text.split()[1]
            out.append(Record(id=f"qa{i}", task="sft", images=[page.image],
                              meta={"answers": [word], "metric": "string_match_all", "question": "Which word is second ?"},
                              messages=[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTIONS[i // 2]}]},
                                        {"role": "assistant", "content": f"<think> page </think> {word}"}]))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def grpo_shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("grpo") / "grpo.parquet"
    write_shard(path, _records())
    return path


def _recipe(model: Path, shard: Path, out: Path, rewards: list | None = None, **training: object) -> dict:
    return {
        "stage": "grpo",
        "model": {"path": str(model), "dtype": "fp32"},
        "data": {"shards": [str(shard)], "max_length": 512},
        "rewards": rewards or [{"kind": "accuracy"}, {"kind": "format"}, {"kind": "ocr"}],
        "training": {"output_dir": str(out), "per_device_train_batch_size": 8, "num_generations": 4,
                     "max_completion_length": 6, "max_steps": 3, "learning_rate": 5e-3, "beta": 0.02,
                     "epsilon": 0.2, "epsilon_high": 0.28, "logging_steps": 1, "save_strategy": "no",
                     "use_cpu": True, "seed": 0, "disable_tqdm": True, **training},
    }  # fmt: skip


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_a_short_grpo_run_changes_the_weights_and_logs_every_reward(
    tiny_model, grpo_shard: Path, tmp_path: Path
) -> None:
    _, model = tiny_model

    def verdict(
        body: dict, n: int
    ) -> Any:  # a judge that says CORRECT iff the answer holds 'page'; some malformed
        answer = body["messages"][0]["content"].split("Answer to grade:\n", 1)[1]
        reply = "CORRECT" if "page" in answer.split("\n")[0] else ("maybe" if n % 3 == 0 else "INCORRECT")
        return json_response(completion(reply))

    upstream = FakeUpstream(verdict, model="judge")
    rewards = [
        {"kind": "judge"},
        {"kind": "accuracy", "name": "match"},
        {"kind": "format", "weight": 0.5},
        {"kind": "ocr"},
    ]
    with upstream.running() as url:
        recipe = _recipe(model, grpo_shard, tmp_path / "run", rewards)
        recipe["judge"] = {"base_url": url, "api_key_env": None, "backoff_initial": 0.01}
        result = run_training(load_recipe(recipe), resume="never")
    out = tmp_path / "run"
    assert result.global_step == 3
    before, after = _weights(model), _weights(out / "final")
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) > len(before) / 2, changed  # the policy moved
    rows = [r for r in read_training_log(out / "train_log.jsonl") if "reward" in r]
    assert [r["step"] for r in rows] == [1, 2, 3]
    for name in ("judge", "match", "format", "ocr"):  # every reward is logged, and scored somewhere
        assert all(f"rewards/{name}/mean" in r for r in rows)
        assert any(
            r[f"rewards/{name}/mean"] is not None and not math.isnan(r[f"rewards/{name}/mean"]) for r in rows
        )
    for r in rows:
        assert r[DISCARDED] == pytest.approx(r["frac_reward_zero_std"])  # TRL's count of the same groups
    judged = [r for r in rows if "judge/malformed" in r]  # steps whose prompts included a question
    assert judged and all(r["judge/failed"] == 0 and 0 <= r["judge/malformed"] <= 1 for r in judged)
    assert upstream.calls > 0
    assert json.loads((out / "rewards.json").read_text())[2] == {
        "name": "format",
        "weight": 0.5,
        "kind": "FormatReward",
    }
    order = [json.loads(line) for line in (out / "data_order.jsonl").read_text().splitlines()]
    assert [len(o["ids"]) for o in order] == [2, 2, 2]  # 8 completions a step = 2 prompts x 4
    assert (out / "reward_curve.png").stat().st_size > 5000


def test_a_killed_grpo_run_resumes_at_its_checkpoint_with_the_same_prompts(
    tiny_glm: Path, grpo_shard: Path, tmp_path: Path
) -> None:
    settings = {"max_steps": 4, "save_strategy": "steps", "save_steps": 2}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def worker(recipe: dict, kill_at: int) -> subprocess.CompletedProcess:
        # every run in a fresh process: sampling must not depend on what earlier tests left in this one
        return subprocess.run([sys.executable, str(HERE / "train_worker.py"), json.dumps(recipe), str(kill_at)],
                              env=env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip

    straight = tmp_path / "straight"
    proc = worker(_recipe(tiny_glm, grpo_shard, straight, **settings), 0)
    assert proc.returncode == 0, proc.stderr[-3000:]
    crashed = tmp_path / "crashed"
    recipe = _recipe(tiny_glm, grpo_shard, crashed, **settings)
    proc = worker(recipe, 3)
    assert proc.returncode == 137, proc.stderr[-3000:]
    assert (crashed / "checkpoint-2").is_dir() and not (crashed / "checkpoint-4").exists()
    proc = worker(recipe, 0)  # the same command again: it resumes
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"resumed_from": str(crashed / "checkpoint-2"), "global_step": 4}
    a = (straight / "data_order.jsonl").read_text().splitlines()
    b = (crashed / "data_order.jsonl").read_text().splitlines()
    assert a == b and len(b) == 4  # the same prompts at every step; the lost step 3 is not counted twice
    ra = {r["step"]: r["reward"] for r in read_training_log(straight / "train_log.jsonl") if "reward" in r}
    rb = {r["step"]: r["reward"] for r in read_training_log(crashed / "train_log.jsonl") if "reward" in r}
    assert sorted(rb) == [1, 2, 3, 4]
    for step in (1, 2, 3, 4):  # sampling resumes from the checkpoint's RNG state: the same completions
        assert rb[step] == pytest.approx(ra[step], abs=1e-6), (ra, rb)


def test_records_grpo_cannot_use_are_named_and_skipped(tiny_glm: Path, tmp_path: Path) -> None:
    records = _records()
    page = records[0].images[0]
    records.append(Record(id="doc", task="lm", template="none", images=[page], messages=[
        {"role": "assistant", "content": [{"type": "text", "text": "Hello"}, {"type": "image"}]}]))  # fmt: skip
    records.append(records[1].model_copy(update={"id": "long-prompt", "images": [page] * 40, "messages": [
        {"role": "user", "content": [{"type": "image"}] * 40 + [{"type": "text", "text": "Transcribe"}]},
        records[1].messages[1]]}))  # fmt: skip
    records.append(records[0].model_copy(update={"id": "no-answers", "meta": {"answers": []}}))
    shard = tmp_path / "mixed.parquet"
    write_shard(shard, [Record.model_validate(r.model_dump()) for r in records])
    out = tmp_path / "run"
    result = run_training(load_recipe(_recipe(tiny_glm, shard, out, max_steps=1)), resume="never")
    assert result.scan.kept == 4 and result.global_step == 1
    skipped = {
        e["id"]: e["reason"]
        for e in map(json.loads, (out / "skipped_records.jsonl").read_text().splitlines())
    }
    assert skipped["doc"] == "GRPO needs chat records (a prompt, then the answer)"
    assert "exceed max_length 512" in skipped["long-prompt"]
    assert "meta.answers must be a non-empty list" in skipped["no-answers"]


# ------------------------------------------------------------------------------------------ recipes
def test_the_papers_grpo_recipe() -> None:
    paper = load_recipe("grpo-glm4v-9b", ["training.bf16=false", "training.use_vllm=false"])
    t = paper.training
    assert paper.stage == "grpo" and t["num_generations"] == 16
    assert (t["epsilon"], t["epsilon_high"]) == (0.2, 0.28) and t["max_steps"] == 500
    assert t["learning_rate"] == 1e-6 and t["lr_scheduler_type"] == "constant"
    assert paper.grpo.discard_zero_variance and [r.kind for r in paper.rewards] == ["judge", "format", "ocr"]
    args = training_arguments(paper, world_size=8)
    assert type(args).__name__ == "GRPOConfig" and args.gradient_accumulation_steps == 16
    assert args.per_device_train_batch_size * 16 * 8 // args.num_generations == 32  # 32 prompts an iteration
    assert args.beta > 0 and args.loss_type == "dapo"
    for name in ("grpo-lora-1gpu", "grpo-tiny-cpu"):
        assert load_recipe(name).stage == "grpo"
    base = {"stage": "grpo", "model": {"path": "m"}, "training": {"output_dir": "o"}}
    with pytest.raises(ValueError, match="kind 'judge' needs a judge"):
        load_recipe({**base, "rewards": [{"kind": "judge"}]})
    with pytest.raises(ValueError, match="names must differ"):
        load_recipe({**base, "rewards": [{"kind": "format"}, {"kind": "format"}]})
    with pytest.raises(ValueError, match="training.reward_weights: set each reward's weight"):
        load_recipe({**base, "training": {"reward_weights": [1.0]}})
    with pytest.raises(
        ValueError, match="training.epsilon_hgh: unknown GRPOConfig field; did you mean epsilon_high"
    ):
        load_recipe({**base, "training": {"epsilon_hgh": 0.28}})
