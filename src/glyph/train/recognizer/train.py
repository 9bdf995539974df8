"""Train the compact line recogniser on rendered lines, with transformers' Trainer, and export it.

    python -m glyph.train.recognizer.train --out runs/glyphrec --steps 9000 --seed 0 \
        --export src/glyph/readers/glyphrec/glyphrec_latin.onnx

Lines stream from :mod:`glyph.train.recognizer.data` (the renderer under random configs, exact
labels), bucketed by width so a batch pads little. The Trainer brings AdamW, the cosine
schedule, logging, checkpoints and ``--resume`` (it replays the stream to the checkpoint's
step, so a resumed run sees the same lines as an unbroken one). Every ``--eval-every`` steps
the character error rate on fixed held-out lines (texts and configs the stream never draws)
is logged beside the loss; the run writes ``curve.json`` and ``curve.png``, and ``--export``
writes the ONNX model with its charset and revision in the metadata, plus a model card.
Needs the ``ocr-train`` extra (torch, transformers, accelerate, onnx).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rapidfuzz.distance import Levenshtein
from torch.utils.data import IterableDataset
from transformers import Trainer, TrainerCallback, TrainingArguments

from glyph.readers.glyphrec.runtime import CHARSET, HEIGHT, STRIDE, batch_lines, ctc_greedy, encode
from glyph.train.recognizer.data import Example, examples
from glyph.train.recognizer.model import LineRecognizer


class LineStream(IterableDataset):
    """Endless labelled lines in batch-sized runs of similar width (one run = one batch)."""

    def __init__(self, seed: int, batch: int, pool_batches: int = 32, dashes_from: int | None = None) -> None:
        self.seed, self.batch, self.pool, self.dashes_from = seed, batch, pool_batches, dashes_from

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rng = random.Random(self.seed)
        stream = examples(self.seed, "train")
        if self.dashes_from is not None:  # the first steps' lines as before, then the dash-contrast mix
            stream = itertools.chain(itertools.islice(stream, self.dashes_from * self.batch),
                                     examples(self.seed, "train", dashes=True))
        while True:
            pool = sorted(itertools.islice(stream, self.batch * self.pool), key=lambda e: e.image.shape[1])
            runs = [pool[i : i + self.batch] for i in range(0, len(pool), self.batch)]
            rng.shuffle(runs)
            for run in runs:
                for ex in run:
                    yield {"image": ex.image, "targets": encode(ex.text)}


def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    pixels, widths = batch_lines([it["image"] for it in items])
    lengths = [len(it["targets"]) for it in items]
    labels = torch.zeros(len(items), max(lengths), dtype=torch.long)  # padded rows: the batch stays (B, ...)
    for row, it in enumerate(items):
        labels[row, : len(it["targets"])] = torch.tensor(it["targets"])
    return {
        "pixel_values": torch.from_numpy(pixels),
        "widths": torch.from_numpy(widths),
        "labels": labels,
        "label_lengths": torch.tensor(lengths, dtype=torch.long),
    }


class CtcTrainer(Trainer):
    """The Trainer with the CTC loss the model computes itself (concatenated targets, not per-token labels)."""

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, torch.Tensor], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        outputs = model(**inputs)
        return (outputs["loss"], outputs) if return_outputs else outputs["loss"]


def heldout_lines(count: int, seed: int = 1) -> list[Example]:
    """Fixed held-out lines: held-out texts, configs from another seed, boxes as drawn (no jitter)."""
    return list(itertools.islice(examples(seed, "heldout", jitter=False), count))


@torch.no_grad()
def read_lines(model: LineRecognizer, lines: list[np.ndarray], batch: int = 32) -> list[str]:
    was_training = model.training
    model.eval()
    out: list[str] = [""] * len(lines)
    order = np.argsort([line.shape[1] for line in lines], kind="stable")
    for start in range(0, len(order), batch):
        ids = order[start : start + batch]
        x, widths = batch_lines([lines[i] for i in ids])
        logits = model(torch.from_numpy(x)).numpy()
        for row, i in enumerate(ids):
            out[i] = ctc_greedy(logits[row], int(widths[row]) // STRIDE).text
    model.train(was_training)
    return out


def cer(model: LineRecognizer, held: list[Example]) -> float:
    reads = read_lines(model, [e.image for e in held])
    edits = sum(Levenshtein.distance(e.text, r) for e, r in zip(held, reads))
    return edits / max(1, sum(len(e.text) for e in held))


class StopAfter(TrainerCallback):
    """Ends training (with a checkpoint) after ``step`` steps, leaving the schedule set by ``--steps``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if state.global_step >= self.step:
            control.should_save = True
            control.should_training_stop = True


class HeldOutCer(TrainerCallback):
    """Logs the held-out character error rate every ``every`` steps (and at the end) into the log history."""

    def __init__(self, held: list[Example], every: int) -> None:
        self.held, self.every = held, every

    def _measure(self, state: Any, model: LineRecognizer) -> None:
        value = cer(model, self.held)
        state.log_history.append({"step": state.global_step, "heldout_cer": value})
        print(json.dumps({"step": state.global_step, "heldout_cer": round(value, 5)}), flush=True)

    def on_step_end(self, args: Any, state: Any, control: Any, model: LineRecognizer | None = None, **_: Any) -> None:
        if model is not None and state.global_step % self.every == 0:
            self._measure(state, model)

    def on_train_end(self, args: Any, state: Any, control: Any, model: LineRecognizer | None = None, **_: Any) -> None:
        if model is not None and state.global_step % self.every:
            self._measure(state, model)


