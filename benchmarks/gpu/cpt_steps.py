"""A few CPT steps of any checkpoint at a given context: tokens/s and peak memory on this machine.

Builds CPT records sized to ``--context`` from the bundled essays with the data engine (visual
tokens counted for the checkpoint's family), then runs ``glyph train cpt``'s own code path
(:func:`glyph.train.run.run_training`: GlyphTrainer, the collator, gradient checkpointing, LoRA)
for ``--warmup`` + ``--steps`` optimizer steps, timing only the last ``--steps``.

On a GPU (e.g. the full-size GLM-4.1V-9B architecture with random weights, bf16, LoRA, 32K):

    python benchmarks/gpu/cpt_steps.py --model /path/to/glm4v-9b-random --context 32768 --lora 16

On a CPU with a tiny checkpoint (what the test runs):

    glyph train tiny-model /tmp/tiny-glm --tokenizer wordlevel
    python benchmarks/gpu/cpt_steps.py --model /tmp/tiny-glm --context 2048 --steps 2 --warmup 1

Prints one JSON object: tokens/s, visual tokens and target tokens per step, seconds per step,
peak memory (GPU: ``torch.cuda.max_memory_allocated``; CPU: the process's peak RSS) and the device.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from glyph.train.callbacks import read_training_log
from glyph.train.cpt import load_data_config
from glyph.train.cpt.engine import build_cpt_data
from glyph.train.recipes import load_recipe
from glyph.train.run import run_training

FAMILY = {"glm4v": "glm4v", "qwen2_5_vl": "qwen2.5vl", "qwen2_vl": "qwen2vl", "qwen3_vl": "qwen3vl"}


class StepClock(TrainerCallback):
    """Wall time of each optimizer step (CUDA synchronised), and the GPU's peak after the warmup."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.times: list[float] = []
        self._t0 = 0.0

    def _sync(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import torch

        self._sync()
        if state.global_step == self.warmup and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._t0 = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._sync()
        if state.global_step > self.warmup:
            self.times.append(time.perf_counter() - self._t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint directory (or hub id)")
    parser.add_argument("--context", type=int, default=32768, help="tokens per record")
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (allocator, kernels)")
    parser.add_argument("--batch", type=int, default=1, help="records per step")
    parser.add_argument("--lora", type=int, default=16, help="LoRA rank; 0 trains every weight")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on GPU), bf16, fp16, fp32")
    parser.add_argument("--attn", default=None, help="attn_implementation: sdpa, flash_attention_2, eager")
    parser.add_argument("--no-gradient-checkpointing", action="store_true")
    parser.add_argument("--tasks", default="lm,ocr", help="CPT tasks of the records (comma-separated)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()

    import torch
    from transformers import AutoConfig

    model_type = AutoConfig.from_pretrained(args.model).model_type
    family = FAMILY.get(model_type, "glm4v")
    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cpt"
        n = args.batch * (args.warmup + args.steps)
        cfg = load_data_config({
            "context": {"max_tokens": args.context, "vlms": [family]},
            "tasks": {"lm": {"window": 3.0}, "ocr": {"pages": [4, 64], "window": 2.0}},
        })  # fmt: skip
        t0 = time.perf_counter()
        built = build_cpt_data(
            "essays", data, cfg, seed=0, samples=n + 4, tasks=args.tasks.split(","), shard_size=64
        )
        build_s = time.perf_counter() - t0
        recipe = load_recipe({
            "model": {"path": args.model, "dtype": args.dtype, "attn_implementation": args.attn,
                      "gradient_checkpointing": not args.no_gradient_checkpointing,
                      "lora": {"r": args.lora, "alpha": 2 * args.lora} if args.lora else None},
            "data": {"shards": [str(data)], "max_length": int(args.context * 1.1), "check_images": False},
            "collator": {"log_record_ids": False},
            "training": {"output_dir": str(Path(tmp) / "run"), "per_device_train_batch_size": args.batch,
                         "max_steps": args.warmup + args.steps, "learning_rate": 1e-5, "logging_steps": 1,
                         "save_strategy": "no", "report_to": "none", "disable_tqdm": True, "seed": 0,
                         "bf16": cuda and args.dtype in ("auto", "bf16"), "use_cpu": not cuda},
        })  # fmt: skip
        clock = StepClock(args.warmup)
        result = run_training(recipe, resume="never", callbacks=[clock], save_final=False)
        rows = [r for r in read_training_log(Path(tmp) / "run" / "train_log.jsonl") if "loss" in r]
    timed = [r for r in rows if r["step"] > args.warmup]
    seconds = sum(clock.times)
    tokens = sum(r["tokens_per_step"] for r in timed)
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**30
        device = torch.cuda.get_device_name(0)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        device = "cpu"
    report = {
        "model": args.model,
        "model_type": model_type,
        "device": device,
        "context": args.context,
        "batch": args.batch,
        "lora": args.lora,
        "gradient_checkpointing": not args.no_gradient_checkpointing,
        "records_built": built.records,
        "records_trained": result.scan.kept,
        "data_build_s": round(build_s, 2),
        "timed_steps": len(clock.times),
        "seconds_per_step": round(seconds / max(1, len(clock.times)), 3),
        "tokens_per_step": round(tokens / max(1, len(timed)), 1),
        "visual_tokens_per_step": round(
            sum(r["visual_tokens_per_step"] for r in timed) / max(1, len(timed)), 1
        ),
        "target_tokens_per_step": round(
            sum(r["target_tokens_per_step"] for r in timed) / max(1, len(timed)), 1
        ),
        "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
        "peak_memory_gib": round(peak, 2),
        "losses": [round(r["loss"], 4) for r in rows],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    sys.exit(0 if len(clock.times) == args.steps else 1)


if __name__ == "__main__":
    main()
