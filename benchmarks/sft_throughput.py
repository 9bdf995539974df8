"""SFT throughput: the same examples given as text tokens and as pages of the same text, one architecture.

For each context length, a text of that many Qwen tokens is cut from the bundled Paul Graham
essays and made into one SFT example two ways, as ``glyph data sft`` and the text baseline
would: (a) the context as plain text before the question, (b) the context rendered into pages
(reference default config unless ``--config`` / ``--set``) before the same question; the
target (a short thinking-style answer) is the same. Both go through the real SFT path: the
shared collator (labels on the answer only) and one ``training_step`` of ``GlyphSFTTrainer`` (TRL's
``SFTTrainer``: fused LM head, loss on the target tokens, backward). Optimizer steps are not
timed (they do not depend on the input). TRL's fused head projects only the labelled positions
onto the vocabulary on GPUs (Triton devices) and every position elsewhere; here it projects only
the labelled ones everywhere (``--score-all-positions`` for TRL's CPU behaviour), so a CPU run has
a GPU's cost structure instead of one dominated by a 151K-row vocabulary at every position.

Each (length, mode) runs in a fresh process: build the model, encode the batch, one warm-up
step, then the median of ``--repeat`` steps. On one CPU thread the clock is the process's CPU
time (what time-slicing on a busy machine leaves out; equal to wall time on an idle one),
otherwise wall time with the device synchronised. Reported per case: samples/s, tokens/s (all
non-padding tokens through the model) and context tokens/s (source text per second: what SFT
on long documents is paying for); the ratio is pages / text (above 1: pages train faster).

Models: random weights, the real GLM-4.1V (or Qwen2.5-VL) classes and image processor, Qwen's
BPE. ``--dims bench`` (default: ``glyph.readers.tiny.BENCH_DIMS``, hidden 256, 4 layers),
``mid`` (hidden 1024, 6 layers) or ``9b`` (the full GLM-4.1V-9B architecture, for a GPU). The
named sizes come from ``glyph.readers.tiny.DIMS`` (and the model from its ``build_tiny_vlm``) when
it has them; until then this script carries the same ``mid`` and ``9b`` values (below) and builds
every size by resizing a tiny checkpoint's config the way ``save_tiny_vlm`` sizes one
(``tests/bench/test_sft_throughput.py`` checks the two agree), weights made directly on the device.

    python benchmarks/sft_throughput.py                                   # bench dims, CPU, 1K-8K, ~5 min
    python benchmarks/sft_throughput.py --lengths 1k,2k,4k,8k,16k         # what results/sft_throughput.md ran
    python benchmarks/sft_throughput.py --dims 9b --device cuda --lengths 32k --gradient-checkpointing \\
        --out benchmarks/results/sft_throughput_9b.md                      # one 80+ GB GPU, bf16

The paper reports about 2x faster SFT at 128K on GPUs with its rendering (~3-4x compression).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

QUESTION = "What is the main point of the document above? Answer in one sentence."
THINKING = "The essay argues its point through examples; the first pages set out the claim."
ANSWER = "That the best work comes from following genuine curiosity rather than chasing prestige."

#: GLM-4.1V-9B-sized and mid-size dims (the values of glyph.readers.tiny.MID_DIMS / GLM4V_9B_DIMS on the
#: efficiency branch, used only while glyph.readers.tiny has no DIMS table).
LOCAL_DIMS: dict[str, dict[str, int]] = {
    "mid": {"text_hidden": 1024, "text_intermediate": 3424, "text_layers": 6, "text_heads": 8, "text_kv_heads": 2,
            "vision_hidden": 384, "vision_intermediate": 1024, "vision_heads": 3, "vision_depth": 2,
            "max_positions": 262144},
    "9b": {"text_hidden": 4096, "text_intermediate": 13696, "text_layers": 40, "text_heads": 32, "text_kv_heads": 2,
           "vision_hidden": 1536, "vision_intermediate": 13696, "vision_heads": 12, "vision_depth": 24,
           "max_positions": 131072},
}  # fmt: skip


# ------------------------------------------------------------------------------ the model
def named_dims(name: str) -> Any:
    """The TinyDims called ``name``: glyph.readers.tiny's table when it exists, else bench + LOCAL_DIMS."""
    from glyph.readers import tiny

    table = getattr(tiny, "DIMS", None)
    if table is not None:
        return table[name]
    if name == "bench":
        return tiny.BENCH_DIMS
    if name == "test":
        return tiny.TEST_DIMS
    return tiny.TinyDims(**LOCAL_DIMS[name])


