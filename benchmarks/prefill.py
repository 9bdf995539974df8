"""Prefill: the same text given to a VLM as text tokens and as rendered pages, one forward pass each.

For each length, a text of that many Qwen tokens is cut from the bundled Paul Graham essays
and put before the same question two ways: (a) as plain text in the chat template, (b)
rendered to page images (reference default config unless ``--config``/``--set``) that the
checkpoint's processor turns into image tokens. Each case runs in a fresh subprocess, which
loads the model, builds the prompt, then times one forward pass over the whole prompt
(prefill: KV cache built, logits for the last position only, ``torch.inference_mode()``,
no generation): one warm-up run, then the median of ``--repeat`` runs. On one CPU thread
the clock is the process's CPU time, which a busy machine's time-slicing leaves out (equal
to wall time on an idle one); otherwise wall time. Peak memory is the rise over what the
process holds after the warm-up (model, inputs): on CPU the resident-set high-water mark
(``VmHWM``, reset through ``/proc/self/clear_refs`` after ``malloc_trim``), on CUDA
``torch.cuda.max_memory_allocated``. Ratios are text / pages, so above 1 means the pages
are cheaper. The pages side includes the vision tower; rendering and the processor's image
preprocessing are reported apart (CPU work before prefill, not part of it).

Default model: a tiny random-weight GLM-4.1V (Glyph's architecture) built here by
``glyph.readers.tiny.save_tiny_vlm`` with ``BENCH_DIMS`` (LM hidden 256, 4 layers, 4 heads,
2 KV heads; vision tower hidden 64, 1 layer) and Qwen's real BPE as its tokenizer, with
the real GLM-4.1V image processor. Its answers are noise; its costs have the real structure
(see ``BENCH_DIMS``: the tiny model at 8K is about where GLM-4.1V-9B is at ~100K). On CPU
it runs on one thread (``--threads``), which keeps timings steady on a shared machine.

    python benchmarks/prefill.py                              # tiny model, CPU, 1K-8K, ~2 min
    python benchmarks/prefill.py --lengths 1k,2k,4k,8k,16k    # what results/prefill.md ran, ~4 min

On a GPU with the released checkpoint (bf16, ~20 GB of weights, one 80 GB GPU is enough):

    pip install 'glyph-vtc[local]'      # torch with CUDA first
    python benchmarks/prefill.py --model zai-org/Glyph --lengths 32k,64k,128k \\
        --out benchmarks/results/prefill_glyph.md

``k`` is 1024 (``128k`` = 131,072 Qwen tokens). The published ~4.8x prefill speed-up at
128K (arXiv 2510.17800) comes with the paper's rendering, about 3-4x compression; the
reference default config here compresses ~1.9x for GLM-4.1V (benchmarks/results/
compression.md), so expect a smaller ratio with it and pass the paper's settings through
``--config FILE`` / ``--set key=value`` to reproduce theirs. The text side feeds the same
checkpoint the plain text; past the checkpoint's ``max_position_embeddings`` the forward
pass still runs (its cost is what is measured, not its answer).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FAMILY = {"glm4v": "GLM-4.1V", "qwen2.5vl": "Qwen2.5-VL"}
QUESTION = "What is the main point of the document above? Answer in one sentence."


def parse_lengths(spec: str) -> list[int]:
    """``"1k,2k,8000"`` -> ``[1024, 2048, 8000]`` (k = 1024)."""
    out = []
    for part in spec.split(","):
        part = part.strip().lower()
        if not part:
            continue
        n = int(float(part[:-1]) * 1024) if part.endswith("k") else int(part)
        if n < 1:
            raise argparse.ArgumentTypeError(f"lengths must be positive, got {part!r}")
        out.append(n)
    if not out:
        raise argparse.ArgumentTypeError("no lengths given")
    return out


def label(n: int) -> str:
    return f"{n // 1024}K" if n % 1024 == 0 else f"{n:,}"


# ------------------------------------------------------------------------------ one case (child)
def _rss_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _release_and_reset_peak() -> int:
    """Return freed heap to the OS, reset the RSS high-water mark; the RSS now (KiB)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")  # Linux >= 4.0: VmHWM := VmRSS
    return _rss_kib("VmRSS")


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Load the model, build one prompt (text or pages), time its prefill; runs in a fresh process."""
    import torch
    from transformers import AutoModelForImageTextToText

    from glyph.cli.common import load_config
    from glyph.data import text_of_tokens
    from glyph.readers.local_hf import load_processor, pick_device, pick_dtype
    from glyph.render import render_pages

    device = pick_device(case["device"])
    dtype = pick_dtype(device, case["dtype"])
    cuda = device.startswith("cuda")
    if case["threads"]:
        torch.set_num_threads(case["threads"])
    processor = load_processor(case["model"])
    options: dict[str, Any] = {"dtype": dtype}
    if case["attn"]:
        options["attn_implementation"] = case["attn"]
    if cuda:
        options["device_map"] = device  # straight onto the GPU, not through host memory
    model = AutoModelForImageTextToText.from_pretrained(case["model"], **options).to(device).eval()

    text = text_of_tokens(case["length"])
    row: dict[str, Any] = {"length": case["length"], "mode": case["mode"], "chars": len(text)}
    if case["mode"] == "text":
        content: list[dict[str, Any]] = [{"type": "text", "text": f"{text}\n\n{QUESTION}"}]
    else:
        cfg = load_config(Path(case["config"]) if case["config"] else None, case["set"])
        start = time.perf_counter()
        pages = list(render_pages(text, cfg))
        row["render_s"] = time.perf_counter() - start
        row["pages"] = len(pages)
        content = [{"type": "image", "image": p.image.convert("RGB")} for p in pages]
        content.append({"type": "text", "text": QUESTION})
        del pages
    start = time.perf_counter()
    inputs = processor.apply_chat_template(
        [{"role": "user", "content": content}],
        tokenize=True,
        add_generation_prompt=True,
        return_dict=True,
        return_tensors="pt",
    )
    row["process_s"] = time.perf_counter() - start
    del content
    inputs = inputs.to(device, dtype=dtype)
    ids = inputs["input_ids"]
    row["prompt_tokens"] = int(ids.shape[1])
    image_token = getattr(model.config, "image_token_id", None)
    row["image_tokens"] = int((ids == image_token).sum()) if image_token is not None else 0

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()
        elif device.startswith("mps"):
            torch.mps.synchronize()

    # One CPU thread: process CPU time, which a busy machine's time-slicing leaves out (equal to
    # wall time on an idle one). Otherwise wall time.
    cpu_clock = device == "cpu" and torch.get_num_threads() == 1

    def prefill() -> tuple[float, float]:
        sync()
        wall, cpu = time.perf_counter(), time.process_time()
        out = model(**inputs, use_cache=True, logits_to_keep=1)
        sync()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        del out  # drop the KV cache before the next run
        return wall, cpu

    with torch.inference_mode():
        prefill()  # warm-up; also pages in memory-mapped weights, which would count as a rise on CPU
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            base_kib = _release_and_reset_peak()
        runs = [prefill() for _ in range(case["repeat"])]
    times = [cpu if cpu_clock else wall for wall, cpu in runs]
    if cuda:
        row["peak_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
        row["memory"] = "cuda max_memory_allocated rise"
    else:
        row["peak_mib"] = (_rss_kib("VmHWM") - base_kib) / 1024
        row["memory"] = "process VmHWM rise"
    row.update(
        times_s=times,
        wall_s=[wall for wall, _ in runs],
        clock="process CPU time (1 thread)" if cpu_clock else "wall time",
        prefill_s=statistics.median(times),
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        threads=torch.get_num_threads(),
        attn=str(getattr(model.config, "_attn_implementation", None)),
        torch=torch.__version__,
        gpu=torch.cuda.get_device_name() if cuda else None,
        model_type=str(model.config.model_type),
    )
    return row


def spawn(case: dict[str, Any]) -> dict[str, Any]:
    """``run_case`` in a fresh interpreter (clean memory high-water mark); its last stdout line is JSON."""
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore"}
    if case["threads"]:
        env.setdefault("OMP_NUM_THREADS", str(case["threads"]))
    res = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(case)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    if res.returncode:
        sys.exit(f"case {case['mode']} {case['length']} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ driver
def tiny_model(arch: str, where: Path) -> tuple[Path, dict[str, Any]]:
    """Build (or reuse) the benchmark's tiny random-weight checkpoint under ``where``."""
    from dataclasses import asdict

    from glyph.readers.tiny import BENCH_DIMS, save_tiny_vlm

    want = {"arch": arch, "tokenizer": "qwen", "seed": 0, "dims": asdict(BENCH_DIMS)}
    out = where / f"tiny-{arch}-bench"
    meta = out / "tiny_vlm.json"
    if not (meta.is_file() and json.loads(meta.read_text()) == want):
        print(f"building the tiny random-weight {arch} checkpoint in {out} ...", flush=True)
        save_tiny_vlm(arch, out, dims=BENCH_DIMS, tokenizer="qwen")
    return out, want


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--model", help="checkpoint directory or hub id (e.g. zai-org/Glyph); default: the tiny random model"
    )
    parser.add_argument("--arch", default="glm4v", choices=["glm4v", "qwen2.5vl"], help="tiny model's family")
    parser.add_argument(
        "--tiny-dir", type=Path, help="keep (and reuse) the tiny checkpoint here; default: a temporary folder"
    )
    parser.add_argument(
        "--lengths", type=parse_lengths, default=None, help="text lengths in Qwen tokens, k = 1024 "
        "(default: 1k,2k,4k,8k for the tiny model, 32k,64k,128k with --model)",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per case after one warm-up (median)"
    )
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), bf16, fp16, fp32")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 on CPU, torch's choice on GPU)",
    )
    parser.add_argument("--attn", default=None, help="attn_implementation (sdpa, flash_attention_2, eager)")
    parser.add_argument(
        "--config", type=Path, default=None, help="render config JSON (default: reference default)"
    )
    parser.add_argument(
        "--set", action="append", default=[], help="render config override key=value (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/prefill.md"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(json.loads(args.child))))
        return
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    from glyph.cli.common import load_config
    from glyph.readers.local_hf import pick_device

    load_config(args.config, args.set)  # fail early on a bad config
    device = pick_device(args.device)
    threads = args.threads if args.threads is not None else (1 if device == "cpu" else 0)
    lengths = args.lengths or parse_lengths("32k,64k,128k" if args.model else "1k,2k,4k,8k")

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="glyph-prefill-") as tmp:
        if args.model:
            model, tiny = args.model, None
        else:
            path, tiny = tiny_model(args.arch, args.tiny_dir or Path(tmp))
            model = str(path)
            print(
                f"model: TINY RANDOM-WEIGHT {args.arch} ({tiny['dims']['text_layers']} layers, hidden "
                f"{tiny['dims']['text_hidden']}), built locally: its times show cost structure, not a real model's"
            )
        rows = []
        for n in lengths:
            pair = {}
            for mode in ("text", "pages"):
                case = {
                    "model": model, "length": n, "mode": mode, "repeat": args.repeat, "device": args.device,
                    "dtype": args.dtype, "threads": threads, "attn": args.attn,
                    "config": str(args.config) if args.config else None, "set": args.set,
                }  # fmt: skip
                pair[mode] = spawn(case)
            rows.append(combine(pair["text"], pair["pages"]))
            r = rows[-1]
            print(
                f"{label(n):>6}: prompt {r['text_prompt_tokens']:,} vs {r['pages_prompt_tokens']:,} tokens "
                f"({r['pages']} page{'s' * (r['pages'] != 1)}, {r['token_ratio']:.2f}x); prefill {r['text_prefill_s']:.3f} vs "
                f"{r['pages_prefill_s']:.3f} s -> {r['time_ratio']:.2f}x; peak {r['text_peak_mib']:.0f} vs "
                f"{r['pages_peak_mib']:.0f} MiB -> {r['memory_ratio']:.2f}x",
                flush=True,
            )
    meta = {
        "date": dt.date.today().isoformat(),
        "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
        "machine": machine(rows[0]["text"]),
        "model": args.model or f"tiny random-weight {args.arch} (glyph.readers.tiny.BENCH_DIMS, Qwen BPE)",
        "tiny": tiny,
        "render_config": str(args.config) if args.config else "reference default",
        "render_set": args.set,
        "repeat": args.repeat,
        "question": QUESTION,
        "wall_s": time.perf_counter() - started,
    }
    write_report(args.out, meta, rows)


