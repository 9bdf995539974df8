"""Training commands: ``glyph train cpt | recipes | accelerate-config | tiny-model | plot``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from glyph.cli.common import app, console, fail, out

train_app = typer.Typer(
    help="Train VLMs to read rendered pages (transformers Trainer; LoRA, DeepSpeed via accelerate).",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")


@train_app.command("cpt")
def cpt(
    recipe: Annotated[
        str, typer.Option("--recipe", "-r", help="Recipe YAML or built-in name (`glyph train recipes`).")
    ] = "cpt-glm4v-9b",
    model: Annotated[
        str | None, typer.Option(help="Checkpoint directory or hub id (recipe's model.path).")
    ] = None,
    data: Annotated[
        list[str] | None, typer.Option("--data", "-d", help="Shard directories or files (repeatable).")
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory (training.output_dir).")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps (training.max_steps).")] = None,
    lora: Annotated[
        int | None, typer.Option(help="Train LoRA adapters of this rank instead of all weights.")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a recipe key: --set training.learning_rate=1e-5"),
    ] = None,
    resume: Annotated[
        str,
        typer.Option(
            help="auto: continue from the run's last checkpoint if any; never; or a checkpoint path."
        ),
    ] = "auto",
) -> None:
    """Continual pre-training on CPT shards: cross-entropy on target text only, never on pages or padding.

    Built on transformers' Trainer; checkpoints, resume (kill it and run the same command), logs to
    OUT/train_log.jsonl (loss, tokens/s, visual tokens per step) and TensorBoard, and OUT/loss_curve.png.
    On several GPUs: accelerate launch --config_file $(glyph train accelerate-config zero3-8gpu) -m glyph.cli train cpt ...
    """
    from glyph.train.recipes import load_recipe
    from glyph.train.run import run_training

    sets = list(overrides or [])
    if model:
        sets.append(f"model.path={model}")
    if data:
        sets.append(f"data.shards=[{', '.join(repr(d) for d in data)}]")
    if output_dir:
        sets.append(f"training.output_dir={output_dir}")
    if max_steps:
        sets.append(f"training.max_steps={max_steps}")
    if lora:
        sets += [f"model.lora.r={lora}", f"model.lora.alpha={2 * lora}"]
    try:
        spec = load_recipe(recipe, sets)
        console.print(f"recipe {recipe}: model {spec.model.path}, data {', '.join(spec.data.shards)}")
        result = run_training(spec, resume=resume)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    scan = result.scan
    console.print(f"data: {scan.summary()}")
    for err in scan.errors[:5]:
        console.print(f"[yellow]left out:[/] {err}")
    if result.resumed_from:
        console.print(f"resumed from {result.resumed_from}")
    loss = f", mean loss {result.train_loss:.4f}" if result.train_loss is not None else ""
    console.print(f"{result.global_step} steps{loss}; model in {result.final_dir}, curve in "
                  f"{result.output_dir / 'loss_curve.png'}")  # fmt: skip


@train_app.command("recipes")
def recipes(show: Annotated[str | None, typer.Option(help="Print this recipe's YAML.")] = None) -> None:
    """List the built-in recipes (or print one to start your own from)."""
    from glyph.train.recipes import builtin_recipes, load_recipe

    named = builtin_recipes()
    if show:
        if show not in named:
            fail(f"no built-in recipe {show!r}; built-in: {', '.join(sorted(named))}")
        out.print(named[show].read_text(encoding="utf-8"), markup=False, highlight=False)
        return
    table = Table(title="built-in recipes (glyph train cpt --recipe NAME)", title_justify="left")
    for col in ("name", "stage", "model", "what"):
        table.add_column(col)
    for name, path in sorted(named.items()):
        r = load_recipe(path)
        table.add_row(name, r.stage, r.model.path, r.description)
    out.print(table)


@train_app.command("accelerate-config")
def accelerate_config(
    name: Annotated[str, typer.Argument(help="single-gpu or zero3-8gpu.")] = "zero3-8gpu",
) -> None:
    """Print the path of a shipped accelerate config, for `accelerate launch --config_file $(...)`."""
    from glyph.train.recipes import accelerate_config as find

    try:
        out.print(str(find(name)), markup=False, highlight=False, soft_wrap=True)
    except ValueError as exc:
        fail(str(exc))


@train_app.command("tiny-model")
def tiny_model(
    out_dir: Annotated[Path, typer.Argument(help="Where to write the checkpoint.")],
    arch: Annotated[str, typer.Option(help="glm4v (GLM-4.1V, Glyph's base) or qwen2.5vl.")] = "glm4v",
    tokenizer: Annotated[str, typer.Option(help="qwen (real BPE vocabulary) or wordlevel (tests).")] = "qwen",
) -> None:
    """A tiny random-weight checkpoint of a real VLM architecture: try the training pipeline on a CPU."""
    from glyph.readers.tiny import save_tiny_vlm

    try:
        path = save_tiny_vlm(arch, out_dir, tokenizer=tokenizer)
    except ValueError as exc:
        fail(str(exc))
    console.print(f"tiny {arch} checkpoint ({tokenizer} tokenizer) in {path}")


@train_app.command("plot")
def plot(
    run_dir: Annotated[Path, typer.Argument(help="A training run directory (has train_log.jsonl).")],
) -> None:
    """Draw the run's loss curve, tokens/s and visual tokens per step (RUN/loss_curve.png)."""
    from glyph.train.callbacks import TRAIN_LOG, plot_training_log

    log = run_dir / TRAIN_LOG
    if not log.is_file():
        fail(f"{log} not found")
    try:
        path = plot_training_log(log, run_dir / "loss_curve.png")
    except ValueError as exc:
        fail(str(exc))
    console.print(f"plot: {path}")
