"""Learning demonstration on CPU: a tiny VLM learns to read a rendered word from pixels, SFT then GRPO.

The task: a 112 x 112 image (GLM-4.1V's minimum, 8 x 8 patches of 14 px) showing one of six four-letter
words (page, Work, Paul, text, line, only; each a single token of the tiny model's vocabulary), drawn by
glyph's renderer in one of 3 fonts (DejaVu Sans, Serif, Sans Mono) at 24 or 28 pt (72 dpi: a word is
40-75 px wide, spanning 3-6 patches) and pasted at a random position on a ``--grid`` of 14 px (the
patch grid). The image's size never changes and the position is drawn independently of the word, so
neither carries the answer; chance is 1/6. The 840 distinct renderings are split: ``--heldout`` of them
are never trained on. The model: GLM-4.1V (Glyph's architecture) with random weights (LM hidden 128,
2 layers; vision tower hidden 128, 2 layers), the word-level test vocabulary and the real GLM-4.1V
image processor. Nothing is downloaded.

1. **OCR SFT** (``glyph train sft``'s path: ``GlyphSFTTrainer``, labels on the answer only) for
   ``--sft-steps`` steps of 32 records, with ``model.freeze_vision`` (the LM and the merger train):
   training the random vision tower too collapses its features (images' features differ by 18% of
   their spread at init, 0.8% after 40 steps) and the loss stays at chance;
2. **GRPO** (``glyph train grpo``'s path: ``GlyphGRPOTrainer``) from the SFT checkpoint with the
   OCR reward only (1 - normalised Levenshtein), group size 8, clip-higher 0.2 / 0.28, zero-variance
   groups discarded, for ``--grpo-steps`` steps of 8 prompts;
3. held-out accuracy (exact match, greedy decoding through ``TransformersReader.transcribe``) and
   mean OCR similarity before SFT, after SFT and after GRPO.

    python benchmarks/learn_to_read.py     # writes benchmarks/results/learn_to_read/, ~6 min of 1 core
    python benchmarks/learn_to_read.py --report-only   # rewrites its README and plots from the logs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glyph.readers.tiny import TinyDims

ARCH = "glm4v"
PROMPT = "Transcribe all text in this image exactly as written ."  # words of the test vocabulary
#: Six four-letter words, each one token of the tiny model's vocabulary: equal length, so the ink's
#: width says little about which word it is (the font and size change it more).
WORDS = ("page", "Work", "Paul", "text", "line", "only")
FONTS = ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono")
SIZES = range(18, 31)  # pt at 72 dpi = pixels: cap height 13-22 px, a word 40-75 px wide
CANVAS = 112  # every image is 112 x 112: GLM-4.1V's minimum (12,544 px), 8 x 8 patches of 14 px
DIMS = TinyDims(text_hidden=128, text_intermediate=256, text_layers=2, text_heads=4, text_kv_heads=2,
                vision_hidden=128, vision_intermediate=256, vision_heads=4, vision_depth=2)  # fmt: skip
Rendering = tuple[str, str, int, int, int]  # word, font, size, x, y (top-left of the word's crop)


def render_config(font: str, size: int) -> Any:
    from glyph.render import reference_default

    return reference_default().with_updates(**{
        "page-size": f"{CANVAS},{size + 14}", "font-path": font, "font-size": size, "line-height": size + 1,
        "margin-x": 0, "margin-y": 0, "auto-crop-width": True, "auto-crop-last-page": False,
    })  # fmt: skip


def page(rendering: Rendering) -> Any:
    """The word drawn by glyph's renderer (cropped to it), pasted at ``(x, y)`` on a white canvas of
    fixed size: the image's size carries no answer and the word's position varies."""
    from dataclasses import replace

    from PIL import Image

    from glyph.render import render_pages

    word, font, size, x, y = rendering
    pages = list(render_pages(word, render_config(font, size)))
    assert len(pages) == 1 and pages[0].text == word, (rendering, [p.text for p in pages])
    crop = pages[0]
    canvas = Image.new(crop.image.mode, (CANVAS, CANVAS), "white")
    canvas.paste(crop.image, (x, y))
    lines = tuple(
        replace(
            b, left=b.left + x, right=b.right + x, top=b.top + y, bottom=b.bottom + y, baseline=b.baseline + y
        )
        for b in crop.lines
    )
    return replace(crop, image=canvas, lines=lines)


def draw(rng: random.Random, grid: int = 1, sizes: Sequence[int] = SIZES) -> Rendering:
    """A random rendering: word, font, size and position drawn independently (the position on a ``grid``
    of pixels: 14 puts the word's crop on the patch grid)."""
    from glyph.render import render_pages

    word, font, size = rng.choice(WORDS), rng.choice(FONTS), rng.choice(sizes)
    w, h = next(iter(render_pages(word, render_config(font, size)))).image.size
    return word, font, size, rng.randrange(0, CANVAS - w + 1, grid), rng.randrange(0, CANVAS - h + 1, grid)


def renderings(
    n_train: int, heldout: int, seed: int, grid: int = 1, sizes: Sequence[int] = SIZES
) -> tuple[list[Rendering], list[Rendering]]:
    """Training and held-out renderings that share no image: held-out accuracy measures reading unseen
    images, not recall. On a coarse ``grid`` every distinct rendering is enumerated and ``heldout`` of them
    are set aside; otherwise (positions to the pixel) held-out ones are fresh draws unlike any training one."""
    from glyph.render import render_pages

    rng = random.Random(seed)
    if grid > 1:
        every = []
        for word in WORDS:
            for font in FONTS:
                for size in sizes:
                    w, h = next(iter(render_pages(word, render_config(font, size)))).image.size
                    every += [(word, font, size, x, y) for x in range(0, CANVAS - w + 1, grid)
                              for y in range(0, CANVAS - h + 1, grid)]  # fmt: skip
        rng.shuffle(every)
        held, pool = every[:heldout], every[heldout:]
        return [pool[rng.randrange(len(pool))] for _ in range(n_train)], held
    train = [draw(rng, grid, sizes) for _ in range(n_train)]
    seen, held, rng_held = set(train), [], random.Random(seed + 1)
    while len(held) < heldout:
        r = draw(rng_held, grid, sizes)
        if r not in seen:
            held.append(r)
            seen.add(r)
    return train, held


def make_model(out: Path) -> Path:
    """The tiny GLM-4.1V checkpoint (word-level vocabulary: each of the words is one token)."""
    from glyph.readers.tiny import save_tiny_vlm

    return save_tiny_vlm(ARCH, out, dims=DIMS, tokenizer="wordlevel", seed=0)


def records(train: list[Rendering]) -> list[Any]:
    """One OCR record per training rendering."""
    from glyph.train.cpt.tasks import ocr_record

    return [
        ocr_record(f"w{k:05d}", [page(r)], PROMPT, meta={"answers": [r[0]], "font": r[1], "size": r[2], "x": r[3], "y": r[4]})
        for k, r in enumerate(train)
    ]  # fmt: skip


def evaluate(model_dir: Path, held: list[Rendering], train: list[Rendering]) -> dict[str, Any]:
    """Greedy transcriptions of the held-out renderings: exact match, mean OCR similarity and which words
    the model answers (a model that only uses the image's width answers few distinct words); exact match on
    as many training renderings, to tell reading from recall."""
    from glyph.readers.local_hf import TransformersReader
    from glyph.train.rewards import ocr_similarity

    reader = TransformersReader(str(model_dir), device="cpu", batch_size=64, ocr_prompt=PROMPT)
    start = time.perf_counter()
    seen = train[: len(held)]
    reads = reader.transcribe([page(r) for r in held + seen], max_tokens=4)
    reader.close()
    reads, seen_reads = reads[: len(held)], reads[len(held) :]
    words = [r[0] for r in held]
    return {
        "accuracy": sum(r == w for r, w in zip(reads, words)) / len(held),
        "ocr_similarity": sum(ocr_similarity(r, w) for r, w in zip(reads, words)) / len(held),
        "train_accuracy": sum(r == w[0] for r, w in zip(seen_reads, seen)) / len(seen),
        "answers": dict(Counter(reads).most_common()),
        "examples": [
            {"word": w, "font": f, "size": z, "x": x, "y": y, "read": r}
            for (w, f, z, x, y), r in list(zip(held, reads))[:10]
        ],
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--train", type=int, default=6000, help="training renderings (one record each, random draws)"
    )
    parser.add_argument("--heldout", type=int, default=120, help="renderings never trained on")
    parser.add_argument("--sft-steps", type=int, default=1500)
    parser.add_argument("--sft-batch", type=int, default=32, help="SFT records per step")
    parser.add_argument(
        "--sft-lr", type=float, default=1e-3, help="SFT peak learning rate (cosine to a tenth)"
    )
    parser.add_argument("--grpo-steps", type=int, default=60)
    parser.add_argument("--grpo-lr", type=float, default=5e-5, help="GRPO learning rate (constant)")
    parser.add_argument(
        "--freeze-vision",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="SFT trains the LM and the merger only (training the random tower collapses its features)",
    )
    parser.add_argument("--grid", type=int, default=14, help="word positions on a grid of this many pixels")
    parser.add_argument("--sizes", type=int, nargs="+", default=[24, 28], help="font sizes (pt = px)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--work", type=Path, default=Path("runs/learn_to_read"), help="models, data and runs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/learn_to_read"))
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite --out's README and plots from its results and logs",
    )
    args = parser.parse_args()
    if args.report_only:
        report_only(args.out)
        return

    import torch

    from glyph.train.callbacks import read_training_log
    from glyph.train.grpo.trainer import plot_rewards
    from glyph.train.recipes import load_recipe
    from glyph.train.run import run_training
    from glyph.train.shards import write_shard

    torch.set_num_threads(args.threads)
    started, cpu0 = time.perf_counter(), time.process_time()
    work, out = args.work, args.out
    if work.exists():
        shutil.rmtree(work)
    out.mkdir(parents=True, exist_ok=True)
    train, heldout = renderings(args.train, args.heldout, args.seed, args.grid, args.sizes)
    model0 = make_model(work / "model-random")
    (work / "data").mkdir(parents=True)
    write_shard(work / "data" / "train-00000.parquet", records(train))
    timings: dict[str, float] = {}
    results: dict[str, Any] = {}

    t = time.perf_counter()
    results["random init"] = evaluate(model0, heldout, train)
    print(f"random init: accuracy {results['random init']['accuracy']:.1%}", flush=True)

    common = {"use_cpu": True, "seed": args.seed, "logging_steps": 5, "save_strategy": "no", "report_to": "none",
              "disable_tqdm": True, "dataloader_num_workers": 0}  # fmt: skip
    sft = {
        "stage": "sft",
        "description": "learn_to_read: OCR SFT",
        "model": {"path": str(model0), "dtype": "fp32", "freeze_vision": args.freeze_vision},
        "data": {"shards": [str(work / "data")], "max_length": 256, "check_images": False},
        "training": {**common, "output_dir": str(work / "sft"), "per_device_train_batch_size": args.sft_batch,
                     "learning_rate": args.sft_lr, "lr_scheduler_type": "cosine_with_min_lr",
                     "lr_scheduler_kwargs": {"min_lr": args.sft_lr / 10}, "warmup_steps": 20, "max_steps": args.sft_steps,
                     "adam_beta2": 0.95, "weight_decay": 0.0},
    }  # fmt: skip
    t = time.perf_counter()
    run_training(load_recipe(sft), resume="never")
    timings["sft_s"] = time.perf_counter() - t
    results["after SFT"] = evaluate(work / "sft" / "final", heldout, train)
    print(f"after SFT ({args.sft_steps} steps, {timings['sft_s']:.0f} s): accuracy "
          f"{results['after SFT']['accuracy']:.1%}", flush=True)  # fmt: skip

    grpo = {
        "stage": "grpo",
        "description": "learn_to_read: GRPO with the OCR reward",
        "model": {"path": str(work / "sft" / "final"), "dtype": "fp32", "freeze_vision": args.freeze_vision},
        "data": {"shards": [str(work / "data")], "max_length": 256, "check_images": False},
        "rewards": [{"kind": "ocr"}],
        "grpo": {"discard_zero_variance": True},
        "training": {**common, "logging_steps": 1, "output_dir": str(work / "grpo"),
                     "per_device_train_batch_size": 64, "num_generations": 8, "max_completion_length": 4,
                     "temperature": 1.0, "epsilon": 0.2, "epsilon_high": 0.28, "beta": 0.0, "loss_type": "dapo",
                     "learning_rate": args.grpo_lr, "lr_scheduler_type": "constant", "max_steps": args.grpo_steps},
    }  # fmt: skip
    t = time.perf_counter()
    run_training(load_recipe(grpo), resume="never")
    timings["grpo_s"] = time.perf_counter() - t
    results["after GRPO"] = evaluate(work / "grpo" / "final", heldout, train)
    print(f"after GRPO ({args.grpo_steps} steps, {timings['grpo_s']:.0f} s): accuracy "
          f"{results['after GRPO']['accuracy']:.1%}", flush=True)  # fmt: skip

    sft_log = [r for r in read_training_log(work / "sft" / "train_log.jsonl") if "loss" in r]
    grpo_log = [r for r in read_training_log(work / "grpo" / "train_log.jsonl") if "reward" in r]
    shutil.copy(work / "sft" / "train_log.jsonl", out / "sft_log.jsonl")
    shutil.copy(work / "grpo" / "train_log.jsonl", out / "grpo_log.jsonl")
    plot_rewards(out / "grpo_log.jsonl", out / "grpo_rewards.png", title="GRPO with the OCR reward")
    plot_curves(sft_log, grpo_log, results, out / "curves.png")
    load = os.getloadavg()
    meta = {
        "date": dt.datetime.now().isoformat(timespec="minutes"),
        "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads",
        "load": f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) at the end",
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(time.process_time() - cpu0, 1),
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "args": {k: str(v) for k, v in vars(args).items()},
        "dims": DIMS.__dict__,
        "renderings": {
            "words": list(WORDS),
            "fonts": list(FONTS),
            "sizes": list(args.sizes),
            "distinct": len(set(train) | set(heldout)),
            "train": len(train),
            "heldout": len(heldout),
        },
    }
    (out / "results.json").write_text(json.dumps({**meta, "results": results}, indent=2) + "\n")
    write_report(out / "README.md", meta, results, sft_log, grpo_log)
    print(f"wrote {out}")


