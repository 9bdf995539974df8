"""Training for real on tiny random-weight models: the loss falls, a killed run resumes exactly, LoRA,
the logs (tokens/s, visual tokens per step) and the recipe checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import known_text, small_config

from glyph.render import render_pages
from glyph.tokens import get_vlm_rule
from glyph.train.callbacks import read_training_log
from glyph.train.recipes import builtin_recipes, load_recipe, training_arguments
from glyph.train.records import Record
from glyph.train.run import run_training
from glyph.train.shards import write_shard

HERE = Path(__file__).parent


def _records(n: int) -> list[Record]:
    """OCR records and interleaved-document records on small pages (known words, so targets are learnable)."""
    out = []
    for i in range(n):
        text = known_text(12 + i % 3, i)
        pages = list(render_pages(text, small_config()))[:1]
        if i % 3 == 2:  # an interleaved document: text, page, text
            out.append(Record(id=f"lm{i}", task="lm", template="none", images=[pages[0].image], messages=[
                {"role": "assistant", "content": [{"type": "text", "text": known_text(4, i)}, {"type": "image"},
                                                  {"type": "text", "text": " " + known_text(5, i + 1)}]}]))  # fmt: skip
        else:
            out.append(Record(id=f"ocr{i}", task="ocr", images=[pages[0].image], messages=[
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Transcribe all text"}]},
                {"role": "assistant", "content": text}]))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shard") / "train-00000.parquet"
    write_shard(path, _records(6))
    return path


def _recipe(model: Path, shard: Path, out: Path, **training: object) -> dict:
    return {
        "model": {"path": str(model), "dtype": "fp32"},
        "data": {"shards": [str(shard)], "max_length": 512},
        "training": {
            "output_dir": str(out),
            "per_device_train_batch_size": 2,
            "learning_rate": 2e-2,
            "lr_scheduler_type": "constant",
            "max_steps": 16,
            "logging_steps": 1,
            "save_strategy": "no",
            "use_cpu": True,
            "seed": 0,
            "disable_tqdm": True,
            **training,
        },
    }


def _losses(out: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_training_log(out / "train_log.jsonl") if "loss" in r}


def test_loss_falls_when_overfitting_a_handful_of_records(tiny_model, shard: Path, tmp_path: Path) -> None:
    arch, model = tiny_model
    result = run_training(load_recipe(_recipe(model, shard, tmp_path / "run")), resume="never")
    losses = _losses(tmp_path / "run")
    assert result.global_step == 16 and sorted(losses) == list(range(1, 17))
    first, last = sum(losses[s] for s in (1, 2, 3)) / 3, sum(losses[s] for s in (14, 15, 16)) / 3
    assert first > 3.5  # random init: near ln(vocab size) = ln(86)
    assert last < 0.7 * first, losses  # the six records' targets are being memorised
    assert (tmp_path / "run" / "loss_curve.png").stat().st_size > 5000
    # the final directory is a checkpoint like the one we started from: processor and model reload
    from glyph.train.collate import VisionCollator

    final = tmp_path / "run" / "final"
    assert (final / "model.safetensors").is_file()
    again = VisionCollator.from_pretrained(str(final))
    assert again.rule.tokens_for_image(595, 842) == get_vlm_rule(arch).tokens_for_image(595, 842)


def test_logs_count_visual_and_target_tokens_per_step(tiny_glm: Path, shard: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_training(load_recipe(_recipe(tiny_glm, shard, out, max_steps=3)), resume="never")
    order = {
        r["step"]: r["ids"] for r in map(json.loads, (out / "data_order.jsonl").read_text().splitlines())
    }
    by_id = {r.id: r for r in _records(6)}
    rule = get_vlm_rule("glm4v")
    for row in read_training_log(out / "train_log.jsonl"):
        if "loss" not in row:
            continue
        ids = order[row["step"]]
        assert len(ids) == 2
        visual = sum(rule.tokens_for_image(w, h) for i in ids for w, h in by_id[i].image_sizes())
        assert row["visual_tokens_per_step"] == visual  # counted from the batch, checked by the rule
        assert row["tokens_per_second"] > 0 and row["target_tokens_per_step"] > 0
        assert row["tokens_per_step"] > visual + row["target_tokens_per_step"]


def test_a_killed_run_resumes_at_the_same_step_with_the_same_data_and_losses(
    tiny_glm: Path, shard: Path, tmp_path: Path
) -> None:
    settings = {"max_steps": 6, "save_strategy": "steps", "save_steps": 3, "learning_rate": 1e-2}
    straight = tmp_path / "straight"
    run_training(load_recipe(_recipe(tiny_glm, shard, straight, **settings)), resume="never")
    crashed = tmp_path / "crashed"
    recipe = _recipe(tiny_glm, shard, crashed, **settings)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("OMP_THREAD_LIMIT", None)  # as many threads as this process, so the two runs compute alike
    proc = subprocess.run(
        [sys.executable, str(HERE / "train_worker.py"), json.dumps(recipe), "4"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 137, proc.stderr[-3000:]
    assert (crashed / "checkpoint-3").is_dir() and not (crashed / "checkpoint-6").exists()
    assert max(_losses(crashed)) == 4  # step 4 was logged, then lost with the process
    result = run_training(load_recipe(recipe), resume="auto")
    assert result.resumed_from == str(crashed / "checkpoint-3") and result.global_step == 6
    a = [json.loads(line) for line in (straight / "data_order.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (crashed / "data_order.jsonl").read_text().splitlines()]
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]  # the lost step 4 is not counted twice
    assert a == b  # the same records in the same order at every step
    la, lb = _losses(straight), _losses(crashed)
    assert sorted(lb) == [1, 2, 3, 4, 5, 6]
    visual = lambda out: {r["step"]: r["visual_tokens_per_step"] for r in read_training_log(out / "train_log.jsonl")  # noqa: E731
                          if "loss" in r}  # fmt: skip
    assert visual(crashed) == visual(straight)  # per-step counts restart at the checkpoint's step
    for step in range(1, 7):
        assert lb[step] == pytest.approx(la[step], rel=1e-4, abs=1e-5), (step, la, lb)


def test_lora_trains_only_adapters_on_the_language_model(
    tiny_qwen: Path, shard: Path, tmp_path: Path
) -> None:
    from glyph.train.models import ModelSpec, load_model, trainable_parameters

    model = load_model(ModelSpec(path=str(tiny_qwen), dtype="fp32", lora={"r": 4, "alpha": 8}))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    n_train, n_total = trainable_parameters(model)
    assert 0 < n_train < n_total / 5
    frozen = load_model(ModelSpec(path=str(tiny_qwen), dtype="fp32", freeze_vision=True))
    assert all(
        not p.requires_grad for n, p in frozen.named_parameters() if ".visual." in n and "merger" not in n
    )
    assert any(p.requires_grad for n, p in frozen.named_parameters() if "merger" in n)
    recipe = _recipe(tiny_qwen, shard, tmp_path / "lora", max_steps=6, learning_rate=5e-2)
    recipe["model"]["lora"] = {"r": 8, "alpha": 16, "dropout": 0.0}
    run_training(load_recipe(recipe), resume="never")
    losses = _losses(tmp_path / "lora")
    assert losses[6] < losses[1]
    assert (tmp_path / "lora" / "final" / "adapter_config.json").is_file()


def test_recipes_name_the_bad_key(tmp_path: Path) -> None:
    base = {"model": {"path": "m"}, "data": {"shards": ["d"]}, "training": {"output_dir": str(tmp_path)}}
    with pytest.raises(
        ValueError,
        match=r"training\.learnig_rate: unknown TrainingArguments field; did you mean learning_rate",
    ):
        load_recipe({**base, "training": {"learnig_rate": 1e-4}})
    with pytest.raises(ValueError, match=r"data\.shardz: Extra inputs are not permitted"):
        load_recipe({**base, "data": {"shardz": ["d"]}})
    with pytest.raises(ValueError, match=r"model\.lora\.r: Input should be greater than or equal to 1"):
        load_recipe({**base, "model": {"path": "m", "lora": {"r": 0}}})
    with pytest.raises(ValueError, match="training.remove_unused_columns must be False"):
        load_recipe({**base, "training": {"remove_unused_columns": True}})
    with pytest.raises(ValueError, match="no such file or built-in recipe; built-in: cpt-glm4v-9b"):
        load_recipe("no-such-recipe")
    r = load_recipe(base, ["training.learning_rate=3e-4", "model.lora.r=8", "global_batch_size=12"])
    assert r.training["learning_rate"] == 3e-4 and r.model.lora.r == 8
    args = training_arguments(r.model_copy(update={"training": {**r.training, "per_device_train_batch_size": 2}}),
                              world_size=3)  # fmt: skip
    assert args.gradient_accumulation_steps == 2 and args.remove_unused_columns is False


def test_the_papers_recipe_and_the_accelerate_configs_load() -> None:
    names = builtin_recipes()
    assert {"cpt-glm4v-9b", "cpt-lora-1gpu", "cpt-tiny-cpu"} <= set(names)
    paper = load_recipe("cpt-glm4v-9b")
    assert paper.global_batch_size == 170 and paper.training["learning_rate"] == 2e-6
    assert paper.training["lr_scheduler_type"] == "cosine" and paper.training["max_steps"] == 4000
    assert paper.data.max_length == 131072
    for name in names:
        load_recipe(name)
    on_cpu = load_recipe(
        "cpt-glm4v-9b", ["training.bf16=false"]
    )  # TrainingArguments refuse bf16 without a GPU
    args = training_arguments(on_cpu, world_size=8)  # 8 GPUs x 1 x 21 = 168, the nearest to 170
    assert args.gradient_accumulation_steps == 21 and args.glyph_global_batch == 168
    from accelerate.commands.config.config_args import ClusterConfig

    from glyph.train.recipes import accelerate_config

    zero3 = ClusterConfig.from_yaml_file(str(accelerate_config("zero3-8gpu")))
    assert zero3.distributed_type == "DEEPSPEED" and zero3.num_processes == 8
    assert zero3.deepspeed_config["zero_stage"] == 3 and zero3.mixed_precision == "bf16"
    one = ClusterConfig.from_yaml_file(str(accelerate_config("single-gpu")))
    assert one.num_processes == 1


def test_the_training_set_leaves_out_corrupt_and_oversize_records_by_name(
    tiny_glm: Path, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from glyph.train.collate import VisionCollator
    from glyph.train.dataset import RecordDataset
    from glyph.train.shards import RECORD_SCHEMA

    good = _records(4)
    pages = [p.image for p in render_pages(known_text(400), small_config())][:5]
    big = Record(id="too-long", task="ocr", images=pages,
                 messages=[{"role": "user", "content": [{"type": "image"}] * 5 + [{"type": "text", "text": "Read"}]},
                           {"role": "assistant", "content": known_text(300)}])  # fmt: skip
    rows = [r.to_row() for r in good[:2]]
    rows.append(big.to_row())
    rows.append(good[2].to_row() | {"images": [{"bytes": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "path": None}]})
    rows += [r.to_row() for r in good[3:]]
    path = tmp_path / "mixed.parquet"
    with pq.ParquetWriter(path, RECORD_SCHEMA) as w:
        for row in rows:
            w.write_table(pa.Table.from_pylist([row], schema=RECORD_SCHEMA))
    c = VisionCollator.from_pretrained(str(tiny_glm))
    limit = max(c.length(r) for r in good) + 10
    assert c.length(big) > limit
    ds, report = RecordDataset.from_shards([path], length=c.length, max_length=limit)
    assert ds.ids == [good[0].id, good[1].id, good[3].id]
    assert [ds[i].id for i in range(len(ds))] == ds.ids and ds[2] == good[3]
    errors = {e.record_id: str(e) for e in report.errors}
    assert set(errors) == {"too-long", good[2].id}
    assert f"exceed max_length {limit}" in errors["too-long"] and "mixed.parquet" in errors["too-long"]
    assert "corrupt" in errors[good[2].id] and "row 3" in errors[good[2].id]
    batch = c([ds[i] for i in range(len(ds))])  # what is left trains
    assert batch["input_ids"].shape[0] == 3


def test_target_position_logits_give_the_full_loss_and_gradients(
    tiny_model, shard: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    from glyph.train.collate import VisionCollator
    from glyph.train.recipes import training_arguments
    from glyph.train.trainer import GlyphTrainer

    arch, path = tiny_model
    collator = VisionCollator.from_pretrained(str(path))
    batch = collator(_records(3))
    n_items = (batch["labels"][:, 1:] != -100).sum()
    args = training_arguments(load_recipe(_recipe(path, shard, tmp_path)))
    results = []
    for only in (True, False):
        torch.manual_seed(0)
        model = AutoModelForImageTextToText.from_pretrained(path)
        trainer = GlyphTrainer(model=model, args=args, data_collator=collator, target_logits_only=only,
                               image_token_id=collator.image_token_id)  # fmt: skip
        assert trainer.target_logits_only is only
        loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=n_items)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((loss.item(), grads))
        if only:
            image_positions = (batch["input_ids"] == collator.image_token_id).all(dim=0).sum()
            assert (
                image_positions > 0 and trainer._kept.numel() <= batch["input_ids"].shape[1] - image_positions
            )
    (a, ga), (b, gb) = results
    assert a == pytest.approx(b, rel=1e-5)
    assert ga.keys() == gb.keys()
    for name in ga:
        assert torch.allclose(ga[name], gb[name], rtol=1e-4, atol=1e-7), name


def test_an_inherited_omp_thread_limit_no_longer_corrupts_cpu_gradients(tiny_glm: Path) -> None:
    """torch 2.13 on CPU: with OMP_THREAD_LIMIT below torch's thread count, the patch embedding's Conv3d
    weight gradient comes out wrong; load_model shrinks torch's pool to the limit, and the gradient is right."""
    script = (
        "import sys, torch, warnings\n"
        "from glyph.train.models import ModelSpec, load_model\n"
        "torch.set_num_threads(2)\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    model = load_model(ModelSpec(path=sys.argv[1], dtype='fp32'))\n"
        "torch.manual_seed(0)\n"
        "x = torch.randn(256, 1176)\n"
        "model.model.visual.patch_embed(x).sum().backward()\n"
        "print(float(model.model.visual.patch_embed.proj.weight.grad.norm()), torch.get_num_threads(), len(w))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_THREAD_LIMIT": "1"}
    proc = subprocess.run([sys.executable, "-c", script, str(tiny_glm)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    grad, threads, warned = proc.stdout.split()
    import torch
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(tiny_glm)
    torch.manual_seed(0)
    x = torch.randn(256, 1176)
    model.model.visual.patch_embed(x).sum().backward()  # this process: no limit, torch's own pool
    assert float(grad) == pytest.approx(
        float(model.model.visual.patch_embed.proj.weight.grad.norm()), rel=1e-5
    )
    assert threads == "1" and int(warned) >= 1