def build_model(arch: str, dims_name: str, device: str, dtype: Any, workdir: Path) -> tuple[Any, Any, str]:
    """(model, processor, how it was built): random weights made directly on ``device`` in ``dtype``."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from glyph.readers import tiny
    from glyph.readers.local_hf import load_processor

    dims = named_dims(dims_name)
    if hasattr(tiny, "build_tiny_vlm"):
        vlm = tiny.build_tiny_vlm(arch, dims=dims, tokenizer="qwen", device=device, dtype=dtype)
        return vlm.model, vlm.processor, "glyph.readers.tiny.build_tiny_vlm"
    # processor files (tokenizer, image processor, template) from a tiny checkpoint, then its config resized
    small = tiny.save_tiny_vlm(arch, workdir / f"tiny-{arch}", tokenizer="qwen")
    config = AutoConfig.from_pretrained(small)
    text, vision = config.text_config, config.vision_config
    text.hidden_size, text.intermediate_size = dims.text_hidden, dims.text_intermediate
    text.num_hidden_layers, text.num_attention_heads = dims.text_layers, dims.text_heads
    text.num_key_value_heads, text.max_position_embeddings = dims.text_kv_heads, dims.max_positions
    if getattr(text, "layer_types", None):  # one entry per layer (Qwen2.5-VL)
        text.layer_types = [text.layer_types[0]] * dims.text_layers
    head_dim = dims.text_hidden // dims.text_heads
    rope = dict(text.rope_parameters)
    fraction = float(rope.get("partial_rotary_factor", 1.0))
    rope["mrope_section"] = tiny._mrope_section(head_dim, fraction)  # the tiny builder's own split rule
    text.rope_parameters = rope
    text.head_dim = head_dim
    vision.hidden_size, vision.intermediate_size = dims.vision_hidden, dims.vision_intermediate
    vision.num_heads, vision.depth = dims.vision_heads, dims.vision_depth or vision.depth
    vision.out_hidden_size = dims.text_hidden
    if hasattr(vision, "fullatt_block_indexes"):
        vision.fullatt_block_indexes = [vision.depth - 1]
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    return model, load_processor(str(small)), "tiny checkpoint's config resized to the dims (this script)"


# ------------------------------------------------------------------------------ one case (child)
def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Build the model and one batch (text or pages); time SFT training steps; runs in a fresh process."""
    import datasets
    import torch
    from trl import SFTConfig

    from glyph.cli.common import load_config
    from glyph.data import text_of_tokens
    from glyph.readers.local_hf import pick_device, pick_dtype
    from glyph.render import render_pages
    from glyph.train.collate import VisionCollator
    from glyph.train.models import model_facts
    from glyph.train.records import Record
    from glyph.train.rewards import thinking_response
    from glyph.train.sft.trainer import GlyphSFTTrainer

    device = pick_device(case["device"])
    dtype = pick_dtype(device, case["dtype"])
    cuda = device.startswith("cuda")
    if case["threads"]:
        torch.set_num_threads(case["threads"])
    if not case["score_all_positions"]:
        import trl.trainer.utils as trl_utils

        trl_utils._use_triton = lambda device: True  # only decides compact scoring in the fused head
    row: dict[str, Any] = {"length": case["length"], "mode": case["mode"]}
    with tempfile.TemporaryDirectory(prefix="glyph-sft-bench-") as tmp:
        model, processor, built = build_model(case["arch"], case["dims"], device, dtype, Path(tmp))
        config_dir = Path(tmp) / "config"
        model.config.save_pretrained(config_dir)  # model_facts reads the ids from a config file
        facts = model_facts(str(config_dir), processor)
    if case["gradient_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    collator = VisionCollator(processor, facts, return_record_ids=True)
    text = text_of_tokens(case["length"])
    target = thinking_response(ANSWER, THINKING)
    if case["mode"] == "text":
        user: list[dict[str, Any]] = [{"type": "text", "text": f"{text}\n\n{QUESTION}"}]
        images: list[Any] = []
    else:
        cfg = load_config(Path(case["config"]) if case["config"] else None, case["set"])
        start = time.perf_counter()
        pages = [p for p in render_pages(text, cfg) if p.text.strip()]
        row["render_s"] = time.perf_counter() - start
        row["pages"] = len(pages)
        user = [{"type": "image"}] * len(pages) + [{"type": "text", "text": QUESTION}]
        images = [p.image for p in pages]
    record = Record(id=f"{case['mode']}-{case['length']}", task="sft", images=images, messages=[
        {"role": "user", "content": user}, {"role": "assistant", "content": target}])  # fmt: skip
    start = time.perf_counter()
    batch = collator([record] * case["batch"])
    row["collate_s"] = time.perf_counter() - start
    row["tokens"] = int(batch["attention_mask"].sum())
    row["target_tokens"] = int((batch["labels"] != -100).sum())
    row["image_tokens"] = int((batch["input_ids"] == collator.image_token_id).sum())
    with tempfile.TemporaryDirectory(prefix="glyph-sft-bench-run-") as run_dir:
        args = SFTConfig(
            output_dir=run_dir, per_device_train_batch_size=case["batch"], report_to="none",
            use_cpu=not cuda, bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16,
            gradient_checkpointing=False, dataset_kwargs={"skip_prepare_dataset": True}, max_length=None,
            remove_unused_columns=False, disable_tqdm=True,
        )  # fmt: skip
        trainer = GlyphSFTTrainer(
            model=model, args=args, train_dataset=datasets.Dataset.from_dict({"index": [0]}),
            data_collator=collator, processing_class=processor, image_token_id=collator.image_token_id,
        )  # fmt: skip
        trainer.current_gradient_accumulation_steps = 1  # what train() sets per step; no accumulation here

        def sync() -> None:
            if cuda:
                torch.cuda.synchronize()

        cpu_clock = device == "cpu" and torch.get_num_threads() == 1

        def step() -> tuple[float, float]:
            inputs = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in batch.items()}
            sync()
            wall, cpu = time.perf_counter(), time.process_time()
            loss = trainer.training_step(trainer.model, inputs)
            sync()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            trainer.model.zero_grad(set_to_none=True)
            row.setdefault("loss", float(loss))
            return wall, cpu

        step()  # warm-up (allocator, kernels, lazily built buffers)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        runs = [step() for _ in range(case["repeat"])]
    times = [cpu if cpu_clock else wall for wall, cpu in runs]
    seconds = statistics.median(times)
    row.update(
        step_s=seconds,
        times_s=times,
        wall_s=[w for w, _ in runs],
        clock="process CPU time (1 thread)" if cpu_clock else "wall time",
        samples_per_s=case["batch"] / seconds,
        tokens_per_s=row["tokens"] / seconds,
        context_tokens_per_s=case["length"] * case["batch"] / seconds,
        peak_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        threads=torch.get_num_threads(),
        attn=str(getattr(model.config, "_attn_implementation", None)),
        params=sum(p.numel() for p in model.parameters()),
        built=built,
        torch=torch.__version__,
        gpu=torch.cuda.get_device_name() if cuda else None,
    )
    return row