def combine(text: dict[str, Any], pages: dict[str, Any]) -> dict[str, Any]:
    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else float("nan")

    return {
        "length": text["length"],
        "chars": text["chars"],
        "pages": pages["pages"],
        "text_prompt_tokens": text["prompt_tokens"],
        "pages_prompt_tokens": pages["prompt_tokens"],
        "pages_image_tokens": pages["image_tokens"],
        "token_ratio": ratio(text["prompt_tokens"], pages["prompt_tokens"]),
        "text_prefill_s": text["prefill_s"],
        "pages_prefill_s": pages["prefill_s"],
        "time_ratio": ratio(text["prefill_s"], pages["prefill_s"]),
        "text_peak_mib": text["peak_mib"],
        "pages_peak_mib": pages["peak_mib"],
        "memory_ratio": ratio(text["peak_mib"], pages["peak_mib"]),
        "render_s": pages["render_s"],
        "process_s": pages["process_s"],
        "text": text,
        "pages_case": pages,
    }


def machine(case: dict[str, Any]) -> str:
    where = case["gpu"] or f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return (
        f"{where}; {case['device']} {case['dtype']}, {case['threads']} thread(s), attn {case['attn']}; "
        f"torch {case['torch']}, Python {platform.python_version()}"
    )


def write_report(path: Path, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    memory = rows[0]["text"]["memory"]
    tiny = meta["tiny"]
    lines = ["# Prefill: text tokens vs rendered pages", ""]
    if tiny:
        d = tiny["dims"]
        lines += [
            (
                f"**Tiny random-weight model** ({tiny['arch']}, built locally; LM hidden {d['text_hidden']}, "
                f"{d['text_layers']} layers, {d['text_heads']} heads / {d['text_kv_heads']} KV heads; vision tower "
                f"hidden {d['vision_hidden']}, {d['vision_depth']} layer; Qwen BPE tokenizer; the real "
                f"{FAMILY[tiny['arch']]} image processor). Absolute times mean nothing; the ratios show how "
                "cost grows with the prompt. "
                "For the released model: `python benchmarks/prefill.py --model zai-org/Glyph "
                "--lengths 32k,64k,128k` on a GPU."
            ),
            "",
        ]
    lines += [
        f"- date: {meta['date']}; machine: {meta['machine']}",
        f"- command: `{meta['command']}` ({meta['wall_s']:.0f} s in all)",
        f"- model: {meta['model']}",
        f"- render config: {meta['render_config']}"
        + (f" with {', '.join(meta['render_set'])}" if meta["render_set"] else "")
        + "; text cut from the bundled Paul Graham essays to N Qwen tokens, then the question",
        (
            "- prefill: one forward pass over the prompt (KV cache, last-position logits, inference mode), "
            f"one warm-up then the median of {meta['repeat']}, by {rows[0]['text']['clock']}; "
            "each case in a fresh process"
        ),
        (
            f"- peak memory: {memory} during the timed runs, over what model + inputs hold after the "
            "warm-up; ratios are text / pages"
        ),
        (
            "- token ratio: what the rendering compresses; the time ratio passes it once attention, "
            "quadratic in the prompt, outweighs the rest of the forward pass"
        ),
        "",
        (
            "| text | pages | prompt tokens (text) | prompt tokens (pages) | token ratio | prefill text (s) "
            "| prefill pages (s) | time ratio | peak text (MiB) | peak pages (MiB) | memory ratio "
            "| render + preprocess (s) |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {label(r['length'])} | {r['pages']} | {r['text_prompt_tokens']:,} | {r['pages_prompt_tokens']:,} | "
            f"{r['token_ratio']:.2f}x | {r['text_prefill_s']:.3f} | {r['pages_prefill_s']:.3f} | "
            f"**{r['time_ratio']:.2f}x** | {r['text_peak_mib']:.0f} | {r['pages_peak_mib']:.0f} | "
            f"**{r['memory_ratio']:.2f}x** | {r['render_s']:.2f} + {r['process_s']:.2f} |"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.with_suffix(".json").write_text(
        json.dumps({**meta, "rows": rows}, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {path} and {path.with_suffix('.json')}")


if __name__ == "__main__":
    main()
