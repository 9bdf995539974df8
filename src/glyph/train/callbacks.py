"""Logging callbacks: every log line to JSONL (machines), and the loss curve as a plot (people).

TensorBoard needs nothing here: ``report_to: [tensorboard]`` in a recipe turns on transformers'
own callback, which receives the same logs (loss, learning rate, tokens/s, visual tokens per step).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

__all__ = ["JsonlLogger", "LossCurvePlot", "plot_training_log", "read_training_log", "truncate_jsonl"]

TRAIN_LOG = "train_log.jsonl"


class JsonlLogger(TrainerCallback):
    """Appends ``{"step", "epoch", "time", **logs}`` to ``OUTPUT_DIR/train_log.jsonl`` on each log.

    Lines are flushed as written, so a killed run keeps its curve; a resumed run first drops the
    lines of steps after its checkpoint, so the file never holds a step twice.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None

    def _file(self, args: Any) -> Path:
        return self.path or Path(args.output_dir) / TRAIN_LOG

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            truncate_jsonl(self._file(args), state.global_step)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        path = self._file(args)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3), **logs}
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


def read_training_log(path: str | Path) -> list[dict[str, Any]]:
    """The parseable lines of a ``train_log.jsonl`` (a torn last line from a kill is skipped)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def plot_training_log(path: str | Path, out: str | Path, title: str | None = None) -> Path:
    """Loss per step, with tokens/s and visual tokens per step beside it, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_training_log(path) if "loss" in r]
    if not rows:
        raise ValueError(f"{path}: no training loss logged yet")
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(steps, [r["loss"] for r in rows], marker="o", ms=2)
    axes[0].set(xlabel="step", ylabel="loss (cross-entropy, target tokens)", title="loss")
    for ax, key, label in (
        (axes[1], "tokens_per_second", "tokens / s"),
        (axes[2], "visual_tokens_per_step", "visual tokens / step"),
    ):
        vals = [(r["step"], r[key]) for r in rows if key in r]
        if vals:
            ax.plot(*zip(*vals), marker="o", ms=2, color="tab:green" if "second" in key else "tab:purple")
        ax.set(xlabel="step", title=label)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title or str(Path(path).parent.name))
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


class LossCurvePlot(TrainerCallback):
    """Draws ``OUTPUT_DIR/loss_curve.png`` from the JSONL log when training ends."""

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        log = Path(args.output_dir) / TRAIN_LOG
        if state.is_world_process_zero and log.exists():
            try:
                plot_training_log(log, Path(args.output_dir) / "loss_curve.png")
            except ValueError:
                pass  # nothing logged (e.g. zero steps)


def truncate_jsonl(path: Path, last_step: int) -> None:
    """Keep the lines of steps <= ``last_step`` (what a checkpoint being resumed had seen)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= last_step:
                kept.append(line + "\n")
        except json.JSONDecodeError:
            continue  # a torn line from a kill
    path.write_text("".join(kept), encoding="utf-8")