def report_only(out: Path) -> None:
    """Rebuild the README and the plots of a finished run from ``results.json`` and the two training logs."""
    from glyph.train.callbacks import read_training_log
    from glyph.train.grpo.trainer import plot_rewards

    saved = json.loads((out / "results.json").read_text())
    results, meta = saved.pop("results"), saved
    a = meta["args"]
    sizes = [int(v) for v in a["sizes"].strip("[]").split(",")]
    train, heldout = renderings(int(a["train"]), int(a["heldout"]), int(a["seed"]), int(a["grid"]), sizes)
    meta["renderings"]["distinct"] = len(set(train) | set(heldout))
    meta["renderings"]["sizes"] = sizes
    sft_log = [r for r in read_training_log(out / "sft_log.jsonl") if "loss" in r]
    grpo_log = [r for r in read_training_log(out / "grpo_log.jsonl") if "reward" in r]
    plot_rewards(out / "grpo_log.jsonl", out / "grpo_rewards.png", title="GRPO with the OCR reward")
    plot_curves(sft_log, grpo_log, results, out / "curves.png")
    (out / "results.json").write_text(json.dumps({**meta, "results": results}, indent=2) + "\n")
    write_report(out / "README.md", meta, results, sft_log, grpo_log)


def plot_curves(sft_log: list[dict], grpo_log: list[dict], results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    axes[0].plot([r["step"] for r in sft_log], [r["loss"] for r in sft_log], marker="o", ms=2)
    axes[0].set(xlabel="SFT step", ylabel="cross-entropy (answer tokens)", title="OCR SFT: loss")
    steps = [r["step"] for r in grpo_log]
    axes[1].plot(steps, [r["rewards/ocr/mean"] for r in grpo_log], marker="o", ms=2, label="mean OCR reward")
    axes[1].plot(steps, [r.get("grpo/discarded_groups", 0) for r in grpo_log], color="tab:red", lw=1,
                 label="groups discarded (zero variance)")  # fmt: skip
    axes[1].set(xlabel="GRPO step", title="GRPO: reward on training prompts (sampled, T=1)", ylim=(0, 1.02))
    axes[1].legend(fontsize=8)
    names = list(results)
    axes[2].bar(names, [results[n]["accuracy"] for n in names], color=["0.6", "tab:blue", "tab:green"])
    axes[2].axhline(1 / len(WORDS), ls="--", color="0.4", lw=1, label=f"chance (1/{len(WORDS)})")
    axes[2].legend(fontsize=8, loc="upper left")
    for k, n in enumerate(names):
        axes[2].text(k, results[n]["accuracy"] + 0.01, f"{results[n]['accuracy']:.1%}", ha="center")
    axes[2].set(ylabel="exact match, held-out renderings", title="held-out accuracy (greedy)", ylim=(0, 1.05))
    for ax in axes[:2]:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(path: Path, meta: dict, results: dict, sft_log: list[dict], grpo_log: list[dict]) -> None:
    lines = [
        "# Learning to read a rendered word: OCR SFT, then GRPO with the OCR reward (CPU)",
        "",
        f"- date: {meta['date']}; machine: {meta['machine']}; {meta['load']}",
        (
            f"- command: `{meta['command']}` ({meta['wall_s']:.0f} s wall, {meta['cpu_s']:.0f} s CPU; SFT "
            f"{meta['timings']['sft_s']:.0f} s, GRPO {meta['timings']['grpo_s']:.0f} s)"
        ),
        (
            "- model: random-weight GLM-4.1V (LM hidden 128, 2 layers; vision hidden 128, 2 layers), word-level test "
            "vocabulary; the real GLM-4.1V image processor; SFT with the vision tower frozen (LM and merger train)"
        ),
        (
            f"- task: a {CANVAS} x {CANVAS} image of one of {len(meta['renderings']['words'])} four-letter words "
            f"({', '.join(meta['renderings']['words'])}) drawn by glyph in one of {len(meta['renderings']['fonts'])} "
            f"fonts at {' or '.join(map(str, meta['renderings']['sizes']))} pt (72 dpi), at a random position on a "
            f"{meta['args'].get('grid', '?')}-px grid (chance 1/{len(meta['renderings']['words'])}); "
            f"{meta['renderings']['heldout']} of the {meta['renderings'].get('distinct', '?')} distinct renderings are "
            "held out, never trained on"
        ),
        "",
        "| model | held-out exact match | mean OCR similarity | exact match, training renderings | distinct answers |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['accuracy']:.1%} | {r['ocr_similarity']:.3f} | {r['train_accuracy']:.1%} | "
                     f"{len(r['answers'])} |")  # fmt: skip
    lines.append("")
    for name in ("after SFT", "after GRPO"):
        counts = ", ".join(f"{w or '(empty)'} {n}" for w, n in results[name]["answers"].items())
        lines.append(
            f"Greedy answers on the {meta['renderings']['heldout']} held-out renderings {name}: {counts}."
        )
        lines.append("")
    if sft_log:
        lines.append(f"SFT loss {sft_log[0]['loss']:.3f} (step {sft_log[0]['step']}) -> {sft_log[-1]['loss']:.3f} "
                     f"(step {sft_log[-1]['step']}).")  # fmt: skip
    if grpo_log:
        first, last = grpo_log[0], grpo_log[-1]
        lines.append(f"GRPO mean OCR reward {first['rewards/ocr/mean']:.3f} (step {first['step']}) -> "
                     f"{last['rewards/ocr/mean']:.3f} (step {last['step']}), groups discarded "
                     f"{first.get('grpo/discarded_groups', 0):.0%} -> {last.get('grpo/discarded_groups', 0):.0%}.")  # fmt: skip
    lines += [
        "",
        "![curves](curves.png)",
        "",
        "![GRPO rewards](grpo_rewards.png)",
        "",
        "Greedy reads after GRPO (first 10 held-out renderings): "
        + ", ".join(
            f"{e['word']} ({e['font']}, {e['size']} pt) -> {e['read'] or '(empty)'}"
            for e in results["after GRPO"]["examples"]
        ),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