def spawn(case: dict[str, Any]) -> dict[str, Any]:
    """``run_case`` in a fresh interpreter; its last stdout line is the JSON row."""
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore"}
    if case["threads"]:
        env.setdefault("OMP_NUM_THREADS", str(case["threads"]))
    res = subprocess.run([sys.executable, __file__, "--child", json.dumps(case)], check=False,
                         capture_output=True, text=True, env=env)  # fmt: skip
    if res.returncode:
        sys.exit(f"case {case['mode']} {case['length']} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ driver
def main() -> None:
    from glyph.eval.sample import length_label, parse_lengths

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--arch", default="glm4v", choices=["glm4v", "qwen2.5vl"])
    parser.add_argument(
        "--dims", default="bench", help="bench (default), mid, 9b (the full GLM-4.1V-9B), test"
    )
    parser.add_argument(
        "--lengths", default=None, help="context lengths in Qwen tokens, k = 1024 (default 1k,2k,4k,8k)"
    )
    parser.add_argument("--batch", type=int, default=1, help="examples per step (the same example repeated)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed steps per case after one warm-up (median)"
    )
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, ...")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), bf16, fp32")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1 on CPU)")
    parser.add_argument(
        "--gradient-checkpointing", action="store_true", help="recompute activations (long contexts on a GPU)"
    )
    parser.add_argument(
        "--score-all-positions",
        action="store_true",
        help="TRL's non-GPU fused head: project every position onto the vocabulary",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="render config JSON (default: reference default)"
    )
    parser.add_argument(
        "--set", action="append", default=[], help="render config override key=value (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sft_throughput.md"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(json.loads(args.child))))
        return
    from glyph.cli.common import load_config
    from glyph.readers.local_hf import pick_device

    load_config(args.config, args.set)  # fail early on a bad config
    named_dims(args.dims)
    device = pick_device(args.device)
    threads = args.threads if args.threads is not None else (1 if device == "cpu" else 0)
    lengths = parse_lengths(args.lengths or "1k,2k,4k,8k")
    started, load_start = time.perf_counter(), os.getloadavg()
    rows = []
    for n in lengths:
        pair = {}
        for mode in ("text", "pages"):
            case = {"arch": args.arch, "dims": args.dims, "length": n, "mode": mode, "batch": args.batch,
                    "repeat": args.repeat, "device": args.device, "dtype": args.dtype, "threads": threads,
                    "gradient_checkpointing": args.gradient_checkpointing,
                    "score_all_positions": args.score_all_positions,
                    "config": str(args.config) if args.config else None, "set": args.set}  # fmt: skip
            pair[mode] = spawn(case)
        t, p = pair["text"], pair["pages"]
        rows.append({"length": n, "text": t, "pages": p, "ratio": p["samples_per_s"] / t["samples_per_s"]})
        print(f"{length_label(n):>5}: {t['tokens']:,} vs {p['tokens']:,} tokens ({p['pages']} pages); step "
              f"{t['step_s']:.3f} vs {p['step_s']:.3f} s -> pages {rows[-1]['ratio']:.2f}x the samples/s", flush=True)  # fmt: skip
    load = os.getloadavg()
    meta = {
        "date": dt.datetime.now().isoformat(timespec="minutes"),
        "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
        "machine": f"{rows[0]['text']['gpu'] or platform.machine()}, {os.cpu_count()} cores; "
        f"{rows[0]['text']['device']} {rows[0]['text']['dtype']}, {rows[0]['text']['threads']} thread(s), "
        f"attn {rows[0]['text']['attn']}; torch {rows[0]['text']['torch']}",
        "load": f"load average {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f} at the start, "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the end (1 / 5 / 15 min)",
        "arch": args.arch,
        "dims": {"name": args.dims, **asdict(named_dims(args.dims))},
        "params": rows[0]["text"]["params"],
        "built": rows[0]["text"]["built"],
        "render": str(args.config or "reference default")
        + (f" with {', '.join(args.set)}" if args.set else ""),
        "batch": args.batch,
        "repeat": args.repeat,
        "gradient_checkpointing": args.gradient_checkpointing,
        "score_all_positions": args.score_all_positions,
        "wall_s": time.perf_counter() - started,
    }
    write_report(args.out, meta, rows)


