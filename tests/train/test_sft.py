"""SFT on tiny random GLM-4.1V and Qwen2.5-VL: the data builder (pages, OCR mix, bad examples), the exact
label mask through TRL's SFTTrainer, training, kill and resume, bad shards, and the paper's recipes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import known_text, small_config

from glyph.render import render_pages
from glyph.train.callbacks import read_training_log
from glyph.train.collate import IGNORE_INDEX, VisionCollator
from glyph.train.recipes import load_recipe, training_arguments
from glyph.train.records import Record
from glyph.train.run import run_training
from glyph.train.sft.data import build_sft_data, ocr_prompts
from glyph.train.shards import RECORD_SCHEMA, iter_shard, list_shards

HERE = Path(__file__).parent
QUESTION = "What is written on the page ?"


def with_thinking_tags(src: Path, out: Path) -> Path:
    """A copy of a tiny checkpoint whose tokenizer has <think> and </think> as added tokens (as GLM-4.1V's and
    Qwen3's have), embeddings resized to match."""
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    if not out.exists():
        shutil.copytree(src, out)
        tok = AutoTokenizer.from_pretrained(out)
        tok.add_tokens(["<think>", "</think>"])
        model = AutoModelForImageTextToText.from_pretrained(out)
        model.resize_token_embeddings(len(tok))
        model.save_pretrained(out)
        tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def think_models(tiny_glm: Path, tiny_qwen: Path, tiny_root: Path) -> dict[str, Path]:
    return {
        "glm4v": with_thinking_tags(tiny_glm, tiny_root / "glm4v-think"),
        "qwen2.5vl": with_thinking_tags(tiny_qwen, tiny_root / "qwen2.5vl-think"),
    }


def examples(n: int, words: int = 30) -> list[dict]:
    return [
        {"id": f"e{i}", "context": known_text(words, i), "question": QUESTION, "answer": known_text(2, i),
         "thinking": f"the page says {known_text(2, i)}", "metric": "string_match_all"}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def sft_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sft-data")
    summary = build_sft_data(examples(8), out, small_config(), ocr_share=0.2, seed=3)
    assert summary.sft == 8 and summary.ocr == 2 and summary.failed == 0
    return out


def _recipe(model: Path, data: Path, out: Path, **training: object) -> dict:
    return {
        "stage": "sft",
        "model": {"path": str(model), "dtype": "fp32"},
        "data": {"shards": [str(data)], "max_length": 1024},
        "training": {"output_dir": str(out), "per_device_train_batch_size": 2, "learning_rate": 2e-2,
                     "lr_scheduler_type": "constant", "max_steps": 10, "logging_steps": 1, "save_strategy": "no",
                     "use_cpu": True, "seed": 0, "disable_tqdm": True, **training},
    }  # fmt: skip


def _losses(out: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_training_log(out / "train_log.jsonl") if "loss" in r}


# ------------------------------------------------------------------------------------------ data
def test_sft_records_hold_the_pages_the_question_and_the_thinking_answer(sft_dir: Path) -> None:
    records = [r for path in list_shards(sft_dir) for r in iter_shard(path, check_images=True)]
    assert all(isinstance(r, Record) for r in records)
    sft = [r for r in records if r.task == "sft"]
    first = sft[0]
    pages = [p for p in render_pages(known_text(30, 0), small_config()) if p.text.strip()]
    assert [im.size for im in first.pil_images()] == [p.image.size for p in pages]
    assert [im.tobytes() for im in first.pil_images()] == [p.image.convert("RGB").tobytes() for p in pages]
    assert first.messages[0].content[-1].text == QUESTION
    assert first.targets == [f"<think>\nthe page says {known_text(2, 0)}\n</think>\n\n{known_text(2, 0)}"]
    assert first.meta["answers"] == [known_text(2, 0)] and first.meta["metric"] == "string_match_all"
    assert first.meta["config"]["page-size"] == "200,150"


def test_ocr_records_are_an_exact_share_and_transcribe_consecutive_pages(tmp_path: Path) -> None:
    summary = build_sft_data(
        examples(12, words=90), tmp_path, small_config(), ocr_share=0.25, ocr_pages=(2, 3), seed=1
    )
    assert (summary.sft, summary.ocr) == (12, 4)  # 0.25 of 16 records: one OCR record per three SFT records
    records = [r for r in iter_shard(next(tmp_path.glob("sft-*.parquet")))]
    by_id = {r.id: r for r in records}
    for ocr in (r for r in records if r.task == "ocr"):
        row = ocr.meta["row"]
        pages = [p for p in render_pages(known_text(90, row), small_config()) if p.text.strip()]
        first, k = ocr.meta["first_page"], ocr.meta["pages"]
        assert 2 <= k <= 3 and len(ocr.images) == k
        assert ocr.targets == ["\n".join(p.text for p in pages[first : first + k])]  # the drawn text, exactly
        assert ocr.messages[0].content[-1].text in ocr_prompts()
        assert by_id[ocr.id.removesuffix("-ocr")].task == "sft"
    again = tmp_path / "again"
    build_sft_data(examples(12, words=90), again, small_config(), ocr_share=0.25, ocr_pages=(2, 3), seed=1)
    assert (again / "sft-00000.parquet").read_bytes() == next(tmp_path.glob("sft-*.parquet")).read_bytes()


def test_bad_examples_are_named_and_the_rest_are_kept(tmp_path: Path) -> None:
    rows = examples(3)
    rows.insert(1, {"id": "no-question", "context": "text", "answer": "a"})
    rows.insert(2, {"id": "blank", "context": "   ", "question": "q", "answer": "a"})
    rows.append({"id": "huge", "context": known_text(3000), "question": "q", "answer": "a"})
    rows.append("not an object")
    summary = build_sft_data(rows, tmp_path, small_config(), ocr_share=0.0, max_tokens=600)
    assert summary.sft == 3 and summary.failed == 4
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    by_id = {e["id"]: e for e in errors}
    assert by_id["no-question"]["row"] == 1 and "missing field 'question'" in by_id["no-question"]["reason"]
    assert "context: Value error, is blank" in by_id["blank"]["reason"]
    assert (
        by_id["huge"]["reason"].startswith("does not fit:")
        and "over max_tokens 600" in by_id["huge"]["reason"]
    )
    assert by_id[None]["reason"] == "expected a JSON object, got str"
    info = json.loads((tmp_path / "sft_data.json").read_text())
    assert info["summary"]["failed"] == 4 and info["config"]["page-size"] == "200,150"


# ------------------------------------------------------------------------------------------ mask
def test_sft_label_mask_through_sfttrainer_is_exactly_the_thinking_answer_and_stop(
    tiny_model, think_models: dict[str, Path], tmp_path: Path
) -> None:
    arch, _ = tiny_model
    model_dir = think_models[arch]
    data = tmp_path / "data"
    build_sft_data(examples(2), data, small_config(), ocr_share=0.0)
    from glyph.train.models import load_model
    from glyph.train.sft.trainer import SftHooks

    recipe = load_recipe(_recipe(model_dir, data, tmp_path / "run", per_device_train_batch_size=1))
    collator = VisionCollator.from_pretrained(str(model_dir), return_record_ids=True)
    from glyph.train.dataset import RecordDataset

    dataset, _ = RecordDataset.from_shards([data], length=collator.length)
    trainer = SftHooks().build_trainer(
        recipe, model=load_model(recipe.model), args=training_arguments(recipe), train_dataset=dataset,
        eval_dataset=None, collator=collator, processing_class=collator.processor, callbacks=[],
    )  # fmt: skip
    batch = next(iter(trainer.get_train_dataloader()))  # what SFTTrainer feeds the model
    record = dataset[dataset.ids.index(batch["record_ids"][0])]
    tok, processor = collator.tokenizer, collator.processor
    # expected, from the processor and tokenizer alone: the prompt as the processor expands it, then the target
    user = {"role": "user", "content": [{"type": "image", "image": im} for im in record.pil_images()]
            + [{"type": "text", "text": QUESTION}]}  # fmt: skip
    prompt = list(processor.apply_chat_template([user], tokenize=True, add_generation_prompt=True,
                                                return_dict=True)["input_ids"][0])  # fmt: skip
    target = tok(record.targets[0], add_special_tokens=False)["input_ids"]
    think, end_think = tok.convert_tokens_to_ids("<think>"), tok.convert_tokens_to_ids("</think>")
    assert target[0] == think and end_think in target  # the tags are single added tokens, learned as such
    stop = tok.convert_tokens_to_ids("<|im_end|>" if arch == "qwen2.5vl" else "<|endoftext|>")
    ids = batch["input_ids"][0].tolist()
    labels = batch["labels"][0].tolist()
    n = int(batch["attention_mask"][0].sum())
    assert ids[: len(prompt)] == prompt and ids[len(prompt) : len(prompt) + len(target)] == target
    assert ids[len(prompt) + len(target)] == stop and n == len(prompt) + len(target) + 1
    expected = [IGNORE_INDEX] * len(ids)
    expected[len(prompt) : n] = ids[len(prompt) : n]
    assert labels == expected


# ------------------------------------------------------------------------------------------ training
def test_sft_loss_falls_and_logs_accuracy_and_tokens(tiny_model, sft_dir: Path, tmp_path: Path) -> None:
    _, model = tiny_model
    result = run_training(load_recipe(_recipe(model, sft_dir, tmp_path / "run")), resume="never")
    assert result.global_step == 10 and result.scan.tasks == {"sft": 8, "ocr": 2}
    rows = [r for r in read_training_log(tmp_path / "run" / "train_log.jsonl") if "loss" in r]
    losses = [r["loss"] for r in rows]
    assert sum(losses[5:]) < 0.8 * sum(losses[:5]), losses  # epoch 2 against epoch 1: the same 10 records
    assert all(
        "mean_token_accuracy" in r and r["target_tokens_per_step"] > 0 for r in rows
    )  # SFTTrainer's + ours
    assert rows[-1]["mean_token_accuracy"] > rows[0]["mean_token_accuracy"]
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()


def test_a_killed_sft_run_resumes_with_the_same_data_and_losses(
    tiny_glm: Path, sft_dir: Path, tmp_path: Path
) -> None:
    settings = {"max_steps": 6, "save_strategy": "steps", "save_steps": 3, "learning_rate": 1e-2}
    straight = tmp_path / "straight"
    run_training(load_recipe(_recipe(tiny_glm, sft_dir, straight, **settings)), resume="never")
    crashed = tmp_path / "crashed"
    recipe = _recipe(tiny_glm, sft_dir, crashed, **settings)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, str(HERE / "train_worker.py"), json.dumps(recipe), "4"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 137, proc.stderr[-3000:]
    assert (crashed / "checkpoint-3").is_dir() and max(_losses(crashed)) == 4
    result = run_training(load_recipe(recipe), resume="auto")
    assert result.resumed_from == str(crashed / "checkpoint-3") and result.global_step == 6
    order = [(straight / "data_order.jsonl").read_text(), (crashed / "data_order.jsonl").read_text()]
    assert order[0] == order[1]
    la, lb = _losses(straight), _losses(crashed)
    assert sorted(lb) == list(range(1, 7))
    for step in range(1, 7):
        assert lb[step] == pytest.approx(la[step], rel=1e-4, abs=1e-5), (step, la, lb)


def test_bad_shard_records_are_named_and_skipped_and_training_goes_on(
    tiny_qwen: Path, sft_dir: Path, tmp_path: Path
) -> None:
    good = [r for r in iter_shard(next(sft_dir.glob("sft-*.parquet")))][:4]
    rows = [r.to_row() for r in good]
    rows.append(
        good[0].to_row()
        | {"id": "bad-image", "images": [{"bytes": b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "path": None}]}
    )
    long_one = good[1].model_copy(update={"id": "too-long", "messages": [
        good[1].messages[0], {"role": "assistant", "content": [{"type": "text", "text": known_text(1500)}]}]})  # fmt: skip
    rows.append(Record.model_validate(long_one.model_dump()).to_row())
    path = tmp_path / "mixed.parquet"
    with pq.ParquetWriter(path, RECORD_SCHEMA) as w:
        for row in rows:
            w.write_table(pa.Table.from_pylist([row], schema=RECORD_SCHEMA))
    out = tmp_path / "run"
    result = run_training(load_recipe(_recipe(tiny_qwen, path, out, max_steps=2)), resume="never")
    assert result.global_step == 2 and result.scan.kept == 4
    skipped = {e["id"]: e for e in map(json.loads, (out / "skipped_records.jsonl").read_text().splitlines())}
    assert set(skipped) == {"bad-image", "too-long"}
    assert (
        "mixed.parquet row 4" in skipped["bad-image"]["where"] and "corrupt" in skipped["bad-image"]["reason"]
    )
    assert "exceed max_length 1024" in skipped["too-long"]["reason"]


# ------------------------------------------------------------------------------------------ recipes
def test_the_papers_sft_recipe_and_refused_options() -> None:
    paper = load_recipe("sft-glm4v-9b", ["training.bf16=false"])
    t = paper.training
    assert paper.stage == "sft" and paper.global_batch_size == 32 and t["max_steps"] == 1500
    assert (t["adam_beta1"], t["adam_beta2"]) == (0.9, 0.95) and t["warmup_steps"] == 160
    assert t["learning_rate"] == 5e-6 and t["lr_scheduler_type"] == "cosine_with_min_lr"
    assert t["lr_scheduler_kwargs"] == {"min_lr": 2e-6}
    args = training_arguments(paper, world_size=8)
    assert type(args).__name__ == "SFTConfig" and args.gradient_accumulation_steps == 4
    assert (
        args.gradient_checkpointing is False
    )  # the model section turns it on (model.gradient_checkpointing)
    for name in ("sft-lora-1gpu", "sft-tiny-cpu"):
        assert load_recipe(name).stage == "sft"
    base = {"stage": "sft", "model": {"path": "m"}, "training": {"output_dir": "o"}}
    with pytest.raises(ValueError, match="training.packing: not used by glyph's SFT"):
        load_recipe({**base, "training": {"packing": True}})
    with pytest.raises(ValueError, match="training.num_generations: unknown SFTConfig field"):
        load_recipe({**base, "training": {"num_generations": 4}})


def test_added_vocabulary_is_text_and_control_tokens_are_refused(
    think_models: dict[str, Path], small_pages
) -> None:
    from glyph.train.records import RecordError

    c = VisionCollator.from_pretrained(str(think_models["qwen2.5vl"]))
    record = Record(id="tags", images=[small_pages[0].image], messages=[
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "why <think> ?"}]},
        {"role": "assistant", "content": "<think>\nr\n</think>\n\nok"}])  # fmt: skip
    enc = c.encode(record)  # <think> is an added, non-special token: ordinary vocabulary, in any turn
    think = c.tokenizer.convert_tokens_to_ids("<think>")
    labelled = [i for i, label in zip(enc.input_ids, enc.labels) if label != IGNORE_INDEX]
    assert enc.input_ids.count(think) == 2 and labelled.count(think) == 1  # learned in the answer only
    bad = record.model_copy(update={"id": "ctl", "messages": [record.messages[0], Record.model_validate(
        {"id": "x", "messages": [{"role": "assistant", "content": "a <|im_start|> b"}]}).messages[0]]})  # fmt: skip
    with pytest.raises(RecordError, match=r"record 'ctl'.*special token '<\|im_start\|>'"):
        c.encode(bad)
