"""Training commands: ``glyph train cpt | sft | grpo | recipes | accelerate-config | tiny-model | plot``."""

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


RecipeOpt = Annotated[
    str, typer.Option("--recipe", "-r", help="Recipe YAML or built-in name (`glyph train recipes`).")
]
ModelOpt = Annotated[str | None, typer.Option(help="Checkpoint directory or hub id (recipe's model.path).")]
DataOpt = Annotated[
    list[str] | None, typer.Option("--data", "-d", help="Shard directories or files (repeatable).")
]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (training.output_dir).")]
StepsOpt = Annotated[int | None, typer.Option(help="Optimizer steps (training.max_steps).")]
LoraOpt = Annotated[int | None, typer.Option(help="Train LoRA adapters of this rank instead of all weights.")]
SetsOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe key: --set training.learning_rate=1e-5"),
]
ResumeOpt = Annotated[
    str,
    typer.Option(help="auto: continue from the run's last checkpoint if any; never; or a checkpoint path."),
]


@train_app.command("cpt")
def cpt(
    recipe: RecipeOpt = "cpt-glm4v-9b",
    model: ModelOpt = None,
    data: DataOpt = None,
    output_dir: OutOpt = None,
    max_steps: StepsOpt = None,
    lora: LoraOpt = None,
    overrides: SetsOpt = None,
    resume: ResumeOpt = "auto",
) -> None:
    """Continual pre-training on CPT shards: cross-entropy on target text only, never on pages or padding.

    transformers' Trainer: checkpoints, resume (run the same command again), OUT/train_log.jsonl and OUT/loss_curve.png.

    Several GPUs: accelerate launch --config_file $(glyph train accelerate-config zero3-8gpu) -m glyph.cli train cpt
    """
    _train("cpt", recipe, model, data, output_dir, max_steps, lora, overrides, resume)


@train_app.command("sft")
def sft(
    recipe: RecipeOpt = "sft-glm4v-9b",
    model: ModelOpt = None,
    data: DataOpt = None,
    output_dir: OutOpt = None,
    max_steps: StepsOpt = None,
    lora: LoraOpt = None,
    overrides: SetsOpt = None,
    resume: ResumeOpt = "auto",
) -> None:
    """Supervised fine-tuning on SFT shards (`glyph data sft`): TRL's SFTTrainer, loss on assistant tokens only.

    The records' pages, question and thinking-style answer, with the OCR auxiliary records mixed in; the same label mask, checkpoints, resume and logs as `glyph train cpt` (plus token accuracy and entropy). Paper's recipe: sft-glm4v-9b (1.5K steps, batch 32, Adam 0.9/0.95, cosine 5e-6 -> 2e-6)."""
    _train("sft", recipe, model, data, output_dir, max_steps, lora, overrides, resume)


@train_app.command("grpo")
def grpo(
    recipe: RecipeOpt = "grpo-glm4v-9b",
    model: ModelOpt = None,
    data: DataOpt = None,
    output_dir: OutOpt = None,
    max_steps: StepsOpt = None,
    lora: LoraOpt = None,
    judge_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint of the LLM judge (judge.base_url).")
    ] = None,
    judge_model: Annotated[str | None, typer.Option(help="The judge's model name (judge.model).")] = None,
    overrides: SetsOpt = None,
    resume: ResumeOpt = "auto",
) -> None:
    """GRPO on page prompts (the same shards as SFT): TRL's GRPOTrainer with the paper's settings.

    Group size 16, clip-higher (epsilon 0.2 / 0.28), a KL term (training.beta) to the starting checkpoint, groups with zero reward variance discarded. Rewards from the recipe: accuracy by an LLM judge (--judge-url) or an official metric, the thinking format, and OCR (1 - normalised Levenshtein) on the OCR records. Logs each reward's mean, the discarded-group fraction and the judge's malformed/failed verdicts to OUT/train_log.jsonl; OUT/reward_curve.png at the end. Generation: transformers' generate, or vLLM with --set training.use_vllm=true (vllm_mode colocate|server)."""
    sets = list(overrides or [])
    if judge_url:
        sets.append(f"judge.base_url={judge_url}")
    if judge_model:
        sets.append(f"judge.model={judge_model}")
    _train("grpo", recipe, model, data, output_dir, max_steps, lora, sets, resume)


def _train(
    stage: str, recipe: str, model: str | None, data: list[str] | None, output_dir: Path | None,
    max_steps: int | None, lora: int | None, overrides: list[str] | None, resume: str,
) -> None:  # fmt: skip
    """Load the recipe with the options as overrides and run it (the one path of every stage)."""
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
        if spec.stage != stage:
            raise ValueError(
                f"recipe {recipe} is a {spec.stage} recipe; run it with `glyph train {spec.stage}`"
            )
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
    curve = "reward_curve.png" if stage == "grpo" else "loss_curve.png"
    console.print(f"{result.global_step} steps{loss}; model in {result.final_dir}, curve in "
                  f"{result.output_dir / curve}")  # fmt: skip


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
    """Draw a run's training curves (loss, tokens/s; rewards for GRPO).

    RUN/loss_curve.png: loss, tokens/s and visual tokens per step; for a GRPO run also RUN/reward_curve.png: its rewards per function, discarded groups and KL."""
    from glyph.train.callbacks import TRAIN_LOG, plot_training_log, read_training_log

    log = run_dir / TRAIN_LOG
    if not log.is_file():
        fail(f"{log} not found")
    try:
        path = plot_training_log(log, run_dir / "loss_curve.png")
        console.print(f"plot: {path}")
        if any("reward" in row for row in read_training_log(log)):
            from glyph.train.grpo.trainer import plot_rewards

            console.print(f"plot: {plot_rewards(log, run_dir / 'reward_curve.png')}")
    except ValueError as exc:
        fail(str(exc))