def export_onnx(model: LineRecognizer, path: Path, card: dict[str, Any] | None = None) -> str:
    """Write the model as ONNX (dynamic batch and width) with charset, height and revision metadata."""
    import onnx

    model = model.eval()
    dummy = torch.zeros(1, 1, HEIGHT, 200)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (dummy,), str(path), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "steps"}},
                      opset_version=17, dynamo=False)
    proto = onnx.load(str(path))
    revision = hashlib.sha256(proto.SerializeToString()).hexdigest()[:12]
    meta = {"charset": json.dumps(CHARSET), "height": str(HEIGHT), "stride": str(STRIDE), "revision": revision}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    if card is not None:
        path.with_suffix(".json").write_text(json.dumps({**card, "revision": revision}, indent=2) + "\n")
    return revision


def plot_curve(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loss = [(h["step"], h["loss"]) for h in history if "loss" in h]
    held = [(h["step"], 100 * h["heldout_cer"]) for h in history if "heldout_cer" in h]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if loss:
        ax.plot(*zip(*loss), color="tab:blue", lw=1, label="training CTC loss")
    ax.set_xlabel("step")
    ax.set_ylabel("CTC loss", color="tab:blue")
    ax.set_yscale("log")
    right = ax.twinx()
    if held:
        right.plot(*zip(*held), "o-", color="tab:red", ms=3, label="held-out CER (%)")
    right.set_ylabel("held-out character error rate (%)", color="tab:red")
    right.set_yscale("log")
    ax.set_title("Compact recogniser: rendered lines, held-out texts and configs")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, curve.json, curve.png")
    parser.add_argument("--steps", type=int, default=9000)
    parser.add_argument("--batch", type=int, default=32, help="lines per step")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--eval-every", type=int, default=500, help="held-out CER every N steps")
    parser.add_argument("--eval-lines", type=int, default=600)
    parser.add_argument("--save-every", type=int, default=500)
    parser.add_argument("--log-every", type=int, default=50, help="log the training loss every N steps")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("--dashes-from", type=int,
                        help="from this step on, add hyphen/en-dash/em-dash contrasts to the text mix")
    parser.add_argument("--stop-after", type=int,
                        help="end (with a checkpoint) after this many steps; the schedule still spans --steps")
    parser.add_argument("--export", type=Path, help="write the trained model here as ONNX (+ model card .json)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                        help="bfloat16 autocast (1.8x faster on AVX512-BF16 CPUs; weights stay float32)")
    parser.add_argument("--export-checkpoint", type=Path,
                        help="skip training: export this checkpoint folder of a run (with --export)")
    parser.add_argument("--trained-with", action="append", default=[],
                        help="with --export-checkpoint: a command that trained the checkpoint, for the model card")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch < 1:
        parser.error(f"--steps and --batch must be >= 1 (got {args.steps}, {args.batch})")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = LineRecognizer(classes=len(CHARSET) + 1)
    held = heldout_lines(args.eval_lines)
    if args.export_checkpoint:
        from safetensors.torch import load_file

        if not args.export:
            parser.error("--export-checkpoint needs --export PATH")
        model.load_state_dict(load_file(str(args.export_checkpoint / "model.safetensors")))
        state = json.loads((args.export_checkpoint / "trainer_state.json").read_text())
        args.steps = state["global_step"]
        history = state["log_history"]
        _finish(args, argv, model, held, history, time.time())
        return
    training = TrainingArguments(
        output_dir=str(args.out), max_steps=args.steps, per_device_train_batch_size=args.batch,
        learning_rate=args.lr, weight_decay=0.01, warmup_steps=args.warmup, lr_scheduler_type="cosine",
        max_grad_norm=5.0, logging_steps=args.log_every, save_steps=args.save_every, save_total_limit=2, seed=args.seed,
        dataloader_num_workers=0, remove_unused_columns=False, report_to=[], use_cpu=True, bf16=args.bf16,
        disable_tqdm=not sys.stderr.isatty(),
    )
    trainer = CtcTrainer(model=model, args=training, train_dataset=LineStream(args.seed, args.batch, dashes_from=args.dashes_from),
                         data_collator=collate,
                         callbacks=[HeldOutCer(held, args.eval_every)] + ([StopAfter(args.stop_after)] if args.stop_after else []))
    start = time.time()
    trainer.train(resume_from_checkpoint=True if args.resume else None)
    _finish(args, argv, model, held, trainer.state.log_history, start)


def _finish(args: argparse.Namespace, argv: list[str] | None, model: LineRecognizer, held: list[Example],
            history: list[dict[str, Any]], start: float) -> None:
    # a plain float32 copy: accelerate wraps the trained model's forward in bf16 autocast
    clean = LineRecognizer(classes=len(CHARSET) + 1)
    clean.load_state_dict(model.state_dict())
    model = clean.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "curve.json").write_text(json.dumps(history, indent=1))
    plot_curve(history, args.out / "curve.png")
    final = cer(model, held)
    print(json.dumps({"heldout_cer": final, "seconds": round(time.time() - start)}), flush=True)
    if args.export:
        card = {
            "model": "glyphrec-latin: CNN + dilated 1-D convolutions + CTC, trained on glyph-rendered lines",
            "command": "python -m glyph.train.recognizer.train " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": dt.date.today().isoformat(), "seed": args.seed, "steps": args.steps, "batch": args.batch,
            "parameters": sum(p.numel() for p in model.parameters()),
            "heldout_lines": len(held), "heldout_cer": final, "height": HEIGHT, "charset": CHARSET,
        }
        if args.trained_with:
            card["trained_with"] = args.trained_with
        revision = export_onnx(model, args.export, card)
        print(f"exported {args.export} (revision {revision})", flush=True)


if __name__ == "__main__":
    main()