def write_report(path: Path, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    from glyph.eval.sample import length_label

    d = meta["dims"]
    clock = rows[0]["text"]["clock"]
    lines = [
        "# SFT throughput: text tokens vs pages of the same text",
        "",
        (
            f"**Random-weight {meta['arch']}, dims `{d['name']}`** (LM hidden {d['text_hidden']}, "
            f"{d['text_layers']} layers, {d['text_heads']} heads / {d['text_kv_heads']} KV heads; vision tower "
            f"hidden {d['vision_hidden']}, {d['vision_depth']} layer(s); {meta['params'] / 1e6:,.1f}M parameters; "
            f"Qwen BPE; the real image processor; built by {meta['built']}). Absolute times depend on the machine; "
            "the ratios show how the two inputs' costs compare on one architecture."
        ),
        "",
        f"- date: {meta['date']}; machine: {meta['machine']}; {meta['load']}",
        f"- command: `{meta['command']}` ({meta['wall_s']:.0f} s in all)",
        f"- render config: {meta['render']}; text cut from the bundled Paul Graham essays to N Qwen tokens",
        f"- one SFT training step (GlyphSFTTrainer.training_step: collator's mask, TRL's fused LM head, loss on the "
        f"{rows[0]['text']['target_tokens']}-token thinking answer, backward), batch {meta['batch']}, one warm-up "
        f"then the median of {meta['repeat']}, by {clock}; each case in a fresh process"
        + ("; gradient checkpointing" if meta["gradient_checkpointing"] else "")
        + (
            "; every position projected onto the vocabulary (TRL off-GPU)"
            if meta["score_all_positions"]
            else "; only labelled positions projected onto the vocabulary (as TRL does on GPUs)"
        ),
        (
            "- tokens/s counts every non-padding token through the model; context tokens/s is source text per "
            "second; ratio = pages samples/s / text samples/s"
        ),
        "",
        "| context | pages | tokens (text) | tokens (pages) | step text (s) | step pages (s) | samples/s text "
        "| samples/s pages | tokens/s text | tokens/s pages | context tok/s text | context tok/s pages | ratio |"
        + (" peak GiB text / pages |" if rows[0]["text"]["peak_gib"] is not None else ""),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        + ("---:|" if rows[0]["text"]["peak_gib"] is not None else ""),
    ]
    for r in rows:
        t, p = r["text"], r["pages"]
        peak = f" {t['peak_gib']:.1f} / {p['peak_gib']:.1f} |" if t["peak_gib"] is not None else ""
        lines.append(
            f"| {length_label(r['length'])} | {p['pages']} | {t['tokens']:,} | {p['tokens']:,} | {t['step_s']:.3f} | "
            f"{p['step_s']:.3f} | {t['samples_per_s']:.3f} | {p['samples_per_s']:.3f} | {t['tokens_per_s']:,.0f} | "
            f"{p['tokens_per_s']:,.0f} | {t['context_tokens_per_s']:,.0f} | {p['context_tokens_per_s']:,.0f} | "
            f"**{r['ratio']:.2f}x** |{peak}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.with_suffix(".json").write_text(
        json.dumps({**meta, "rows": rows}, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {path} and {path.with_suffix('.json')}")


if __name__ == "__main__":
    main()
